package pbx

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/centrala/centrala/internal/testkit"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/redisstore"
)

// The queue dispatcher without SIP: a real Redis (queue/redisstore), a registrar over a
// memory location store holding one binding per agent account, a fixed queue and agents from
// a fake backend, and waiting calls that are only a channel the dispatcher sends to. Half
// the waiting callers are this node's, half another node's (written to the store as that
// node would); the two alternate from the head of the queue, so every group of agents the
// dispatcher picks goes alternately to one of its callers (claimed) and to the other node's
// (skipped: that node's dispatcher claims it). deploy/bench/queues.sh measures the whole
// server with SIPp.
//
//	go test ./pbx/ -run QueueBench -count=1                        # the harness, checked
//	go test ./pbx/ -run xxx -bench 'QueueDispatchCycle|QueueOfferLatency'

// startBenchRedis runs a redis-server without persistence on a free loopback port until the
// test ends and returns its address (internal/testkit: this package's internal tests
// cannot import pbxtest, which imports pbx).
func startBenchRedis(tb testing.TB) string {
	tb.Helper()
	return testkit.StartRedis(tb).Addr
}

// benchQueueID is the one queue of the harness.
const benchQueueID = 1

// benchBackend is the QueueBackend of the harness: one queue; agent uid has SIP account
// "agent-<uid>".
type benchBackend struct{ q queue.Queue }

func (b benchBackend) Queue(context.Context, int64) (queue.Queue, error) { return b.q, nil }

func (b benchBackend) Agent(_ context.Context, uid int64) (Party, error) {
	return Party{UserID: uid, Name: fmt.Sprintf("Agent %d", uid), Extension: fmt.Sprint(1000 + uid),
		Accounts: []string{benchAccount(uid)}}, nil
}

func (benchBackend) Music(string) []string { return nil }

func benchAccount(uid int64) string { return fmt.Sprintf("agent-%d", uid) }

// roundTrips counts the commands and pipelines a Redis client sends: one round trip each.
type roundTrips struct{ n atomic.Int64 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// benchCaller is a waiting caller as the harness placed it.
type benchCaller struct {
	id   string
	mine bool // this node's (a waiter of the dispatcher), else the other node's
}

// queueBench is the dispatcher of node "node-a" over a Redis shared with a node "node-b"
// that runs no dispatcher.
type queueBench struct {
	tb    testing.TB
	ctx   context.Context
	d     *dispatcher
	st    *redisstore.Store
	trips *roundTrips
	// in is the in channel of every waiting call: the dispatcher's messages to any of them.
	in chan any

	order  []benchCaller    // waiting callers, in the store's order
	onCall map[int64]string // agent -> the call it is on
	seq    int              // callers made so far
	last   time.Time        // join time of the latest caller
	now    func() time.Time // the clock of store writes
}

var benchPrefixes atomic.Int64

// newQueueBench sets up waiting callers (alternately this node's and the other's, this
// node's first) and agents members of the queue (strategy longest_idle, no wrap-up), each
// logged in, registered and on a call. now is the clock of the setup and of the
// dispatcher (nil: time.Now).
func newQueueBench(tb testing.TB, srv string, waiting, agents int, now func() time.Time) *queueBench {
	tb.Helper()
	if now == nil {
		now = time.Now
	}
	ctx := context.Background()
	trips := &roundTrips{}
	client := redis.NewClient(&redis.Options{Addr: srv})
	tb.Cleanup(func() { _ = client.Close() })
	client.AddHook(trips)
	st := redisstore.New(client, fmt.Sprintf("bench%d:", benchPrefixes.Add(1)))

	q := queue.Queue{ID: benchQueueID, Name: "bench", Strategy: queue.LongestIdle, WrapUpSeconds: new(int)}
	for uid := int64(1); uid <= int64(agents); uid++ {
		q.Members = append(q.Members, queue.Member{UserID: uid})
	}
	q.Defaults()
	if err := q.Validate(); err != nil {
		tb.Fatal(err)
	}

	rcfg := registrar.Config{Node: "node-a"}
	locations := registrar.NewMemoryStore()
	reg, err := registrar.New(rcfg, locations, nil, nil, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	e := &Engine{reg: reg, bus: event.NewBus(), log: slog.New(slog.DiscardHandler), m: m, now: now, ctx: ctx}
	if err := WithQueues(st, benchBackend{q: q}, "node-a", 0)(e); err != nil {
		tb.Fatal(err)
	}
	h := &queueBench{tb: tb, ctx: ctx, d: e.queues, st: st, trips: trips, in: make(chan any, 4096),
		onCall: map[int64]string{}, now: now}

	t := now()
	for uid := int64(1); uid <= int64(agents); uid++ {
		acct := benchAccount(uid)
		if _, err := locations.Apply(ctx, registrar.Update{AOR: acct, CallID: "reg-" + acct, CSeq: 1, Now: t,
			Changes: []registrar.Change{{Binding: registrar.Binding{AOR: acct, Contact: "sip:" + acct + "@127.0.0.1:5062",
				Transport: "udp", Source: "127.0.0.1:5062", Node: "node-a"}, Expires: 24 * time.Hour}}}); err != nil {
			tb.Fatal(err)
		}
		h.update(uid, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.Login(now) })
		h.answer(uid, fmt.Sprintf("setup-%d", uid))
	}
	h.last = t.Add(-time.Duration(waiting) * time.Millisecond)
	for i := 0; i < waiting; i++ {
		h.add(i%2 == 0)
	}
	return h
}

// update changes agent uid's record at the harness's clock.
func (h *queueBench) update(uid int64, fn func(queue.Agent, time.Time) (queue.Agent, error)) queue.Agent {
	h.tb.Helper()
	now := h.now()
	a, err := h.st.Update(h.ctx, uid, now, func(a queue.Agent) (queue.Agent, error) { return fn(a, now) })
	if err != nil {
		h.tb.Fatalf("agent %d: %v", uid, err)
	}
	return a
}

// answer puts agent uid on call callID: the offer the dispatcher made (or one made here
// for another node's caller) answered.
func (h *queueBench) answer(uid int64, callID string) {
	h.tb.Helper()
	h.update(uid, func(a queue.Agent, now time.Time) (queue.Agent, error) {
		if a.State == queue.Available {
			var err error
			if a, err = a.Offer(queue.Offer{CallID: callID, QueueID: benchQueueID, Node: "node-b", LeaseUntil: now.Add(24 * time.Hour)}, now, false, true); err != nil {
				return a, err
			}
		}
		a, err := a.OfferAnswered(callID, now)
		if err != nil {
			return a, err
		}
		return a.Renew(callID, now.Add(24*time.Hour), now)
	})
	h.onCall[uid] = callID
}

// free ends agent uid's call: available at once (no wrap-up).
func (h *queueBench) free(uid int64) queue.Agent {
	h.tb.Helper()
	id := h.onCall[uid]
	delete(h.onCall, uid)
	return h.update(uid, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.CallEnded(id, now, 0) })
}

// add puts a new caller at the tail: a waiter of this node, or a record of the other node's.
func (h *queueBench) add(mine bool) {
	h.tb.Helper()
	h.seq++
	at := h.now()
	if !at.After(h.last) {
		at = h.last.Add(time.Millisecond)
	}
	h.last = at
	c := queue.Caller{CallID: fmt.Sprintf("call-%08d", h.seq), QueueID: benchQueueID, JoinedAt: at}
	if mine {
		cl := &call{ctx: h.ctx, in: h.in, done: make(chan struct{})}
		if err := h.d.join(cl, c); err != nil {
			h.tb.Fatal(err)
		}
	} else {
		c.Node, c.LeaseUntil = "node-b", at.Add(24*time.Hour) // renewed by node-b meanwhile
		if err := h.st.Join(h.ctx, c); err != nil {
			h.tb.Fatal(err)
		}
	}
	h.order = append(h.order, benchCaller{id: c.CallID, mine: mine})
}

// served removes the first n callers (answered, by this node's agents or the other's) and
// puts n new ones at the tail, alternating as before, so the queue keeps its length and
// its head its pattern.
func (h *queueBench) served(n int) {
	h.tb.Helper()
	for _, c := range h.order[:n] {
		if c.mine {
			h.d.leave(benchQueueID, c.id)
		} else if err := h.st.Leave(h.ctx, benchQueueID, c.id); err != nil {
			h.tb.Fatal(err)
		}
	}
	gone := slices.Clone(h.order[:n])
	h.order = slices.Delete(h.order, 0, n)
	for _, c := range gone {
		h.add(c.mine)
	}
}

// firstMine is the call ids of this node's first n callers.
func (h *queueBench) firstMine(n int) []string {
	var ids []string
	for _, c := range h.order {
		if c.mine && len(ids) < n {
			ids = append(ids, c.id)
		}
	}
	return ids
}

// offerOf is the caller and agents of a dispatcher message that must be an offer.
func offerOf(tb testing.TB, m any) (string, []int64) {
	tb.Helper()
	o, ok := m.(queueOffer)
	if !ok || len(o.agents) == 0 || o.agents[0].agent.Current == nil {
		tb.Fatalf("dispatcher sent %#v, want an offer", m)
	}
	var uids []int64
	for _, a := range o.agents {
		uids = append(uids, a.agent.UserID)
	}
	return o.agents[0].agent.Current.CallID, uids
}

// offers takes the offers the dispatcher has sent so far: caller -> agents.
func (h *queueBench) offers() map[string][]int64 {
	h.tb.Helper()
	got := map[string][]int64{}
	for {
		select {
		case m := <-h.in:
			id, uids := offerOf(h.tb, m)
			got[id] = append(got[id], uids...)
		default:
			return got
		}
	}
}

// TestQueueBenchHarness checks the harness the benchmarks use: with 6 callers waiting
// (this node's first, then alternately the other node's) and 4 of 8 agents made available,
// one cycle offers this node's first two callers, each to one agent, in longest-idle
// order, and the other node's callers take their agents without a claim.
func TestQueueBenchHarness(t *testing.T) {
	srv := startBenchRedis(t)
	h := newQueueBench(t, srv, 6, 8, nil)
	free := []int64{3, 5, 6, 8} // idle longest first: 3, 5, 6, 8
	for _, uid := range free {
		h.free(uid)
		time.Sleep(2 * time.Millisecond)
	}
	trips := h.trips.n.Load()
	h.d.cycle(h.ctx, benchQueueID, time.Now())
	trips = h.trips.n.Load() - trips
	got := h.offers()
	mine := h.firstMine(2)
	want := map[string][]int64{mine[0]: {3}, mine[1]: {6}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("offers %v, want %v (callers %v)", got, want, h.order)
	}
	for uid, state := range map[int64]queue.State{3: queue.Offered, 5: queue.Available, 6: queue.Offered, 8: queue.Available, 1: queue.OnCall} {
		a, err := h.st.Agent(h.ctx, uid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if a.State != state {
			t.Errorf("agent %d is %s, want %s", uid, a.State, state)
		}
	}
	waiting, err := h.st.Waiting(h.ctx, benchQueueID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range waiting {
		if c.Ringing != slices.Contains(mine, c.CallID) {
			t.Errorf("caller %s ringing %v", c.CallID, c.Ringing)
		}
	}
	t.Logf("one cycle, 6 callers, 8 agents, 2 offers: %d Redis round trips", trips)

	// The next round: the first four callers served, four new ones at the tail.
	for _, uid := range []int64{3, 6} {
		h.answer(uid, h.onCallOffer(t, uid))
	}
	h.answer(5, "other-1")
	h.answer(8, "other-2")
	h.served(4)
	h.free(2)
	h.d.cycle(h.ctx, benchQueueID, time.Now())
	if got, want := fmt.Sprint(h.offers()), fmt.Sprint(map[string][]int64{h.firstMine(1)[0]: {2}}); got != want {
		t.Fatalf("second cycle: offers %s, want %s", got, want)
	}
}

// onCallOffer is the call agent uid was offered.
func (h *queueBench) onCallOffer(tb testing.TB, uid int64) string {
	tb.Helper()
	a, err := h.st.Agent(h.ctx, uid, time.Now())
	if err != nil || a.Current == nil {
		tb.Fatalf("agent %d: %+v %v", uid, a, err)
	}
	return a.Current.CallID
}

// BenchmarkQueueDispatchCycle is one dispatch cycle of one queue with `waiting` callers
// (half this node's) and `agents` members, all on calls except 2x5 that became available
// since the last cycle: the cycle reads the callers and the members, claims 5 agents for
// this node's first 5 callers and hands the offers over; the other node's 5 callers
// between them take the other 5 agents without a claim. Between cycles (timer stopped)
// the offered agents answer, the others go on calls, and the 10 callers served are
// replaced by new ones at the tail. The clock is fixed for the run, so no caller lease
// comes due for renewal inside the measured cycles (the node renews each of its callers
// every 10 s: one Redis write each).
//
// Metrics: offers/op (always 5) and trips/op (Redis commands and pipelines: round trips).
func BenchmarkQueueDispatchCycle(b *testing.B) { benchCycles(b, false) }

// BenchmarkQueueDispatchCycleIdleAgents is the same cycle when every member is available
// (a quiet hour): each of the first min(waiting, agents) callers takes an agent, this
// node's claimed (offers/op: half of them), and between cycles the offered agents are made
// available again and those callers replaced.
func BenchmarkQueueDispatchCycleIdleAgents(b *testing.B) { benchCycles(b, true) }

func benchCycles(b *testing.B, idle bool) {
	srv := startBenchRedis(b)
	const offers = 5
	for _, waiting := range []int{10, 100, 1000} {
		for _, agents := range []int{50, 500} {
			b.Run(fmt.Sprintf("waiting=%d/agents=%d", waiting, agents), func(b *testing.B) {
				t0 := time.Now()
				h := newQueueBench(b, srv, waiting, agents, func() time.Time { return t0 })
				if idle {
					for uid := int64(1); uid <= int64(agents); uid++ {
						h.free(uid)
					}
				}
				used := 2 * offers // callers that take an agent in a cycle
				if idle {
					used = min(waiting, agents)
				}
				next := int64(0)
				var trips, claims int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					var free []int64
					for !idle && len(free) < 2*offers {
						next = next%int64(agents) + 1
						h.free(next)
						free = append(free, next)
					}
					var want []string
					for _, c := range h.order[:used] {
						if c.mine {
							want = append(want, c.id)
						}
					}
					n0 := h.trips.n.Load()
					b.StartTimer()
					h.d.cycle(h.ctx, benchQueueID, t0)
					b.StopTimer()
					trips += h.trips.n.Load() - n0
					got := h.offers()
					for _, id := range want {
						if len(got[id]) != 1 {
							b.Fatalf("cycle %d: offers %v, want one agent for each of %v", i, got, want)
						}
					}
					if len(got) != len(want) {
						b.Fatalf("cycle %d: offers %v, want %v", i, got, want)
					}
					claims += int64(len(got))
					for id, uids := range got {
						if idle {
							h.update(uids[0], func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.OfferFailed(id, now) })
						} else {
							h.answer(uids[0], id)
						}
					}
					for _, uid := range free {
						if _, on := h.onCall[uid]; !on {
							h.answer(uid, fmt.Sprintf("other-%d-%d", i, uid))
						}
					}
					h.served(used)
					b.StartTimer()
				}
				b.ReportMetric(float64(claims)/float64(b.N), "offers/op")
				b.ReportMetric(float64(trips)/float64(b.N), "trips/op")
			})
		}
	}
}

// BenchmarkQueueOfferLatency measures, with 1,000 callers waiting (half this node's) and
// 500 agents on calls, the time from one agent's call ending (the store update to
// available, then the agent.state event the API and the call engine publish, which wakes
// the dispatcher) to the offer arriving at the head caller's channel, with the
// dispatcher's own loop running (its 500 ms tick included). Reported as p50-ms and p99-ms
// over the iterations (-benchtime 300x gives 300 samples).
func BenchmarkQueueOfferLatency(b *testing.B) {
	const waiting, agents, settle = 1000, 500, 50 * time.Millisecond
	srv := startBenchRedis(b)
	h := newQueueBench(b, srv, waiting, agents, nil)
	ctx, cancel := context.WithCancel(h.ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); h.d.run(ctx) }()
	type arrival struct {
		at time.Time
		m  any
	}
	arrivals := make(chan arrival, 16)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for m := range h.in {
			arrivals <- arrival{at: time.Now(), m: m}
		}
	}()
	defer func() { cancel(); <-stopped; close(h.in); <-drained }()

	lat := make([]time.Duration, 0, b.N)
	next := int64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next = next%agents + 1
		head := h.firstMine(1)[0]
		start := time.Now()
		a := h.free(next)
		h.d.e.bus.Publish(event.Event{Type: "agent.state", Time: start, Data: a})
		var got arrival
		select {
		case got = <-arrivals:
		case <-time.After(10 * time.Second):
			b.Fatalf("iteration %d: no offer within 10 s", i)
		}
		b.StopTimer()
		lat = append(lat, got.at.Sub(start))
		if id, uids := offerOf(b, got.m); id != head || !slices.Equal(uids, []int64{next}) {
			b.Fatalf("iteration %d: offer of %v to %s, want agent %d to %s", i, uids, id, next, head)
		}
		h.answer(next, head)
		h.served(2) // the head caller, and the other node's caller after it
		// let the cycles woken by the joins end: each sample starts with the dispatcher
		// idle but for its own tick
		time.Sleep(settle)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}
