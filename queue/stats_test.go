package queue

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rec is a call of queue 3 that joined at j seconds and waited w seconds.
func rec(id string, j, w float64, exit Exit) CallRecord {
	return CallRecord{CallID: id, QueueID: 3, JoinedAt: at(j), LeftAt: at(j + w), Exit: exit}
}

func answered(id string, j, w float64, agent int64, talk, wrap Millis) CallRecord {
	r := rec(id, j, w, ExitAnswered)
	r.AgentID, r.Talk, r.WrapUp = agent, talk, wrap
	return r
}

func statsCalls() []CallRecord {
	other := rec("q4", 100, 1, ExitAnswered)
	other.QueueID = 4
	return []CallRecord{
		answered("a1", 0, 10, 7, 120000, 10000), // joined at From: in; within the SL
		answered("a2", 60, 20, 8, 60000, 0),     // exactly the SL: within
		answered("a3", 120, 45, 7, 180000, 20000),
		rec("x1", 200, 5, ExitAbandoned),  // short abandon: left out
		rec("x2", 300, 20, ExitAbandoned), // at the SL: still short
		rec("x3", 400, 50, ExitAbandoned), // counts against
		rec("t1", 500, 300, ExitTimeout),  // counts against
		rec("f1", 600, 0, ExitFull),       // never waited: left out
		rec("e1", 700, 0, ExitEmpty),      // refused on joining: left out
		rec("e2", 800, 30, ExitEmpty),     // made to leave after 30 s: counts against
		other,                             // another queue
		rec("old", -10, 60, ExitAnswered), // joined before the range
		rec("new", 3600, 1, ExitAnswered), // joined at To: out
	}
}

func TestQueueReport(t *testing.T) {
	s := QueueReport(3, at(0), at(3600), 20*time.Second, statsCalls())
	sl := 33.33
	require.Equal(t, QueueStats{QueueID: 3, From: at(0), To: at(3600),
		Offered: 10, Answered: 3, Abandoned: 3, TimedOut: 1, Full: 1, Empty: 2,
		ServiceLevelSeconds: 20, AnsweredWithinSL: 2, AbandonedWithinSL: 2, ServiceLevel: &sl,
		AvgWait: 25000, MaxWait: 300000, AvgAbandon: 25000, AvgTalk: 120000, AvgHandle: 130000,
	}, s)

	t.Run("service level math", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			calls []CallRecord
			want  *float64
		}{
			{"no calls: null", nil, nil},
			{"only short abandons: null", []CallRecord{rec("x", 0, 3, ExitAbandoned)}, nil},
			{"all answered in time", []CallRecord{answered("a", 0, 1, 7, 0, 0), answered("b", 0, 20, 7, 0, 0)}, ptr(100.0)},
			{"answered late", []CallRecord{answered("a", 0, 21, 7, 0, 0)}, ptr(0.0)},
			{"one of three", []CallRecord{answered("a", 0, 1, 7, 0, 0), answered("b", 0, 30, 7, 0, 0), rec("c", 0, 25, ExitAbandoned)}, ptr(33.33)},
			{"two of three", []CallRecord{answered("a", 0, 1, 7, 0, 0), answered("b", 0, 2, 7, 0, 0), rec("c", 0, 25, ExitTimeout)}, ptr(66.67)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, QueueReport(3, at(0), at(60), 20*time.Second, tc.calls).ServiceLevel)
			})
		}
	})

	b, err := json.Marshal(QueueReport(3, at(0), at(60), 20*time.Second, nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"queue_id": 3, "from": "2026-03-02T09:00:00Z", "to": "2026-03-02T09:01:00Z",
		"offered": 0, "answered": 0, "abandoned": 0, "timed_out": 0, "full": 0, "empty": 0,
		"service_level_seconds": 20, "answered_within_sl": 0, "abandoned_within_sl": 0, "service_level": null,
		"avg_wait_ms": 0, "max_wait_ms": 0, "avg_abandon_ms": 0, "avg_talk_ms": 0, "avg_handle_ms": 0}`, string(b))
}

func ptr[T any](v T) *T { return &v }

func TestAgentReport(t *testing.T) {
	o := func(id string, user int64, s float64, out Outcome) OfferRecord {
		return OfferRecord{CallID: id, QueueID: 3, UserID: user, OfferedAt: at(s), Ring: 5000, Outcome: out}
	}
	offers := []OfferRecord{
		o("a1", 7, 5, OutcomeAnswered), o("a3", 7, 160, OutcomeAnswered),
		o("n1", 7, 100, OutcomeNoAnswer), o("r1", 7, 130, OutcomeRejected),
		o("c1", 7, 200, OutcomeCancelled), o("f1", 7, 210, OutcomeFailed), o("l1", 7, 220, OutcomeLeaseExpired),
		o("old", 7, -1, OutcomeNoAnswer), // before the range
		o("a2", 8, 70, OutcomeAnswered),  // another agent
	}
	sp := func(s State, reason string, from, to float64) StateSpan {
		return StateSpan{UserID: 7, State: s, Reason: reason, From: at(from), To: at(to)}
	}
	mins := func(m float64) float64 { return m * 60 }
	spans := []StateSpan{
		sp(Available, "", mins(-10), mins(10)), // cut at From
		sp(NotReady, "lunch", mins(10), mins(40)),
		sp(NotReady, "", mins(40), mins(45)),
		sp(OnCall, "", mins(45), mins(50)),
		sp(AfterCallWork, "", mins(50), mins(51)),
		sp(Available, "", mins(51), mins(70)), // cut at To
		sp(LoggedOut, "", mins(70), mins(80)), // not counted
		{UserID: 8, State: Available, From: at(0), To: at(60)},
		sp(Available, "", mins(80), mins(90)), // after the range
	}
	s := AgentReport(7, at(0), at(3600), offers, statsCalls(), spans)
	require.Equal(t, AgentStats{UserID: 7, From: at(0), To: at(3600),
		Offered: 7, Missed: 2,
		Offers: map[Outcome]int{OutcomeAnswered: 2, OutcomeNoAnswer: 1, OutcomeRejected: 1, OutcomeFailed: 1,
			OutcomeCancelled: 1, OutcomeLeaseExpired: 1},
		Answered: 2, Talk: 300000, WrapUp: 30000, AvgTalk: 150000,
		Times:            StateTimes{Available: 1140000, NotReady: 2100000, OnCall: 300000, AfterCallWork: 60000},
		LoggedIn:         3600000,
		NotReadyByReason: map[string]Millis{"lunch": 1800000, NoReason: 300000},
	}, s)

	empty := AgentReport(9, at(0), at(60), nil, nil, nil)
	require.Len(t, empty.Offers, len(Outcomes), "every outcome, zeros included")
	b, err := json.Marshal(empty)
	require.NoError(t, err)
	require.JSONEq(t, `{"user_id": 9, "from": "2026-03-02T09:00:00Z", "to": "2026-03-02T09:01:00Z", "offered": 0,
		"offers": {"answered": 0, "no_answer": 0, "rejected": 0, "failed": 0, "cancelled": 0, "lease_expired": 0},
		"missed": 0, "answered": 0, "talk_ms": 0, "wrap_up_ms": 0, "avg_talk_ms": 0,
		"time_in_state_ms": {"available": 0, "not_ready": 0, "offered": 0, "on_call": 0, "after_call_work": 0},
		"logged_in_ms": 0, "not_ready_ms": {}}`, string(b))
}

func TestOutcomeMissed(t *testing.T) {
	var missed []Outcome
	for _, o := range Outcomes {
		if o.Missed() {
			missed = append(missed, o)
		}
	}
	require.Equal(t, []Outcome{OutcomeNoAnswer, OutcomeRejected}, missed)
}

func TestSpan(t *testing.T) {
	f := agents(t)
	s, ok := Span(f.avail, f.paused)
	require.True(t, ok)
	require.Equal(t, StateSpan{UserID: 7, State: Available, From: at(0), To: at(5)}, s)

	_, ok = Span(f.out, f.avail)
	require.False(t, ok, "logged-out time is not logged")

	pending := must(t)(f.onCall.Pause(at(20), "lunch", cat))
	_, ok = Span(f.onCall, pending)
	require.False(t, ok, "a pending change ends no state")

	other := must(t)(f.paused.Pause(at(9), "break", cat))
	s, ok = Span(f.paused, other)
	require.True(t, ok)
	require.Equal(t, StateSpan{UserID: 7, State: NotReady, Reason: "lunch", From: at(5), To: at(9)}, s)

	// Settle first to log both spans of an offer made after wrap-up ran out unseen.
	settled := f.acw.Settle(at(90))
	next := must(t)(settled.Offer(offer("c2", 90), at(90), false, true))
	s1, ok1 := Span(f.acw, settled)
	s2, ok2 := Span(settled, next)
	require.True(t, ok1 && ok2)
	require.Equal(t, StateSpan{UserID: 7, State: AfterCallWork, From: at(75), To: at(85)}, s1)
	require.Equal(t, StateSpan{UserID: 7, State: Available, From: at(85), To: at(90)}, s2)
	_, ok = Span(next, next.Settle(at(91)))
	require.False(t, ok)
}
