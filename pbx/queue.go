package pbx

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

// Call queues. A call whose walk reaches a queue node is answered, joins the queue's waiting
// callers in the shared queue store (queue.Store: in process, or Redis shared by every
// node) and hears music on hold and periodic announcements (call_queue.go). Each node runs
// one dispatcher for the callers of its own calls: every cycle (Interval, and at once when
// an agent becomes available on this node or a caller joins or finishes an attempt) it
// reads each queue's waiting callers (all nodes') and members, picks agents with the
// queue's strategy and claims them for its callers (Store.Claim: one atomic decision, so
// two nodes never offer one agent two calls), then hands the claimed agents to the call,
// which rings their devices.
//
// Order across nodes: the dispatchers walk the same ordered list of waiting callers and the
// same ordered groups of agents (queue.Pick); a caller of another node takes the next group
// without this node claiming it (that node's dispatcher claims it for its caller), so the
// first caller gets the first agent whichever node holds it. Callers being rung (Ringing),
// or waiting out their retry delay, take no group. A claim that loses a race only moves the
// caller on to the next group.

// QueueBackend is what the queue dispatcher asks of the project's configuration (cmd
// implements it over the store and the music directory).
type QueueBackend interface {
	// Queue is the configuration of queue id (with defaults filled in); ErrNotFound when it
	// was deleted (its waiting callers then leave), another error when it cannot be read now.
	Queue(ctx context.Context, id int64) (queue.Queue, error)
	// Agent is the user behind an agent: the SIP accounts whose devices ring for an offer,
	// the extension for the walk's path.
	Agent(ctx context.Context, userID int64) (Party, error)
	// Music lists the prompt references of a music-on-hold class, in play order; empty
	// (silence) when the class has no tracks.
	Music(class string) []string
}

// DefaultDispatchInterval is how often each node's dispatcher looks at its queues when
// nothing wakes it: the longest a caller waits for an agent freed on another node.
const DefaultDispatchInterval = 500 * time.Millisecond

const (
	// callerLease is how long a waiting caller's record holds without renewal; callerRenew
	// how often the node renews it.
	// While a node's caller is eligible, other nodes leave it a group of agents: after a
	// crash that lasts until the lease ends.
	callerLease = 15 * time.Second
	callerRenew = 5 * time.Second
	// partyTTL is how long the dispatcher keeps an agent's devices (SIP accounts),
	// registeredTTL whether one of them is registered, and queueTTL a queue's
	// configuration (a change through the API applies within it; cycles run on every wake).
	partyTTL      = 5 * time.Second
	registeredTTL = time.Second
	queueTTL      = time.Second
	// storeTimeout bounds one queue-store operation of the dispatcher or a call.
	storeTimeout = 3 * time.Second
)

// WithQueues turns call queues on: st is the shared ACD state, b the configuration, node
// this process's name in the store (offers and callers name it), interval the dispatch
// cycle (0: DefaultDispatchInterval). Without it a queue destination is answered 480.
func WithQueues(st queue.Store, b QueueBackend, node string, interval time.Duration) Option {
	return func(e *Engine) error {
		if st == nil || b == nil || node == "" {
			return errors.New("pbx: queues need a store, a backend and a node name")
		}
		if interval <= 0 {
			interval = DefaultDispatchInterval
		}
		e.queues = &dispatcher{e: e, st: st, b: b, node: node, interval: interval, wake: make(chan struct{}, 1),
			waiting: map[int64]map[string]*waiter{}, onCall: map[string]onCall{}, handle: map[int64]time.Duration{},
			parties: map[int64]partyEntry{}, reg: map[int64]regEntry{}, queues: map[int64]queueEntry{}}
		return nil
	}
}

// dispatcher offers this node's waiting callers to agents.
type dispatcher struct {
	e        *Engine
	st       queue.Store
	b        QueueBackend
	node     string
	interval time.Duration
	wake     chan struct{}

	mu      sync.Mutex
	waiting map[int64]map[string]*waiter // queue id -> call id -> this node's waiting callers
	onCall  map[string]onCall            // call id -> the agent who answered it (lease renewal)
	handle  map[int64]time.Duration      // queue id -> handle time of this node's calls (moving average)
	parties map[int64]partyEntry
	reg     map[int64]regEntry
	queues  map[int64]queueEntry
}

type queueEntry struct {
	q   queue.Queue
	err error
	at  time.Time
}

type regEntry struct {
	ok bool
	at time.Time
}

// waiter is a waiting call of this node. Fields other than c are guarded by dispatcher.mu.
type waiter struct {
	c       *call
	caller  queue.Caller // as last written to the store
	renewed time.Time
	// what the last cycle saw, for announcements
	position int
	census   queue.Census
}

type onCall struct {
	user  int64
	queue int64
}

type partyEntry struct {
	p   Party
	err error
	at  time.Time
}

// Messages from the dispatcher to a call.
type (
	// queueOffer hands the call agents claimed for it: ring their devices.
	queueOffer struct{ agents []offered }
	// queueLeave makes the caller leave the queue for dest (nil: hang up) because of why.
	queueLeave struct {
		exit queue.Exit
		dest *routing.Destination
		why  string
	}
)

type offered struct {
	agent queue.Agent
	party Party
}

// poke wakes the dispatcher for a cycle now.
func (d *dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// pokeAt wakes the dispatcher at t (an agent's wrap-up end, a caller's retry delay). A
// poke after the dispatcher stopped is harmless (the channel has room for one).
func (d *dispatcher) pokeAt(t time.Time) {
	time.AfterFunc(time.Until(t)+10*time.Millisecond, d.poke)
}

// run dispatches until ctx ends, renewing the leases of this node's agents on queue calls
// beside (their own goroutine: hundreds of renewals do not hold up a dispatch).
func (d *dispatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		renew := time.NewTicker(busyRenew)
		defer renew.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-renew.C:
				d.renewOnCall(ctx)
			}
		}
	})
	t := time.NewTicker(d.interval)
	defer t.Stop()
	// An agent made available (API, feature code, end of an offer; on another node too when
	// its events reach this bus) is taken at once; anything else at the next tick.
	sub := d.e.bus.Subscribe(256, func(ev event.Event) bool {
		a, ok := ev.Data.(queue.Agent)
		return ev.Type == "agent.state" && ok && a.State == queue.Available
	})
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		case <-sub.C:
		}
		d.dispatch(ctx)
	}
}

// dispatch runs one cycle for every queue this node has callers in.
func (d *dispatcher) dispatch(ctx context.Context) {
	d.mu.Lock()
	var ids []int64
	for id, ws := range d.waiting {
		if len(ws) > 0 {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		start := time.Now()
		d.cycle(ctx, id, d.e.now())
		d.e.m.dispatchCycle(time.Since(start))
	}
}

// cycle offers queue qid's waiting callers of this node to its routable agents at now.
func (d *dispatcher) cycle(ctx context.Context, qid int64, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 2*storeTimeout)
	defer cancel()
	q, err := d.queue(ctx, qid, now)
	if errors.Is(err, ErrNotFound) {
		d.e.log.Warn("queue dispatch: the queue was deleted", "queue_id", qid)
		for _, w := range d.mine(qid) {
			d.remove(qid, w.caller.CallID)
			d.send(qid, w, queueLeave{exit: queue.ExitEmpty, why: "empty: the queue was deleted"})
		}
		return
	}
	if err != nil {
		d.e.log.Warn("queue dispatch: read the queue", "queue_id", qid, "error", err)
		return
	}
	callers, err := d.st.Waiting(ctx, qid)
	if err != nil {
		d.e.log.Warn("queue dispatch: waiting callers", "queue_id", qid, "error", err)
		return
	}
	look, census, err := d.presence(ctx, &q, now)
	if err != nil {
		d.e.log.Warn("queue dispatch: agents", "queue_id", qid, "error", err)
		return
	}
	mine := d.mine(qid)
	live := callers[:0]
	for _, c := range callers {
		if c.Gone(now) && mine[c.CallID] == nil { // its node died: nobody renews it
			if err := d.st.Leave(ctx, qid, c.CallID); err != nil {
				d.e.log.Warn("queue dispatch: remove a gone caller", "queue_id", qid, "call_id", c.CallID, "error", err)
			}
			continue
		}
		live = append(live, c)
	}
	// This node's callers: what they see, who must leave, leases to renew, records lost.
	seen := map[string]bool{}
	d.mu.Lock()
	for i, c := range live {
		w := mine[c.CallID]
		if w == nil {
			continue
		}
		seen[c.CallID] = true
		w.position, w.census = i+1, census
		w.caller.Priority = c.Priority // raised through the API meanwhile
	}
	d.mu.Unlock()
	for id, w := range mine {
		d.mu.Lock()
		c, renewed := w.caller, w.renewed
		d.mu.Unlock()
		if !c.Ringing {
			if leave, dest, why := q.Leave(c, now, census.LoggedIn); leave {
				exit := queue.ExitTimeout
				if !q.Expired(c, now) {
					exit = queue.ExitEmpty
				}
				d.send(qid, w, queueLeave{exit: exit, dest: dest, why: why})
				delete(mine, id)
				live = slices.DeleteFunc(live, func(x queue.Caller) bool { return x.CallID == id })
				continue
			}
		}
		if !seen[id] || now.Sub(renewed) >= callerRenew {
			d.write(ctx, w, func(c *queue.Caller) { c.LeaseUntil = now.Add(callerLease) }, now)
		}
	}

	cands := q.Candidates(now, look)
	d.e.log.Debug("queue dispatch", "queue_id", qid, "waiting", len(live), "mine", len(mine), "logged_in", census.LoggedIn,
		"routable", len(cands))
	if len(cands) == 0 {
		return
	}
	var last int64
	if q.Strategy == queue.RoundRobin {
		if last, err = d.st.LastOffered(ctx, qid); err != nil {
			d.e.log.Warn("queue dispatch: last offered", "queue_id", qid, "error", err)
		}
	}
	groups := q.Pick(cands, last, rand.IntN)
	g := 0
	for _, c := range live {
		if g >= len(groups) {
			break
		}
		if !c.Eligible(now) {
			continue
		}
		w := mine[c.CallID]
		if w == nil { // another node's caller: its dispatcher claims this group
			g++
			continue
		}
		var got []offered
		claimStart := time.Now()
		for ; g < len(groups) && len(got) == 0; g++ {
			for _, cand := range groups[g] {
				if o, ok := d.claim(ctx, &q, c, cand.UserID, now); ok {
					got = append(got, o)
				}
			}
		}
		if len(got) == 0 {
			break
		}
		if q.Strategy == queue.RoundRobin {
			if err := d.st.SetLastOffered(ctx, qid, got[len(got)-1].agent.UserID); err != nil {
				d.e.log.Warn("queue dispatch: last offered", "queue_id", qid, "error", err)
			}
		}
		d.write(ctx, w, func(c *queue.Caller) { c.Ringing, c.LeaseUntil = true, now.Add(callerLease) }, now)
		d.e.log.Debug("queue dispatch: offer", "queue_id", qid, "call_id", c.CallID, "agents", len(got), "claim", time.Since(claimStart))
		if !d.send(qid, w, queueOffer{agents: got}) {
			d.release(got, c.CallID)
		}
	}
}

// claim offers call c to agent uid; false when the agent was taken or changed meanwhile.
func (d *dispatcher) claim(ctx context.Context, q *queue.Queue, c queue.Caller, uid int64, now time.Time) (offered, bool) {
	p, err := d.party(ctx, uid, now)
	if err != nil {
		return offered{}, false
	}
	a, err := d.st.Claim(ctx, uid, queue.Offer{CallID: c.CallID, QueueID: q.ID, Node: d.node, LeaseUntil: now.Add(q.Lease())}, now, true)
	if err != nil {
		if !errors.Is(err, queue.ErrNotClaimed) {
			d.e.log.Warn("queue dispatch: claim", "queue_id", q.ID, "user_id", uid, "call_id", c.CallID, "error", err)
		}
		d.e.m.queueClaim(false)
		return offered{}, false
	}
	d.e.m.queueClaim(true)
	d.e.bus.Publish(event.Event{Type: "agent.state", Time: now, CallID: c.CallID, Data: a})
	return offered{agent: a, party: p}, true
}

// release gives back agents claimed for a call that cannot ring them.
func (d *dispatcher) release(got []offered, callID string) {
	for _, o := range got {
		d.update(o.agent.UserID, callID, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			return a.OfferFailed(callID, now)
		})
	}
	d.poke()
}

// update changes an agent's state for a call and publishes the new state.
func (d *dispatcher) update(uid int64, callID string, fn func(queue.Agent, time.Time) (queue.Agent, error)) (queue.Agent, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	now := d.e.now()
	a, err := d.st.Update(ctx, uid, now, func(a queue.Agent) (queue.Agent, error) { return fn(a, now) })
	if err != nil {
		d.e.log.Warn("queue: agent state", "user_id", uid, "call_id", callID, "error", err)
		return a, false
	}
	d.e.bus.Publish(event.Event{Type: "agent.state", Time: now, CallID: callID, Data: a})
	return a, true
}

// send delivers m to w's call; false when the call has ended.
func (d *dispatcher) send(qid int64, w *waiter, m any) bool {
	select {
	case w.c.in <- m:
		return true
	case <-w.c.done:
		d.remove(qid, w.caller.CallID)
		return false
	}
}

// mine is a copy of this node's waiting callers of queue qid.
func (d *dispatcher) mine(qid int64) map[string]*waiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*waiter, len(d.waiting[qid]))
	for id, w := range d.waiting[qid] {
		out[id] = w
	}
	return out
}

// write changes the node's fields of w's caller record (ringing, retry delay, lease) with
// fn and stores them (Store.Touch: a priority raised meanwhile stays); a record that was
// lost (Redis flushed) is written again whole.
func (d *dispatcher) write(ctx context.Context, w *waiter, fn func(*queue.Caller), now time.Time) {
	d.mu.Lock()
	fn(&w.caller)
	c := w.caller
	w.renewed = now
	d.mu.Unlock()
	err := d.st.Touch(ctx, c.QueueID, c.CallID, c.Ringing, c.RetryAt, c.LeaseUntil)
	if errors.Is(err, queue.ErrNotWaiting) {
		d.mu.Lock()
		still := d.waiting[c.QueueID][c.CallID] == w // not a caller that has just left
		d.mu.Unlock()
		if !still {
			return
		}
		err = d.st.Join(ctx, c)
	}
	if err != nil {
		d.e.log.Warn("queue: write caller", "queue_id", c.QueueID, "call_id", c.CallID, "error", err)
	}
}

// join adds call cl's caller c to the store and this node's waiters.
func (d *dispatcher) join(cl *call, c queue.Caller) error {
	ctx, cancel := context.WithTimeout(cl.ctx, storeTimeout)
	defer cancel()
	c.Node, c.LeaseUntil = d.node, c.JoinedAt.Add(callerLease)
	if err := d.st.Join(ctx, c); err != nil {
		return err
	}
	d.mu.Lock()
	if d.waiting[c.QueueID] == nil {
		d.waiting[c.QueueID] = map[string]*waiter{}
	}
	d.waiting[c.QueueID][c.CallID] = &waiter{c: cl, caller: c, renewed: c.JoinedAt}
	d.mu.Unlock()
	d.poke()
	return nil
}

// leave removes a caller from the store and this node's waiters.
func (d *dispatcher) leave(qid int64, callID string) {
	d.remove(qid, callID)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.st.Leave(ctx, qid, callID); err != nil {
		d.e.log.Warn("queue: leave", "queue_id", qid, "call_id", callID, "error", err)
	}
}

func (d *dispatcher) remove(qid int64, callID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.waiting[qid], callID)
	if len(d.waiting[qid]) == 0 {
		delete(d.waiting, qid)
	}
}

// attemptOver marks a caller whose attempt nobody answered: offered again after retry.
func (d *dispatcher) attemptOver(qid int64, callID string, retry time.Duration) {
	d.mu.Lock()
	w := d.waiting[qid][callID]
	d.mu.Unlock()
	if w == nil {
		return
	}
	now := d.e.now()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	d.write(ctx, w, func(c *queue.Caller) {
		c.Ringing, c.RetryAt, c.LeaseUntil = false, now.Add(retry), now.Add(callerLease)
	}, now)
	d.poke()
	if retry > 0 {
		d.pokeAt(now.Add(retry))
	}
}

// seen is what the last cycle saw of a waiting caller: its position (0: not seen yet) and
// the queue's census.
func (d *dispatcher) seen(qid int64, callID string) (int, queue.Census) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.waiting[qid][callID]; w != nil {
		return w.position, w.census
	}
	return 0, queue.Census{}
}

// priorityOf is the priority of this node's waiting caller as the last cycle read it (it
// may have been raised through the API); false when it is not waiting here.
func (d *dispatcher) priorityOf(qid int64, callID string) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.waiting[qid][callID]; w != nil {
		return w.caller.Priority, true
	}
	return 0, false
}

// presence reads q's members at now: agent state, and for the available ones whether they
// are on a call and have a registered device (the others are not routable anyway).
func (d *dispatcher) presence(ctx context.Context, q *queue.Queue, now time.Time) (queue.Lookup, queue.Census, error) {
	ids := make([]int64, len(q.Members))
	for i, m := range q.Members {
		ids[i] = m.UserID
	}
	agents, err := d.st.Agents(ctx, ids, now)
	if err != nil {
		return nil, queue.Census{}, err
	}
	ps := make(map[int64]queue.Presence, len(ids))
	var avail []int64
	for i, a := range agents {
		a.UserID = ids[i]
		ps[a.UserID] = queue.Presence{Agent: a}
		if a.State == queue.Available {
			avail = append(avail, a.UserID)
		}
	}
	busy, err := d.st.BusyMany(ctx, avail, now)
	if err != nil {
		return nil, queue.Census{}, err
	}
	for i, id := range avail {
		p := ps[id]
		p.Busy = busy[i]
		p.Registered = !p.Busy && d.registered(ctx, id, now)
		ps[id] = p
	}
	look := func(id int64) (queue.Presence, bool) { p, ok := ps[id]; return p, ok }
	return look, q.Census(now, look), nil
}

// loggedIn counts q's members logged in at now (any state but logged_out): one read of
// their states.
func (d *dispatcher) loggedIn(ctx context.Context, q *queue.Queue, now time.Time) (int, error) {
	ids := make([]int64, len(q.Members))
	for i, m := range q.Members {
		ids[i] = m.UserID
	}
	agents, err := d.st.Agents(ctx, ids, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range agents {
		if a.State != queue.LoggedOut {
			n++
		}
	}
	return n, nil
}

// registered reports whether any SIP account of agent uid has a binding, as seen at most
// registeredTTL ago (an offer to a phone that just unregistered fails and the caller is
// offered again).
func (d *dispatcher) registered(ctx context.Context, uid int64, now time.Time) bool {
	d.mu.Lock()
	r, ok := d.reg[uid]
	d.mu.Unlock()
	if ok && now.Sub(r.at) < registeredTTL && !now.Before(r.at) {
		return r.ok
	}
	reg := false
	if p, err := d.party(ctx, uid, now); err == nil {
		for _, acct := range p.Accounts {
			if bs, err := d.e.reg.Store().Lookup(ctx, acct, now); err == nil && len(bs) > 0 {
				reg = true
				break
			}
		}
	}
	d.mu.Lock()
	d.reg[uid] = regEntry{ok: reg, at: now}
	d.mu.Unlock()
	return reg
}

// queue is queue id's configuration, cached for queueTTL (a read error is not cached).
func (d *dispatcher) queue(ctx context.Context, id int64, now time.Time) (queue.Queue, error) {
	d.mu.Lock()
	e, ok := d.queues[id]
	d.mu.Unlock()
	if ok && now.Sub(e.at) < queueTTL && !now.Before(e.at) {
		return e.q, e.err
	}
	q, err := d.b.Queue(ctx, id)
	if err == nil || errors.Is(err, ErrNotFound) {
		d.mu.Lock()
		d.queues[id] = queueEntry{q: q, err: err, at: now}
		d.mu.Unlock()
	}
	return q, err
}

// party is agent uid's devices, cached for partyTTL.
func (d *dispatcher) party(ctx context.Context, uid int64, now time.Time) (Party, error) {
	d.mu.Lock()
	e, ok := d.parties[uid]
	d.mu.Unlock()
	if ok && now.Sub(e.at) < partyTTL {
		return e.p, e.err
	}
	p, err := d.b.Agent(ctx, uid)
	d.mu.Lock()
	d.parties[uid] = partyEntry{p: p, err: err, at: now}
	d.mu.Unlock()
	return p, err
}

// answered records that agent uid took call callID of queue qid: its lease is renewed while
// the call lasts.
func (d *dispatcher) answered(callID string, uid, qid int64) {
	d.mu.Lock()
	d.onCall[callID] = onCall{user: uid, queue: qid}
	d.mu.Unlock()
}

// callEnded forgets the call's lease and adds its handle time to the queue's average.
func (d *dispatcher) callEnded(callID string, qid int64, handle time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.onCall, callID)
	if h, ok := d.handle[qid]; ok {
		d.handle[qid] = (h*7 + handle) / 8
	} else {
		d.handle[qid] = handle
	}
}

// handleTime is the moving average handle time of the queue's calls on this node; 0 when
// none has ended yet.
func (d *dispatcher) handleTime(qid int64) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.handle[qid]
}

// renewOnCall extends the lease of every agent on a queue call of this node.
func (d *dispatcher) renewOnCall(ctx context.Context) {
	d.mu.Lock()
	calls := make(map[string]onCall, len(d.onCall))
	for id, oc := range d.onCall {
		calls[id] = oc
	}
	d.mu.Unlock()
	for id, oc := range calls {
		if ctx.Err() != nil {
			return
		}
		now := d.e.now()
		rctx, cancel := context.WithTimeout(ctx, storeTimeout)
		_, err := d.st.Update(rctx, oc.user, now, func(a queue.Agent) (queue.Agent, error) { return a.Renew(id, now.Add(busyTTL), now) })
		cancel()
		switch {
		case errors.Is(err, queue.ErrStaleOffer): // the call ended since the snapshot
			d.e.log.Debug("queue: lease of a call that ended", "user_id", oc.user, "call_id", id)
		case err != nil:
			d.e.log.Warn("queue: renew the lease of an agent on a call", "user_id", oc.user, "call_id", id, "error", err)
		}
	}
}
