package queue

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/centrala/centrala/routing"
)

// Caller priorities: higher is served first; values outside are taken as the nearest bound.
const (
	MinPriority = 0
	MaxPriority = 100
)

// Caller is a call waiting in a queue: which call, in which queue, held by which node, its
// priority (higher first; it may be raised while the caller waits) and when it joined.
type Caller struct {
	CallID   string    `json:"call_id"`
	QueueID  int64     `json:"queue_id"`
	Priority int       `json:"priority"`
	JoinedAt time.Time `json:"joined_at"`
	Node     string    `json:"node"`

	// Ringing is set while the caller is being offered to agents (their devices ring): it
	// takes no other agent meanwhile.
	Ringing bool `json:"ringing,omitempty"`
	// RetryAt is when the caller may be offered again after an attempt nobody answered
	// (the queue's retry delay); zero: now.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// LeaseUntil is how long the record holds unless the node renews it: past it the node
	// died and every dispatcher ignores (and removes) the caller.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Eligible reports whether the caller may be offered an agent at now: not ringing, past
// its retry delay, and its node alive.
func (c Caller) Eligible(now time.Time) bool {
	return !c.Ringing && !now.Before(c.RetryAt) && !c.Gone(now)
}

// Gone reports whether the caller's lease ended before now (its node stopped renewing it).
func (c Caller) Gone(now time.Time) bool { return !c.LeaseUntil.IsZero() && c.LeaseUntil.Before(now) }

func clampPriority(p int) int { return min(max(p, MinPriority), MaxPriority) }

// joinedMS is JoinedAt in Unix milliseconds (0 before 1970): callers are ordered to the
// millisecond, as a Redis sorted set scores them.
func (c Caller) joinedMS() int64 { return max(c.JoinedAt.UnixMilli(), 0) }

// Compare is the one order of waiting callers, used by every dispatcher and store, across
// queues too (an agent in several queues takes the first caller of their heads): higher
// Priority first, then earlier JoinedAt (to the millisecond), then CallID. Raising a
// caller's priority moves them ahead of every caller of a lower priority, and among their
// new peers they keep the place their join time gives them.
func Compare(a, b Caller) int {
	return cmp.Or(
		cmp.Compare(clampPriority(b.Priority), clampPriority(a.Priority)),
		cmp.Compare(a.joinedMS(), b.joinedMS()),
		strings.Compare(a.CallID, b.CallID))
}

// Score is a caller's rank as a number for a Redis sorted set (ZADD): lower first, and
// callers with equal scores (same priority, same millisecond) are ordered by member, the
// CallID, by Redis itself, so a sorted set of call ids ranks exactly as Compare. It stays an
// exact integer in a float64 for join times until the year 2109.
func (c Caller) Score() float64 {
	return float64(int64(MaxPriority-clampPriority(c.Priority))<<42 + c.joinedMS())
}

// Sort orders callers by Compare, in place.
func Sort(callers []Caller) { slices.SortFunc(callers, Compare) }

// Head returns the caller to serve first (the least by Compare) without sorting, and false
// when there is none.
func Head(callers []Caller) (Caller, bool) {
	if len(callers) == 0 {
		return Caller{}, false
	}
	return slices.MinFunc(callers, Compare), true
}

// Position is the 1-based place of call callID among callers (in any order), 0 if it is not
// there.
func Position(callers []Caller, callID string) int {
	i := slices.IndexFunc(callers, func(c Caller) bool { return c.CallID == callID })
	if i < 0 {
		return 0
	}
	pos := 1
	for _, c := range callers {
		if Compare(c, callers[i]) < 0 {
			pos++
		}
	}
	return pos
}

// SetPriority changes the priority of call callID in callers, in place, and reports
// whether it was there; Sort (or Position, Head) then reflect the new order.
func SetPriority(callers []Caller, callID string, priority int) bool {
	for i := range callers {
		if callers[i].CallID == callID {
			callers[i].Priority = priority
			return true
		}
	}
	return false
}

// Admit decides whether a caller may join q when waiting callers already wait and loggedIn
// members are logged in (Census.LoggedIn: any state but logged_out). Refused, dest is where
// the caller goes instead (a copy) and why starts with the exit for the CDR ("empty: " or
// "full: "):
//
//   - no member logged in and join_empty is destination, or leave_when_empty is set (the
//     caller would have to leave at once): OnEmpty;
//   - max_callers set and waiting >= max_callers: OnFull.
func (q *Queue) Admit(waiting int, loggedIn int) (ok bool, dest *routing.Destination, why string) {
	if loggedIn <= 0 {
		switch {
		case q.JoinEmpty == JoinDestination:
			return false, cloneDestPtr(q.OnEmpty), string(ExitEmpty) + ": no agent logged in (join_empty destination)"
		case q.LeaveWhenEmpty:
			return false, cloneDestPtr(q.OnEmpty), string(ExitEmpty) + ": no agent logged in (leave_when_empty)"
		}
	}
	if q.MaxCallers > 0 && waiting >= q.MaxCallers {
		return false, cloneDestPtr(q.OnFull), fmt.Sprintf("%s: %d callers waiting (max_callers %d)", ExitFull, waiting, q.MaxCallers)
	}
	return true, nil, ""
}

// Deadline is when caller c has waited max_wait_seconds, and false when the queue has no
// maximum wait.
func (q *Queue) Deadline(c Caller) (time.Time, bool) {
	if q.MaxWaitSeconds <= 0 {
		return time.Time{}, false
	}
	return c.JoinedAt.Add(time.Duration(q.MaxWaitSeconds) * time.Second), true
}

// Expired reports whether caller c has waited max_wait_seconds or longer at now; the caller
// then goes to OnMaxWait. A caller being offered to an agent is the dispatcher's to keep or
// move: Expired only answers the question of time.
func (q *Queue) Expired(c Caller, now time.Time) bool {
	d, ok := q.Deadline(c)
	return ok && !now.Before(d)
}

// Evict reports whether the callers waiting in q must leave because no member is logged in
// (leave_when_empty); they go to OnEmpty. The dispatcher asks whenever the count changes
// (the last agent logged out, or was logged out by a supervisor or the idle timeout).
func (q *Queue) Evict(loggedIn int) bool { return q.LeaveWhenEmpty && loggedIn <= 0 }

// Leave decides whether waiting caller c leaves q at now with loggedIn members logged in:
// its maximum wait is over (OnMaxWait, why "timeout: ..."), or the queue is empty and
// leave_when_empty is set (OnEmpty, "empty: ..."). dest is a copy.
func (q *Queue) Leave(c Caller, now time.Time, loggedIn int) (leave bool, dest *routing.Destination, why string) {
	if q.Expired(c, now) {
		return true, cloneDestPtr(q.OnMaxWait), fmt.Sprintf("%s: waited %ds (max_wait_seconds %d)",
			ExitTimeout, int(now.Sub(c.JoinedAt)/time.Second), q.MaxWaitSeconds)
	}
	if q.Evict(loggedIn) {
		return true, cloneDestPtr(q.OnEmpty), string(ExitEmpty) + ": the last agent logged out (leave_when_empty)"
	}
	return false, nil, ""
}

// NextAnnouncement is when caller c next hears its position and expected wait: every
// announce_position_seconds after joining (the first one period after joining), strictly
// after now; false when announcements are off.
func (q *Queue) NextAnnouncement(c Caller, now time.Time) (time.Time, bool) {
	if q.AnnouncePositionSeconds <= 0 {
		return time.Time{}, false
	}
	period := time.Duration(q.AnnouncePositionSeconds) * time.Second
	if now.Before(c.JoinedAt) {
		return c.JoinedAt.Add(period), true
	}
	k := now.Sub(c.JoinedAt)/period + 1
	return c.JoinedAt.Add(k * period), true
}

// ExpectedWait estimates how long the caller at position (1-based) still waits, given the
// queue's census and its average handle time (talk plus wrap-up of recently answered calls,
// QueueStats.AvgHandle over the last hour, say):
//
//	position <= routable:  0 (an agent is free for it now)
//	otherwise:             (position - routable) x handle / serving
//
// With serving agents each freeing up on average once per handle time, one of them is free
// every handle/serving; the caller needs that many frees as there are callers ahead of it
// not served by a free agent, and itself. The result is rounded to the second. ok is false
// when there is nothing to go on (no serving agent, no handle time, no position): announce
// the position only.
func (c Census) ExpectedWait(position int, handle time.Duration) (wait time.Duration, ok bool) {
	if position < 1 || handle <= 0 || c.Serving <= 0 {
		return 0, false
	}
	if position <= c.Routable {
		return 0, true
	}
	w := time.Duration(position-c.Routable) * handle / time.Duration(c.Serving)
	return w.Round(time.Second), true
}
