package queue

import (
	"math"
	"time"
)

// Exit is how a caller left a queue.
type Exit string

// Queue exits.
const (
	ExitAnswered  Exit = "answered"  // an agent answered
	ExitAbandoned Exit = "abandoned" // the caller hung up while waiting (or ringing an agent)
	ExitTimeout   Exit = "timeout"   // max_wait_seconds reached: went to on_max_wait
	ExitFull      Exit = "full"      // refused on joining: max_callers reached, went to on_full
	ExitEmpty     Exit = "empty"     // refused on joining or made to leave: no agent logged in, went to on_empty
)

// Exits lists every Exit (the OpenAPI document lists the same).
var Exits = []Exit{ExitAnswered, ExitAbandoned, ExitTimeout, ExitFull, ExitEmpty}

// Outcome is how one offer to an agent ended.
type Outcome string

// Offer outcomes. no_answer and rejected are the agent's misses (Agent.OfferMissed); failed
// and cancelled are not (Agent.OfferFailed); lease_expired is Agent.LeaseExpired.
const (
	OutcomeAnswered     Outcome = "answered"
	OutcomeNoAnswer     Outcome = "no_answer"     // rang for the ring time
	OutcomeRejected     Outcome = "rejected"      // the agent declined (486, 603 from their device)
	OutcomeFailed       Outcome = "failed"        // the device could not be reached (408, 5xx, transport)
	OutcomeCancelled    Outcome = "cancelled"     // the caller hung up, or another agent answered (ring_all)
	OutcomeLeaseExpired Outcome = "lease_expired" // the node ringing the agent died
)

// Outcomes lists every Outcome (the OpenAPI document lists the same).
var Outcomes = []Outcome{OutcomeAnswered, OutcomeNoAnswer, OutcomeRejected, OutcomeFailed, OutcomeCancelled, OutcomeLeaseExpired}

// Missed reports whether the outcome counts toward the agent's missed offers in a row.
func (o Outcome) Missed() bool { return o == OutcomeNoAnswer || o == OutcomeRejected }

// CallRecord is one caller's stay in a queue, as the CDR keeps it: the input of QueueReport
// and AgentReport.
type CallRecord struct {
	CallID   string    `json:"call_id"`
	QueueID  int64     `json:"queue_id"`
	Priority int       `json:"priority"`
	JoinedAt time.Time `json:"joined_at"` // arrived at the queue (refused ones too)
	LeftAt   time.Time `json:"left_at"`   // answered, hung up, or sent to an overflow destination
	Exit     Exit      `json:"exit"`
	AgentID  int64     `json:"agent_id,omitempty"` // answered: who
	Talk     Millis    `json:"talk_ms"`            // answered: the connected time
	WrapUp   Millis    `json:"wrap_up_ms"`         // answered: the agent's after-call work
}

// Wait is how long the caller waited in the queue (0 if LeftAt is not after JoinedAt).
func (r CallRecord) Wait() time.Duration { return max(r.LeftAt.Sub(r.JoinedAt), 0) }

// OfferRecord is one offer of a queue call to an agent, as the CDR keeps it.
type OfferRecord struct {
	CallID    string    `json:"call_id"`
	QueueID   int64     `json:"queue_id"`
	UserID    int64     `json:"user_id"`
	OfferedAt time.Time `json:"offered_at"`
	Ring      Millis    `json:"ring_ms"` // how long it rang
	Outcome   Outcome   `json:"outcome"`
}

// StateSpan is a stretch of time an agent spent in one state (and reason), [From, To).
type StateSpan struct {
	UserID int64     `json:"user_id"`
	State  State     `json:"state"`
	Reason string    `json:"reason,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

// Span returns the span of the state the agent left going from before to after, for the
// state-change log the agent statistics read; false when before's state did not end (the
// same state, reason and since: e.g. a change made pending) or before was logged out (not
// counted). Every transition moves through at most one state, except that Offer, the
// requests and IdleTimeout settle first (Settle: wrap-up end, lease expiry); to log every
// span, settle first and log Span(a, settled) and Span(settled, after).
func Span(before, after Agent) (StateSpan, bool) {
	before, after = before.norm(), after.norm()
	if before.State == LoggedOut ||
		before.State == after.State && before.Reason == after.Reason && before.Since.Equal(after.Since) {
		return StateSpan{}, false
	}
	return StateSpan{UserID: before.UserID, State: before.State, Reason: before.Reason,
		From: before.Since, To: later(after.Since, before.Since)}, true
}

// QueueStats is a queue's figures for calls that joined it in [From, To): the answer of the
// statistics API and the source of the service-level metric.
//
// Service level (percent) = answered within the threshold / (answered + callers who left
// unanswered after waiting longer than the threshold). Answered within means a wait of at
// most service_level_seconds. Callers who gave up (or timed out, or were sent away) within
// the threshold count on neither side: a short abandon is not a failure of the queue,
// and callers refused on joining never waited. null when no call counts.
type QueueStats struct {
	QueueID int64     `json:"queue_id"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`

	Offered   int `json:"offered"` // every call that came to the queue: the sum of the five below
	Answered  int `json:"answered"`
	Abandoned int `json:"abandoned"`
	TimedOut  int `json:"timed_out"`
	Full      int `json:"full"`
	Empty     int `json:"empty"`

	ServiceLevelSeconds int      `json:"service_level_seconds"`
	AnsweredWithinSL    int      `json:"answered_within_sl"`
	AbandonedWithinSL   int      `json:"abandoned_within_sl"` // short abandons, left out of the service level
	ServiceLevel        *float64 `json:"service_level"`       // percent, 2 decimals; null without calls that count

	AvgWait    Millis `json:"avg_wait_ms"`    // answered calls: average speed of answer
	MaxWait    Millis `json:"max_wait_ms"`    // the longest wait of any caller
	AvgAbandon Millis `json:"avg_abandon_ms"` // abandoned calls: how long they waited
	AvgTalk    Millis `json:"avg_talk_ms"`    // answered calls
	AvgHandle  Millis `json:"avg_handle_ms"`  // answered calls: talk plus wrap-up (ExpectedWait's handle time)
}

func inRange(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

func avg(sum time.Duration, n int) Millis {
	if n == 0 {
		return 0
	}
	return ms(sum / time.Duration(n))
}

// QueueReport aggregates the records of queue queueID whose caller joined in [from, to),
// with service-level threshold sl (Queue.ServiceLevel). Records of other queues or times
// are ignored; a record with an unknown exit counts in Offered only.
func QueueReport(queueID int64, from, to time.Time, sl time.Duration, calls []CallRecord) QueueStats {
	s := QueueStats{QueueID: queueID, From: from, To: to, ServiceLevelSeconds: int(sl / time.Second)}
	var wait, abandon, talk, handle time.Duration
	counted := 0
	for _, r := range calls {
		if r.QueueID != queueID || !inRange(r.JoinedAt, from, to) {
			continue
		}
		s.Offered++
		w := r.Wait()
		s.MaxWait = max(s.MaxWait, ms(w))
		switch r.Exit {
		case ExitAnswered:
			s.Answered++
			wait += w
			talk += r.Talk.Duration()
			handle += r.Talk.Duration() + r.WrapUp.Duration()
		case ExitAbandoned:
			s.Abandoned++
			abandon += w
		case ExitTimeout:
			s.TimedOut++
		case ExitFull:
			s.Full++
		case ExitEmpty:
			s.Empty++
		default:
			continue
		}
		switch {
		case r.Exit == ExitAnswered:
			counted++
			if w <= sl {
				s.AnsweredWithinSL++
			}
		case w > sl:
			counted++
		case r.Exit == ExitAbandoned:
			s.AbandonedWithinSL++
		}
	}
	if counted > 0 {
		v := math.Round(float64(s.AnsweredWithinSL)*10000/float64(counted)) / 100
		s.ServiceLevel = &v
	}
	s.AvgWait, s.AvgAbandon = avg(wait, s.Answered), avg(abandon, s.Abandoned)
	s.AvgTalk, s.AvgHandle = avg(talk, s.Answered), avg(handle, s.Answered)
	return s
}

// NoReason is the key of NotReady time without a reason in AgentStats.NotReadyByReason.
const NoReason = "(none)"

// AgentStats is an agent's figures for [From, To): the answer of the statistics API.
type AgentStats struct {
	UserID int64     `json:"user_id"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`

	Offered int             `json:"offered"` // offers made in the range
	Offers  map[Outcome]int `json:"offers"`  // by outcome, every outcome present
	Missed  int             `json:"missed"`  // no_answer + rejected

	Answered int    `json:"answered"`    // queue calls the agent answered (left the queue) in the range
	Talk     Millis `json:"talk_ms"`     // of those calls
	WrapUp   Millis `json:"wrap_up_ms"`  // of those calls
	AvgTalk  Millis `json:"avg_talk_ms"` //

	Times            StateTimes        `json:"time_in_state_ms"` // the state spans, cut to the range
	LoggedIn         Millis            `json:"logged_in_ms"`     // their sum
	NotReadyByReason map[string]Millis `json:"not_ready_ms"`     // by reason; NoReason for none
}

// AgentReport aggregates an agent's offers (OfferedAt in [from, to)), the calls they
// answered (LeftAt, the answer, in [from, to)) and their state spans (cut to [from, to); an
// open span is given with To = now). Records of other users are ignored.
func AgentReport(userID int64, from, to time.Time, offers []OfferRecord, calls []CallRecord, spans []StateSpan) AgentStats {
	s := AgentStats{UserID: userID, From: from, To: to,
		Offers: make(map[Outcome]int, len(Outcomes)), NotReadyByReason: map[string]Millis{}}
	for _, o := range Outcomes {
		s.Offers[o] = 0
	}
	for _, o := range offers {
		if o.UserID != userID || !inRange(o.OfferedAt, from, to) {
			continue
		}
		s.Offered++
		s.Offers[o.Outcome]++
		if o.Outcome.Missed() {
			s.Missed++
		}
	}
	var talk time.Duration
	for _, r := range calls {
		if r.AgentID != userID || r.Exit != ExitAnswered || !inRange(r.LeftAt, from, to) {
			continue
		}
		s.Answered++
		s.Talk += r.Talk
		s.WrapUp += r.WrapUp
		talk += r.Talk.Duration()
	}
	s.AvgTalk = avg(talk, s.Answered)
	for _, sp := range spans {
		if sp.UserID != userID || sp.State == LoggedOut || !sp.State.Valid() {
			continue
		}
		start, end := later(sp.From, from), sp.To
		if end.After(to) {
			end = to
		}
		if !end.After(start) {
			continue
		}
		d := ms(end.Sub(start))
		s.Times.add(sp.State, d)
		s.LoggedIn += d
		if sp.State == NotReady {
			r := sp.Reason
			if r == "" {
				r = NoReason
			}
			s.NotReadyByReason[r] += d
		}
	}
	return s
}
