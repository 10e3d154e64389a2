package queue

import (
	"context"
	"errors"
	"time"
)

// ErrNotClaimed is returned by Store.Claim when the agent was not offered the call: it was
// not routable (not available, busy on a call, no registered device: the error also wraps
// the ErrBadTransition of Agent.Offer) or its record changed between the read and the
// write (another node claimed or changed it first: the error also wraps ErrConflict). The
// dispatcher moves on to the next candidate.
var ErrNotClaimed = errors.New("agent not claimed")

// ErrConflict is returned by Store.Update when the record kept changing under it for
// MaxAttempts reads, and wrapped by ErrNotClaimed when a claim lost a race.
var ErrConflict = errors.New("agent record changed concurrently")

// ErrNotWaiting is returned by Store.SetPriority for a call that is not waiting in the queue.
var ErrNotWaiting = errors.New("call not waiting in the queue")

// MaxAttempts bounds the reads of one Store.Update that lost a race to another writer.
const MaxAttempts = 32

// Store keeps the shared ACD state: one Agent per user (with a version number that every
// write bumps), the calls each user is on (busy), the waiting callers of each queue and
// each queue's round-robin cursor. queue/memstore keeps it in process, queue/redisstore in
// a Redis shared by every node; queue/queuetest holds both to one contract. Every method
// is safe for concurrent use.
type Store interface {
	// Agent returns the user's record settled at now (Agent.Settle): NewAgent(userID),
	// logged_out, for a user never seen. Reading does not write the settled record: a
	// settled record is a function of the stored one and now.
	Agent(ctx context.Context, userID int64, now time.Time) (Agent, error)

	// Agents is Agent for several users, in the order asked (queue status views).
	Agents(ctx context.Context, userIDs []int64, now time.Time) ([]Agent, error)

	// Update reads the user's record, settles it at now, applies fn and writes fn's result,
	// atomically with respect to every other writer on every node: the write succeeds only
	// when the version read is still the stored one; otherwise Update reads again and calls
	// fn again (fn must be a pure function of its argument), up to MaxAttempts reads, then
	// returns ErrConflict. When fn returns an error nothing is written and Update returns the
	// settled record and fn's error unchanged. Logins, pauses, supervisor forces, API
	// requests and the call events (Renew, OfferAnswered, OfferMissed, OfferFailed,
	// CallEnded) go through it.
	Update(ctx context.Context, userID int64, now time.Time, fn func(Agent) (Agent, error)) (Agent, error)

	// Claim offers call o to the user at now (Agent.Offer with the store's busy state and
	// registered), as one atomic decision: the write happens only when the record is still
	// the version read and the user is on no call on any node (the busy check is done again
	// at the write). It returns the offered agent, or an error wrapping ErrNotClaimed when
	// the agent was not free or another writer came first (it does not retry: the
	// dispatcher tries the next candidate), or a *ValidationError for a bad offer. Two
	// nodes claiming the same agent never both succeed; the claim lasts until
	// o.LeaseUntil unless renewed (Agent.Renew through Update).
	Claim(ctx context.Context, userID int64, o Offer, now time.Time, registered bool) (Agent, error)

	// CallStarted records that the user is on call callID (any call on any of their devices:
	// queue, direct or outbound), until `until`. The node handling the call calls it again
	// before until to extend it while the call lasts, so a crashed node's calls stop making
	// their users busy at most one extension period after the crash. Calling it again for
	// the same call only moves until.
	CallStarted(ctx context.Context, userID int64, callID string, until time.Time) error

	// CallEnded removes call callID of the user (no error when it is not there).
	CallEnded(ctx context.Context, userID int64, callID string) error

	// Busy reports whether the user is on a call whose entry is still valid at now.
	Busy(ctx context.Context, userID int64, now time.Time) (bool, error)

	// BusyMany is Busy for several users, in the order asked (one round trip in Redis).
	BusyMany(ctx context.Context, userIDs []int64, now time.Time) ([]bool, error)

	// Join adds c to the waiting callers of c.QueueID (or replaces the caller with the same
	// call id).
	Join(ctx context.Context, c Caller) error

	// Leave removes a waiting caller (no error when it is not there).
	Leave(ctx context.Context, queueID int64, callID string) error

	// Waiting returns the queue's waiting callers in the order of Compare.
	Waiting(ctx context.Context, queueID int64) ([]Caller, error)

	// SetPriority changes a waiting caller's priority (clamped as Compare does when
	// ordering; JoinedAt is kept), or returns ErrNotWaiting.
	SetPriority(ctx context.Context, queueID int64, callID string, priority int) error

	// Touch sets a waiting caller's Ringing, RetryAt and LeaseUntil (what its node changes
	// while it waits), keeping every other field as stored (a priority raised meanwhile
	// stays), or returns ErrNotWaiting.
	Touch(ctx context.Context, queueID int64, callID string, ringing bool, retryAt, leaseUntil time.Time) error

	// LastOffered returns the user id the queue offered last (round_robin), 0 when none.
	LastOffered(ctx context.Context, queueID int64) (int64, error)

	// SetLastOffered records the user the queue offered last.
	SetLastOffered(ctx context.Context, queueID, userID int64) error
}
