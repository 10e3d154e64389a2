package pbx_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
	"github.com/centrala/centrala/routing"
)

// queueBackend is the queues and agents of a queue test.
type queueBackend struct {
	h      *pbxHarness
	mu     sync.Mutex
	queues map[int64]queue.Queue
}

func (b *queueBackend) Queue(_ context.Context, id int64) (queue.Queue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[id]
	if !ok {
		return queue.Queue{}, fmt.Errorf("no queue %d: %w", id, pbx.ErrNotFound)
	}
	q.Defaults()
	return q, nil
}

func (b *queueBackend) Agent(_ context.Context, uid int64) (pbx.Party, error) {
	b.h.plan.mu.Lock()
	defer b.h.plan.mu.Unlock()
	p, ok := b.h.plan.byUser[uid]
	if !ok {
		return pbx.Party{}, fmt.Errorf("no user %d", uid)
	}
	return p, nil
}

func (b *queueBackend) Music(class string) []string {
	return []string{"moh:" + class + "/1", "moh:" + class + "/2"}
}

// Tones of the queue tests: the music (two tracks) and the announcements.
var queueTones = tonePrompts{"moh:default/1": 500, "moh:default/2": 600,
	"system:queue-youarenext": 900, "system:queue-thereare": 1000, "system:digits/2": 1100, "system:queue-callswaiting": 1200}

type queueHarness struct {
	*pbxHarness
	st queue.Store
	b  *queueBackend
}

// startQueues starts a PBX whose numbers lead to queues qs (did: the first; numbers maps
// more), with the memory queue store and a 50 ms dispatch cycle.
func startQueues(t *testing.T, numbers map[string]routing.Destination, qs ...queue.Queue) *queueHarness {
	t.Helper()
	st := memstore.New()
	b := &queueBackend{queues: map[int64]queue.Queue{}}
	in := routing.GraphInput{Numbers: numbers, Queues: map[int64]bool{}, QueueExits: map[int64][]routing.QueueExit{},
		Extensions: map[string]bool{"2100": true}}
	for _, q := range qs {
		b.queues[q.ID] = q
		in.Queues[q.ID] = true
		for _, o := range q.Overflows() {
			in.QueueExits[q.ID] = append(in.QueueExits[q.ID], routing.QueueExit{Field: o.Field, Destination: o.Destination})
		}
	}
	h := startInbound(t, in, queueTones, pbx.WithQueues(st, b, "node-a", 50*time.Millisecond), pbx.WithBusy(st),
		pbx.WithClock(time.Now)) // queue timing (wrap-up, retry delay) runs on the real clock
	b.h = h
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range numbers {
			if !yield(n) {
				return
			}
		}
	}) {
		h.plan.mu.Lock()
		h.plan.dids[n] = pbx.Inbound{DID: n}
		h.plan.mu.Unlock()
	}
	return &queueHarness{pbxHarness: h, st: st, b: b}
}

// login logs agent uid in (available) at at.
func (h *queueHarness) login(t *testing.T, uid int64, at time.Time) {
	t.Helper()
	if _, err := h.st.Update(context.Background(), uid, at, func(a queue.Agent) (queue.Agent, error) { return a.Login(at) }); err != nil {
		t.Fatal(err)
	}
}

func (h *queueHarness) agent(t *testing.T, uid int64) queue.Agent {
	t.Helper()
	a, err := h.st.Agent(context.Background(), uid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitAgent waits until agent uid is in state s (up to 10 s: a ring time and more).
func (h *queueHarness) waitAgent(t *testing.T, uid int64, s queue.State) queue.Agent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := h.agent(t, uid)
		if a.State == s {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %d is %s (%+v), want %s", uid, a.State, a, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordOf waits for the ended record of the call from caller.
func (h *queueHarness) recordOf(t *testing.T, caller string) cdr.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := h.db.ListCDRs(context.Background(), store.CDRFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Caller == caller && !r.Live() {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended call record from %s", caller)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func outcomes(s cdr.QueueStay) []string {
	var out []string
	for _, o := range s.Offers {
		out = append(out, fmt.Sprintf("%d:%s", o.UserID, o.Outcome))
	}
	return out
}

func toQueue(id int64) routing.Destination {
	return routing.Destination{Type: routing.DestQueue, Target: fmt.Sprint(id)}
}

// TestQueueLongestIdleAnswersThenWrapUp: the caller hears the music until the agent idle
// the longest answers; the agent is on_call, then after_call_work for the queue's wrap-up,
// and the next caller goes to the other agent; the record holds the stay and its offer.
func TestQueueLongestIdleAnswersThenWrapUp(t *testing.T) {
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.LongestIdle, WrapUpSeconds: ptr(2),
			Members: []queue.Member{{UserID: 1}, {UserID: 2}}})
	h.user(1, "2001", "agent-1")
	h.user(2, "2002", "agent-2")
	p1 := h.phone(t, "agent-1", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})
	p2 := h.phone(t, "agent-2", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})
	now := time.Now()
	h.login(t, 2, now.Add(-time.Minute)) // idle longer
	h.login(t, 1, now)

	_, call := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("caller: %d %v", code, err)
	}
	in, err := p2.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a := h.waitAgent(t, 2, queue.Offered); a.Current == nil || a.Current.CallID == "" {
		t.Fatalf("offered agent without the offer: %+v", a)
	}
	waitTones(t, call, queueTones, 500) // music while the agent's phone rings
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	h.waitAgent(t, 2, queue.OnCall)
	if err := in.WaitRTP(10, 3*time.Second); err != nil {
		t.Fatalf("agent hears no caller: %v", err)
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	a := h.waitAgent(t, 2, queue.AfterCallWork)
	if d := a.WrapUpUntil.Sub(a.Since); d != 2*time.Second {
		t.Fatalf("wrap-up %v, want 2s", d)
	}
	if len(rec.Queues) != 1 {
		t.Fatalf("queue stays %+v", rec.Queues)
	}
	s := rec.Queues[0]
	if s.QueueID != 1 || s.Exit != "answered" || s.AnsweredBy == nil || *s.AnsweredBy != 2 || s.WrapUpMS != 2000 ||
		!slices.Equal(outcomes(s), []string{"2:answered"}) || s.TalkMS <= 0 {
		t.Fatalf("stay %+v", s)
	}
	if rec.Disposition != cdr.Answered || rec.UserID == nil || *rec.UserID != 2 {
		t.Fatalf("record %+v", rec)
	}
	if hops := path(t, rec); hops[len(hops)-1].Type != "queue" || hops[len(hops)-1].Answered != "2002" {
		t.Fatalf("path %s", rec.Path)
	}

	// Agent 2 is in wrap-up: the next caller goes to agent 1.
	_, call2 := trunkCall(t, h.pbxHarness, "+48601000002", pbxtest.PhoneOptions{})
	in1, err := p1.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Calls()) != 1 {
		t.Fatalf("agent 2 was offered during wrap-up")
	}
	_ = in1.Answer()
	if err := in1.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = call2.Hangup()
	h.waitAgent(t, 2, queue.Available) // wrap-up over
}

// TestQueueMissedOfferMakesNotReadyAndRetries: linear, agent 1 never answers: after the ring
// time the offer is missed, agent 1 goes not_ready (missed_offers, limit 1) and the caller,
// after the retry delay, goes to agent 2, who rejects (486: a miss too, but limit... agent 2
// has a limit of 1 as well) and then nobody is left: the caller waits until max_wait and
// leaves for the on_max_wait extension.
func TestQueueMissedOfferMakesNotReadyAndRetries(t *testing.T) {
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.Linear, RingSeconds: 5, RetryDelaySeconds: ptr(1),
			NotReadyAfterMissed: ptr(1), MaxWaitSeconds: 9, OnMaxWait: &routing.Destination{Type: routing.DestExtension, Target: "2100"},
			Members: []queue.Member{{UserID: 1}, {UserID: 2}}})
	h.user(1, "2001", "agent-1")
	h.user(2, "2002", "agent-2")
	h.user(3, "2100", "reception")
	p1 := h.phone(t, "agent-1", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})
	p2 := h.phone(t, "agent-2", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.Reject, Code: 486}})
	reception := h.phone(t, "reception", pbxtest.PhoneOptions{})
	h.login(t, 1, time.Now())
	h.login(t, 2, time.Now())

	_, call := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	if _, err := p1.WaitIncoming(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	a := h.waitAgent(t, 1, queue.NotReady)
	if a.Reason != queue.ReasonMissedOffers || a.MissedOffers != 1 {
		t.Fatalf("agent 1 after the missed offer: %+v", a)
	}
	if _, err := p2.WaitIncoming(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if a := h.waitAgent(t, 2, queue.NotReady); a.Reason != queue.ReasonMissedOffers {
		t.Fatalf("agent 2 after rejecting: %+v", a)
	}
	in, err := reception.WaitIncoming(8 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Answer()
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = call.Hangup()
	rec := h.record(t)
	if len(rec.Queues) != 1 {
		t.Fatalf("stays %+v", rec.Queues)
	}
	s := rec.Queues[0]
	if s.Exit != "timeout" || s.AnsweredBy != nil || !slices.Equal(outcomes(s), []string{"1:no_answer", "2:rejected"}) ||
		s.WaitMS < 9000 || s.Offers[0].RingMS < 5000 {
		t.Fatalf("stay %+v", s)
	}
	hops := path(t, rec)
	if len(hops) < 2 || hops[len(hops)-2].Type != "queue" || hops[len(hops)-2].Note == "" || hops[len(hops)-1].Answered != "2100" {
		t.Fatalf("path %s", rec.Path)
	}
	if len(p1.Calls()) != 1 || len(p2.Calls()) != 1 {
		t.Fatalf("agents offered %d and %d times", len(p1.Calls()), len(p2.Calls()))
	}
}

// TestQueuePriorityAndAnnouncements: with no agent logged in callers wait (join_empty
// allow) and hear their position; a caller who comes later through a number with a higher
// priority is served first when an agent logs in.
func TestQueuePriorityAndAnnouncements(t *testing.T) {
	const vip = "+48225550199"
	vipDest := toQueue(1)
	vipDest.Priority = 10
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1), vip: vipDest},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.RingAll, AnnouncePositionSeconds: 4, // below the API minimum (15 s), for a short test
			Members: []queue.Member{{UserID: 1}}})
	h.user(1, "2001", "agent-1")
	p1 := h.phone(t, "agent-1", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})

	_, first := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	if code, err := first.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("first caller: %d %v", code, err)
	}
	time.Sleep(20 * time.Millisecond) // joined a millisecond apart at least
	o := pbxtest.PhoneOptions{Server: h.UDPAddr(), Username: "+48601000002"}
	ph := pbxtest.NewPhone(t, o)
	second, err := ph.Dial(vip)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := second.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("second caller: %d %v", code, err)
	}
	waiting := func() []queue.Caller {
		cs, err := h.st.Waiting(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cs := waiting()
		if len(cs) == 2 && cs[0].CallID == second.CallID() && cs[0].Priority == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %+v", cs)
		}
	}
	// Every 4 s the first caller (position 2) hears "you are caller number two, waiting".
	waitTonesFor(t, first, 8*time.Second, 1000, 1100, 1200)
	waitTonesFor(t, second, 4*time.Second, 900)

	h.login(t, 1, time.Now())
	in, err := p1.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Invite().From().Address.User; got != "+48601000002" {
		t.Fatalf("the agent was offered %s first, want the priority caller", got)
	}
	_ = in.Answer()
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cs := waiting()
		if len(cs) == 1 && cs[0].CallID == first.CallID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting after the answer %+v", cs)
		}
	}
	// A supervisor raises the first caller's priority while it waits: its record says so.
	if err := h.st.SetPriority(context.Background(), 1, first.CallID(), 30); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a few dispatch cycles read it
	_ = first.Hangup()
	if rec := h.recordOf(t, "+48601000001"); len(rec.Queues) != 1 || rec.Queues[0].Priority != 30 || rec.Queues[0].Exit != "abandoned" {
		t.Fatalf("first caller's stays %+v", rec.Queues)
	}
	_ = second.Hangup()
	if rec := h.recordOf(t, "+48601000002"); len(rec.Queues) != 1 || rec.Queues[0].Priority != 10 || rec.Queues[0].Exit != "answered" {
		t.Fatalf("priority caller's stays %+v", rec.Queues)
	}
}

// waitTonesFor is waitTones with a deadline.
func waitTonesFor(t *testing.T, call *pbxtest.PhoneCall, d time.Duration, want ...float64) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := pbxtest.ToneSequence(call.Heard(), queueTones.freqs())
		for i := 0; i+len(want) <= len(got); i++ {
			if slices.Equal(got[i:i+len(want)], want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("caller heard tones %v, want %v among them", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestQueueJoinEmptyGoesToDestination: join_empty destination sends a caller to on_empty at
// once when no agent is logged in; the stay is recorded with exit empty.
func TestQueueJoinEmptyGoesToDestination(t *testing.T) {
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.RingAll, JoinEmpty: queue.JoinDestination,
			OnEmpty: &routing.Destination{Type: routing.DestExtension, Target: "2100"}, Members: []queue.Member{{UserID: 1}}})
	h.user(1, "2001", "agent-1")
	h.user(3, "2100", "reception")
	reception := h.phone(t, "reception", pbxtest.PhoneOptions{})
	_, call := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	in, err := reception.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 { // hang up after the answer, not a CANCEL
		t.Fatalf("caller: %d %v", code, err)
	}
	_ = call.Hangup()
	rec := h.record(t)
	if len(rec.Queues) != 1 || rec.Queues[0].Exit != "empty" || len(rec.Queues[0].Offers) != 0 {
		t.Fatalf("stays %+v", rec.Queues)
	}
}

// TestQueueStrategies: for each strategy, three logged-in agents with different idle times,
// answered counts and talk times, and the phones that ring for a SIPp caller are the ones
// the strategy picks; the caller hangs up while they ring (offers cancelled, not missed).
func TestQueueStrategies(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		strategy queue.Strategy
		last     int64   // round_robin: offered last
		want     []int64 // rung at once (random: any one of them)
	}{
		{queue.RingAll, 0, []int64{1, 2, 3}},
		{queue.Linear, 0, []int64{1}},
		{queue.RoundRobin, 1, []int64{2}},
		{queue.LongestIdle, 0, []int64{3}},   // logged in first
		{queue.FewestCalls, 0, []int64{2}},   // 1 answered
		{queue.LeastTalkTime, 0, []int64{1}}, // 50 s
		{queue.Random, 0, []int64{1, 2, 3}},  // one of them
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
				queue.Queue{ID: 1, Name: "q", Strategy: tc.strategy, Members: []queue.Member{{UserID: 1}, {UserID: 2}, {UserID: 3}}})
			phones := map[int64]*pbxtest.Phone{}
			stats := map[int64]struct {
				login    time.Duration // before now
				answered int
				talk     queue.Millis
			}{1: {time.Minute, 5, 50000}, 2: {2 * time.Minute, 1, 300000}, 3: {3 * time.Minute, 3, 100000}}
			for uid := int64(1); uid <= 3; uid++ {
				acct := fmt.Sprintf("agent-%d", uid)
				h.user(uid, fmt.Sprint(2000+uid), acct)
				phones[uid] = h.phone(t, acct, pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})
				st := stats[uid]
				h.login(t, uid, now.Add(-st.login))
				if _, err := h.st.Update(context.Background(), uid, now, func(a queue.Agent) (queue.Agent, error) {
					a.Answered, a.Talk = st.answered, st.talk
					return a, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.last != 0 {
				if err := h.st.SetLastOffered(context.Background(), 1, tc.last); err != nil {
					t.Fatal(err)
				}
			}
			abandons := h.Bus.Subscribe(8, func(e event.Event) bool { return e.Type == "queue.abandoned" })
			defer abandons.Close()
			// A SIPp caller from the trunk's address, hanging up after 1.5 s in the queue.
			caller := pbxtest.StartSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: h.UDPAddr(),
				Calls: 1, Rows: [][]string{{"+48601000001", "unused", did}}, Vars: map[string]string{"hold_ms": "1500", "audio": "none"}})
			time.Sleep(700 * time.Millisecond) // every phone of the attempt rings by now
			var rung []int64
			for uid, ph := range phones {
				if len(ph.Calls()) > 0 {
					rung = append(rung, uid)
				}
			}
			slices.Sort(rung)
			if tc.strategy == queue.Random {
				if len(rung) != 1 || !slices.Contains(tc.want, rung[0]) {
					t.Fatalf("random rang %v, want one of %v", rung, tc.want)
				}
			} else if !slices.Equal(rung, tc.want) {
				t.Fatalf("%s rang %v, want %v", tc.strategy, rung, tc.want)
			}
			for _, uid := range rung {
				if a := h.agent(t, uid); a.State != queue.Offered {
					t.Fatalf("agent %d rung but %s", uid, a.State)
				}
			}
			if res := caller.Wait(); res.Successful != 1 {
				t.Fatalf("caller: %s", res)
			}
			select {
			case <-abandons.C:
			case <-time.After(3 * time.Second):
				t.Fatal("no queue.abandoned event for the caller who hung up while agents rang")
			}
			for _, uid := range rung { // the caller hung up: the offers failed, not missed
				if a := h.waitAgent(t, uid, queue.Available); a.MissedOffers != 0 {
					t.Fatalf("agent %d counted a miss for a caller who hung up: %+v", uid, a)
				}
			}
			if rec := h.record(t); len(rec.Queues) != 1 || rec.Queues[0].Exit != "abandoned" || len(rec.Queues[0].Offers) != len(rung) ||
				rec.Queues[0].Offers[0].Outcome != "cancelled" {
				t.Fatalf("stays %+v", rec.Queues)
			}
		})
	}
}

// TestQueueFullAndLeaveWhenEmpty: with max_callers 1 a second caller goes to on_full at
// once; when the last agent logs out (leave_when_empty) the waiting caller leaves for
// on_empty (hang up 486 here: a BYE, the queue answered it).
func TestQueueFullAndLeaveWhenEmpty(t *testing.T) {
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.RingAll, MaxCallers: 1,
			OnFull:         &routing.Destination{Type: routing.DestExtension, Target: "2100"},
			LeaveWhenEmpty: true, OnEmpty: &routing.Destination{Type: routing.DestHangup, Target: "486"},
			Members: []queue.Member{{UserID: 1}}})
	h.user(1, "2001", "agent-1")
	h.user(3, "2100", "reception")
	reception := h.phone(t, "reception", pbxtest.PhoneOptions{})
	h.login(t, 1, time.Now())
	if _, err := h.st.Update(context.Background(), 1, time.Now(), func(a queue.Agent) (queue.Agent, error) {
		return a.Pause(time.Now(), "break", queue.DefaultReasons)
	}); err != nil {
		t.Fatal(err)
	}
	_, first := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	if code, err := first.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("first caller: %d %v", code, err)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cs, _ := h.st.Waiting(context.Background(), 1); len(cs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first caller did not join")
		}
	}
	_, second := trunkCall(t, h.pbxHarness, "+48601000002", pbxtest.PhoneOptions{})
	in, err := reception.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatalf("the second caller was not sent to on_full: %v", err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := second.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("second caller: %d %v", code, err)
	}
	_ = second.Hangup()
	if rec := h.record(t); len(rec.Queues) != 1 || rec.Queues[0].Exit != "full" {
		t.Fatalf("second caller's stays %+v", rec.Queues)
	}

	if _, err := h.st.Update(context.Background(), 1, time.Now(), func(a queue.Agent) (queue.Agent, error) {
		return a.Logout(time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.WaitEnded(3 * time.Second); err != nil {
		t.Fatalf("the first caller was not made to leave: %v", err)
	}
	rec := h.recordOf(t, "+48601000001")
	if len(rec.Queues) != 1 || rec.Queues[0].Exit != "empty" {
		t.Fatalf("first caller's stays %+v", rec.Queues)
	}
	if hops := path(t, rec); hops[len(hops)-1].Type != "hangup" || hops[len(hops)-1].Target != "486" {
		t.Fatalf("path %s", rec.Path)
	}
}

// TestQueueDeletedWhileWaiting: a queue deleted under a waiting caller sends it on (no
// overflow: hang up, a BYE as the queue answered it); the stay is recorded.
func TestQueueDeletedWhileWaiting(t *testing.T) {
	h := startQueues(t, map[string]routing.Destination{did: toQueue(1)},
		queue.Queue{ID: 1, Name: "support", Strategy: queue.RingAll, Members: []queue.Member{{UserID: 1}}})
	h.user(1, "2001", "agent-1")
	_, call := trunkCall(t, h.pbxHarness, "+48601000001", pbxtest.PhoneOptions{})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("caller: %d %v", code, err)
	}
	time.Sleep(200 * time.Millisecond)
	h.b.mu.Lock()
	delete(h.b.queues, 1)
	h.b.mu.Unlock()
	if _, err := call.WaitEnded(3 * time.Second); err != nil {
		t.Fatalf("the caller stayed in a deleted queue: %v", err)
	}
	if rec := h.record(t); len(rec.Queues) != 1 || rec.Queues[0].Exit != "empty" {
		t.Fatalf("stays %+v", rec.Queues)
	}
	if cs, err := h.st.Waiting(context.Background(), 1); err != nil || len(cs) != 0 {
		t.Fatalf("still waiting: %+v %v", cs, err)
	}
}
