package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
)

// statsDay is the day the statistics tests record their calls on.
var statsDay = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

// recordQueueCall writes one ended inbound call with its queue stays through a
// cdr.Recorder on the env's store, as the call engine does.
func (e *env) recordQueueCall(rec *cdr.Recorder, callID string, stays ...cdr.QueueStay) {
	e.t.Helper()
	ctx := e.t.Context()
	start := stays[0].JoinedAt.Add(-time.Second)
	id, err := rec.Start(ctx, cdr.Start{At: start, CallID: callID, Direction: cdr.Inbound, Caller: "+48600100200",
		Callee: "+48225550100", DID: "+48225550100"})
	require.NoError(e.t, err)
	last := stays[len(stays)-1]
	end := last.LeftAt.Add(time.Duration(last.TalkMS)*time.Millisecond + time.Second)
	disposition, by := cdr.Cancelled, cdr.ByCaller
	if last.Exit == "answered" {
		require.NoError(e.t, rec.Answer(ctx, id, last.LeftAt))
		disposition = cdr.Answered
	}
	require.NoError(e.t, rec.End(ctx, id, cdr.End{At: end, Disposition: disposition, SIPCode: 200, HangupBy: by, Queues: stays}))
}

// stay is a queue stay of queue q joined at `at` after the start of statsDay, waiting wait.
func stay(q int64, at, wait time.Duration, exit string, offers ...cdr.QueueOffer) cdr.QueueStay {
	joined := statsDay.Add(at)
	return cdr.QueueStay{QueueID: q, JoinedAt: joined, LeftAt: joined.Add(wait), WaitMS: wait.Milliseconds(),
		Exit: exit, Offers: append([]cdr.QueueOffer{}, offers...)}
}

func answeredBy(s cdr.QueueStay, agent int64, talk, wrap time.Duration) cdr.QueueStay {
	s.AnsweredBy, s.TalkMS, s.WrapUpMS = &agent, talk.Milliseconds(), wrap.Milliseconds()
	return s
}

func offer(user int64, at, ring time.Duration, outcome queue.Outcome) cdr.QueueOffer {
	return cdr.QueueOffer{UserID: user, OfferedAt: statsDay.Add(at), RingMS: ring.Milliseconds(), Outcome: string(outcome)}
}

func TestQueueAndAgentStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAgents(memstore.New()))
	anna, annaTok := e.userWithToken("anna", "201", store.RoleAgent)
	bob, bobTok := e.userWithToken("bob", "202", store.RoleAgent)
	_, supTok := e.userWithToken("sup", "203", store.RoleSupervisor)
	q := e.createObject("/api/v1/queues", validQueue("support", anna.ID, bob.ID)) // service level 20 s
	other := e.createObject("/api/v1/queues", validQueue("sales", anna.ID))
	rec, err := cdr.NewRecorder(e.db, e.bus, nil)
	require.NoError(t, err)

	h := time.Hour
	s := time.Second
	// Queue q, from 09:00: two answered (one within the service level), a short and a long
	// abandon, a timeout that overflows to the other queue (answered there), a refusal.
	e.recordQueueCall(rec, "c1", answeredBy(stay(q, 9*h, 5*s, "answered",
		offer(anna.ID, 9*h+2*s, 3*s, queue.OutcomeAnswered)), anna.ID, 60*s, 10*s))
	e.recordQueueCall(rec, "c2", answeredBy(stay(q, 9*h+10*time.Minute, 30*s, "answered",
		offer(bob.ID, 9*h+10*time.Minute, 20*s, queue.OutcomeNoAnswer),
		offer(anna.ID, 9*h+10*time.Minute+25*s, 5*s, queue.OutcomeAnswered)), anna.ID, 120*s, 0))
	e.recordQueueCall(rec, "c3", stay(q, 9*h+20*time.Minute, 10*s, "abandoned",
		offer(bob.ID, 9*h+20*time.Minute+time.Second, 8*s, queue.OutcomeCancelled)))
	e.recordQueueCall(rec, "c4", stay(q, 9*h+30*time.Minute, 40*s, "abandoned"))
	e.recordQueueCall(rec, "c5", stay(q, 9*h+40*time.Minute, 60*s, "timeout"),
		answeredBy(stay(other, 9*h+41*time.Minute, 2*s, "answered",
			offer(anna.ID, 9*h+41*time.Minute, 2*s, queue.OutcomeAnswered)), anna.ID, 30*s, 0))
	e.recordQueueCall(rec, "c6", stay(q, 9*h+50*time.Minute, 0, "full"))
	// Out of the range asked below.
	e.recordQueueCall(rec, "c7", answeredBy(stay(q, 13*h, 1*s, "answered",
		offer(anna.ID, 13*h, time.Second, queue.OutcomeAnswered)), anna.ID, 10*s, 0))

	rng := fmt.Sprintf("?from=%s&to=%s", statsDay.Add(9*h).Format(time.RFC3339), statsDay.Add(12*h).Format(time.RFC3339))
	res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d/stats%s", q, rng), supTok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var qs queue.QueueStats
	res.decode(t, &qs)
	sl := 25.0 // 1 answered within 20 s of 4 that count: 2 answered, the 40 s abandon, the timeout
	require.Equal(t, queue.QueueStats{QueueID: q, From: statsDay.Add(9 * h), To: statsDay.Add(12 * h),
		Offered: 6, Answered: 2, Abandoned: 2, TimedOut: 1, Full: 1,
		ServiceLevelSeconds: 20, AnsweredWithinSL: 1, AbandonedWithinSL: 1, ServiceLevel: &sl,
		AvgWait: 17500, MaxWait: 60000, AvgAbandon: 25000, AvgTalk: 90000, AvgHandle: 95000}, qs)

	// Anna's day from the state log: available 09:00, on a call 09:10, paused for lunch
	// 09:30, logged out 10:00, back 11:00 until the end of the range.
	at := func(d time.Duration) time.Time { return statsDay.Add(d) }
	require.NoError(t, e.db.LogAgentStates(t.Context(),
		store.AgentStateEntry{UserID: anna.ID, State: queue.Available, Since: at(9 * h)},
		store.AgentStateEntry{UserID: anna.ID, State: queue.OnCall, Since: at(9*h + 10*time.Minute)},
		store.AgentStateEntry{UserID: anna.ID, State: queue.NotReady, Reason: "lunch", Since: at(9*h + 30*time.Minute)},
		store.AgentStateEntry{UserID: anna.ID, State: queue.LoggedOut, Since: at(10 * h)},
		store.AgentStateEntry{UserID: anna.ID, State: queue.NotReady, Since: at(11 * h)},
	))
	for _, tok := range []string{annaTok, supTok, testAdminToken} {
		res = e.do("GET", fmt.Sprintf("/api/v1/agents/%d/stats%s", anna.ID, rng), tok, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var as queue.AgentStats
		res.decode(t, &as)
		offers := map[queue.Outcome]int{}
		for _, o := range queue.Outcomes {
			offers[o] = 0
		}
		offers[queue.OutcomeAnswered] = 3
		require.Equal(t, queue.AgentStats{UserID: anna.ID, From: statsDay.Add(9 * h), To: statsDay.Add(12 * h),
			Offered: 3, Offers: offers, Answered: 3, Talk: 210000, WrapUp: 10000, AvgTalk: 70000,
			Times:    queue.StateTimes{Available: 600000, OnCall: 1200000, NotReady: 1800000 + 3600000},
			LoggedIn: 7200000, NotReadyByReason: map[string]queue.Millis{"lunch": 1800000, queue.NoReason: 3600000}}, as)
	}
	res = e.do("GET", fmt.Sprintf("/api/v1/agents/%d/stats%s", bob.ID, rng), bobTok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var bs queue.AgentStats
	res.decode(t, &bs)
	require.Equal(t, 2, bs.Offered)
	require.Equal(t, 1, bs.Missed)
	require.Equal(t, 1, bs.Offers[queue.OutcomeNoAnswer])
	require.Equal(t, 1, bs.Offers[queue.OutcomeCancelled])
	require.Zero(t, bs.Answered)
	require.Zero(t, bs.LoggedIn, "no state log: no time")

	// Roles: agents read only their own figures, and no queue's.
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{fmt.Sprintf("/api/v1/agents/%d/stats", anna.ID), bobTok, http.StatusForbidden},
		{fmt.Sprintf("/api/v1/queues/%d/stats", q), annaTok, http.StatusForbidden},
		{fmt.Sprintf("/api/v1/queues/%d/stats", q), testAdminToken, http.StatusOK},
		{"/api/v1/queues/999/stats", supTok, http.StatusNotFound},
		{"/api/v1/agents/999/stats", supTok, http.StatusNotFound},
	} {
		res := e.do("GET", tc.path, tc.token, nil)
		require.Equal(t, tc.want, res.status, "%s: %s", tc.path, res.body)
	}
}

// Without from and to the figures are today's (UTC) until now; the queue status shows the
// same service level.
func TestQueueStatsToday(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAgents(memstore.New()))
	anna := e.createUser(validUser("anna", "201"))
	q := e.createObject("/api/v1/queues", validQueue("support", anna.ID))
	status := func() queueStatus {
		t.Helper()
		res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d/status", q), testAdminToken, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var st queueStatus
		res.decode(t, &st)
		return st
	}
	require.Nil(t, status().ServiceLevel, "no calls today")

	rec, err := cdr.NewRecorder(e.db, e.bus, nil)
	require.NoError(t, err)
	day := startOfDay(time.Now())
	joined := func(s cdr.QueueStay, at time.Time) cdr.QueueStay {
		d := s.LeftAt.Sub(s.JoinedAt)
		s.JoinedAt, s.LeftAt = at, at.Add(d)
		return s
	}
	// Today: answered in 3 s, answered in 25 s, abandoned after 1 s (not counted). Yesterday:
	// a timeout that would count against.
	e.recordQueueCall(rec, "t1", joined(answeredBy(stay(q, 0, 3*time.Second, "answered"), anna.ID, time.Second, 0), day))
	e.recordQueueCall(rec, "t2", joined(answeredBy(stay(q, 0, 25*time.Second, "answered"), anna.ID, time.Second, 0), day))
	e.recordQueueCall(rec, "t3", joined(stay(q, 0, time.Second, "abandoned"), day))
	e.recordQueueCall(rec, "y1", joined(stay(q, 0, time.Minute, "timeout"), day.Add(-time.Hour)))

	res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d/stats", q), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var qs queue.QueueStats
	res.decode(t, &qs)
	require.Equal(t, day, qs.From)
	require.WithinDuration(t, time.Now(), qs.To, time.Minute)
	require.Equal(t, 3, qs.Offered)
	require.Equal(t, 50.0, *qs.ServiceLevel)
	require.Equal(t, 50.0, *status().ServiceLevel)
}

func TestStatsBadParams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	q := e.createObject("/api/v1/queues", validQueue("support", anna.ID))
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name, query string
		mode        specMode
		fields      []string
	}{
		{"from not a time", "?from=yesterday", specInvalid, []string{"from"}},
		{"to without zone", "?to=2025-03-10T09:00:00", specInvalid, []string{"to"}},
		{"both bad", "?from=x&to=y", specInvalid, []string{"from", "to"}},
		{"to not after from", "?from=2025-03-10T09:00:00Z&to=2025-03-10T09:00:00Z", specUnchecked, []string{"to"}},
		{"from after now, to omitted", "?from=" + future, specUnchecked, []string{"from"}},
		{"longer than 366 days", "?from=2024-01-01T00:00:00Z&to=2025-01-02T00:00:01Z", specUnchecked, []string{"to"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{fmt.Sprintf("/api/v1/queues/%d/stats", q), fmt.Sprintf("/api/v1/agents/%d/stats", anna.ID)} {
				res := e.do("GET", path+tc.query, testAdminToken, nil, tc.mode)
				require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
				require.Equal(t, tc.fields, fieldsOf(res.problem(t)))
			}
		})
	}
	// 366 days exactly is allowed.
	res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d/stats?from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", q), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
}
