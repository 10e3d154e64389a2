package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
)

// TestAgentStateLog: every entry an agent goes through, including the ones a settle makes
// without a write (wrap-up ending), reaches the log once, and the spans read back add up.
func TestAgentStateLog(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	var logged bytes.Buffer
	st := newAgentStateLog(memstore.New(), db, slog.New(slog.NewTextHandler(&logged, nil)))
	const uid = 7
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	update := func(now time.Time, fn func(queue.Agent) (queue.Agent, error)) queue.Agent {
		t.Helper()
		a, err := st.Update(ctx, uid, now, fn)
		require.NoError(t, err)
		return a
	}
	update(at(0), func(a queue.Agent) (queue.Agent, error) { return a.Login(at(0)) })
	offer := queue.Offer{CallID: "c1", QueueID: 1, Node: "n", OfferedAt: at(60), LeaseUntil: at(120)}
	_, err := st.Claim(ctx, uid, offer, at(60), true)
	require.NoError(t, err)
	update(at(65), func(a queue.Agent) (queue.Agent, error) { return a.OfferAnswered("c1", at(65)) })
	update(at(100), func(a queue.Agent) (queue.Agent, error) { return a.Renew("c1", at(300), at(100)) }) // no new entry
	update(at(185), func(a queue.Agent) (queue.Agent, error) { return a.CallEnded("c1", at(185), 15*time.Second) })
	// Wrap-up ended at 200 with nobody writing; the pause at 300 logs that entry first.
	update(at(300), func(a queue.Agent) (queue.Agent, error) { return a.Pause(at(300), "", queue.DefaultReasons) })
	// A refused change writes nothing new (the entry before it is known already).
	_, err = st.Update(ctx, uid, at(310), func(a queue.Agent) (queue.Agent, error) { return a, errors.New("refused") })
	require.Error(t, err)
	update(at(400), func(a queue.Agent) (queue.Agent, error) { return a.Logout(at(400)) })

	entries, err := db.AgentStates(ctx, uid, t0, at(1000))
	require.NoError(t, err)
	type entry struct {
		state queue.State
		since time.Time
	}
	var got []entry
	for _, e := range entries {
		got = append(got, entry{e.State, e.Since})
	}
	require.Equal(t, []entry{{queue.Available, at(0)}, {queue.Offered, at(60)}, {queue.OnCall, at(65)},
		{queue.AfterCallWork, at(185)}, {queue.Available, at(200)}, {queue.NotReady, at(300)},
		{queue.LoggedOut, at(400)}}, got)

	spans, err := db.AgentSpans(ctx, uid, t0, at(1000), at(1000))
	require.NoError(t, err)
	r := queue.AgentReport(uid, t0, at(1000), nil, nil, spans)
	require.Equal(t, queue.StateTimes{Available: 160000, Offered: 5000, OnCall: 120000, AfterCallWork: 15000,
		NotReady: 100000}, r.Times)
	require.Empty(t, logged.String(), "no warnings")

	// The log failing does not fail the state change: it is a warning.
	require.NoError(t, db.Close())
	_, err = st.Update(ctx, uid, at(500), func(a queue.Agent) (queue.Agent, error) { return a.Login(at(500)) })
	require.NoError(t, err)
	require.Contains(t, logged.String(), "agent state log: write failed")
}

// TestQueueServiceLevelMetric: today's service level of a queue with counting calls, read
// at most once per 10 s; absent for a queue without.
func TestQueueServiceLevelMetric(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	busy, err := db.CreateQueue(ctx, queue.Queue{Name: "busy", Strategy: queue.RingAll})
	require.NoError(t, err)
	quiet, err := db.CreateQueue(ctx, queue.Queue{Name: "quiet", Strategy: queue.RingAll})
	require.NoError(t, err)
	rec, err := cdr.NewRecorder(db, event.NewBus(), nil)
	require.NoError(t, err)
	now := time.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	call := func(wait time.Duration, exit string) {
		t.Helper()
		id, err := rec.Start(ctx, cdr.Start{At: day, CallID: "c" + strconv.Itoa(int(wait)), Direction: cdr.Inbound})
		require.NoError(t, err)
		s := cdr.QueueStay{QueueID: busy.ID, JoinedAt: day, LeftAt: day.Add(wait), WaitMS: wait.Milliseconds(), Exit: exit}
		if exit == "answered" {
			s.AnsweredBy = ptrTo(int64(1))
		}
		require.NoError(t, rec.End(ctx, id, cdr.End{At: day.Add(time.Hour), Disposition: cdr.Answered,
			HangupBy: cdr.ByCaller, Queues: []cdr.QueueStay{s}}))
	}
	call(5*time.Second, "answered")  // within the default 20 s
	call(50*time.Second, "answered") // late
	call(time.Minute, "timeout")     // against

	clock := now
	reg := prometheus.NewRegistry()
	reg.MustRegister(queueCollector{db: db, st: memstore.New(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		now: func() time.Time { return clock }, levels: &serviceLevels{}})
	levels := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		require.NoError(t, err)
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "centrala_queue_service_level_percent" {
				continue
			}
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
		return out
	}
	busyID := strconv.FormatInt(busy.ID, 10)
	require.Equal(t, map[string]float64{busyID: 33.33}, levels(), "queue %d has no calls: absent", quiet.ID)

	call(time.Second, "answered") // 2 of 4 within: 50 %, once the cache expires
	clock = now.Add(9 * time.Second)
	require.Equal(t, map[string]float64{busyID: 33.33}, levels(), "cached")
	clock = now.Add(10 * time.Second)
	if startOfUTCDay := clock.Truncate(24 * time.Hour); startOfUTCDay.Equal(day) {
		require.Equal(t, map[string]float64{busyID: 50}, levels(), "read again after 10 s")
	}
}

func ptrTo[T any](v T) *T { return &v }
