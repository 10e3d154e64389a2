package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
)

// testDB is an empty SQLite store in a temporary directory, closed when the test ends.
func testDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestIdleSweeper: an agent with idle_timeout 60 s who logged in and did nothing is logged
// out by the sweep after 60 s, not before; an agent on a call is left alone.
func TestIdleSweeper(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	mk := func(login, ext string) int64 {
		u, err := db.CreateUser(ctx, store.User{Login: login, Role: "agent", FirstName: "A", LastName: login,
			Extension: ext, IsAgent: true, IdleTimeout: 60}, "x")
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	idle, talking := mk("idle", "301"), mk("talking", "302")
	st := memstore.New()
	t0 := time.Now()
	for _, id := range []int64{idle, talking} {
		if _, err := st.Update(ctx, id, t0, func(a queue.Agent) (queue.Agent, error) { return a.Login(t0) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CallStarted(ctx, talking, "direct-call", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := t0
	s := idleSweeper{db: db, st: st, bus: event.NewBus(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		now: func() time.Time { return now }}
	state := func(id int64) queue.State {
		a, err := st.Agent(ctx, id, now)
		if err != nil {
			t.Fatal(err)
		}
		return a.State
	}
	now = t0.Add(59 * time.Second)
	if err := s.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(idle); got != queue.Available {
		t.Fatalf("after 59 s: %s", got)
	}
	now = t0.Add(61 * time.Second)
	if err := s.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(idle); got != queue.LoggedOut {
		t.Fatalf("after 61 s: %s, want logged_out", got)
	}
	if got := state(talking); got != queue.Available {
		t.Fatalf("the agent on a call: %s, want left available", got)
	}
}

// TestQueueCollector: the scrape counts agents by state and the callers waiting per queue.
func TestQueueCollector(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	var ids []int64
	for _, login := range []string{"a1", "a2", "a3"} {
		u, err := db.CreateUser(ctx, store.User{Login: login, Role: "agent", FirstName: "A", LastName: login, IsAgent: true}, "x")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	q := queue.Queue{Name: "support", Strategy: queue.RingAll}
	q.Defaults()
	stored, err := db.CreateQueue(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	now := time.Now()
	for _, id := range ids[:2] {
		if _, err := st.Update(ctx, id, now, func(a queue.Agent) (queue.Agent, error) { return a.Login(now) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Join(ctx, queue.Caller{CallID: "c1", QueueID: stored.ID, JoinedAt: now.Add(-30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(queueCollector{db: db, st: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }})
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	qid := strconv.FormatInt(stored.ID, 10)
	for k, want := range map[string]float64{"centrala_agents,available": 2, "centrala_agents,logged_out": 1,
		"centrala_agents,on_call": 0, "centrala_queue_waiting_callers," + qid: 1, "centrala_queue_longest_wait_seconds," + qid: 30} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
}
