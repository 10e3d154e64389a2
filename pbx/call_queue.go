package pbx

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

// A queue call (see queue.go for the dispatcher): admitted or sent to the queue's overflow,
// answered, joined, music on hold and announcements while it waits; each offer rings the
// claimed agents' devices for the queue's ring time with the music going on; the agents'
// states follow what happened (answered, missed, failed); after an unanswered attempt the
// caller waits the retry delay. The stay goes to the call's record with every offer.

// agentCall is the queue agent who answered the call.
type agentCall struct {
	q          queue.Queue
	user       int64
	answeredAt time.Time
	stay       *cdr.QueueStay
}

// queueCall runs a queue node; true when the walk goes on (an overflow destination).
func (c *call) queueCall(n routing.Node) bool {
	d := c.e.queues
	if d == nil {
		c.failed(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "queues are not configured")
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*storeTimeout)
	q, err := d.queue(ctx, n.Queue, c.e.now())
	cancel()
	if err != nil {
		c.log.Warn("call: queue", "queue_id", n.Queue, "error", err)
		c.walk.Exit(nil, fmt.Sprintf("queue %d: not available", n.Queue))
		return true
	}
	now := c.e.now()
	stay := &cdr.QueueStay{QueueID: q.ID, Priority: n.Priority, JoinedAt: now, Offers: []cdr.QueueOffer{}}
	c.stays = append(c.stays, stay)
	log := c.log.With("queue_id", q.ID)

	if ok, dest, why := c.admit(&q, now); !ok {
		exit := queue.ExitFull
		if strings.HasPrefix(why, string(queue.ExitEmpty)) {
			exit = queue.ExitEmpty
		}
		c.leftQueue(stay, exit, now)
		log.Info("call not admitted to the queue", "why", why)
		c.walk.Exit(dest, why)
		return true
	}
	if !c.ownAnswer(false) {
		c.leftQueue(stay, queue.ExitAbandoned, c.e.now())
		return false
	}
	caller := queue.Caller{CallID: c.a.callID, QueueID: q.ID, Priority: n.Priority, JoinedAt: now}
	if err := d.join(c, caller); err != nil {
		log.Error("call: join queue", "error", err)
		c.leftQueue(stay, queue.ExitAbandoned, c.e.now())
		c.stopByServer("queue state unavailable")
		return false
	}
	defer d.leave(q.ID, c.a.callID)
	log.Info("call joined the queue", "priority", n.Priority)
	c.publishQueue("queue.joined", stay, nil)

	c.holding, c.music, c.musicNext = true, d.b.Music(q.Music()), 0
	defer func() { c.holding, c.announce = false, nil }()
	c.playHold()
	var annTimer *time.Timer
	var annC <-chan time.Time
	if next, ok := q.NextAnnouncement(caller, c.e.now()); ok {
		annTimer = time.NewTimer(time.Until(next))
		defer annTimer.Stop()
		annC = annTimer.C
	}
	announce := func() {
		c.announce = c.announcement(d, &q)
		c.playHold()
		if next, ok := q.NextAnnouncement(caller, c.e.now()); ok {
			annTimer.Reset(time.Until(next))
		}
	}
	for c.queueWait(&q, stay, annC, announce) {
	}
	return c.walkOn
}

// queueWait waits for one event of a waiting caller and handles it; false when the stay is
// over (c.walkOn then says whether the walk goes on).
func (c *call) queueWait(q *queue.Queue, stay *cdr.QueueStay, timer <-chan time.Time, onTimer func()) bool {
	ev, _ := c.await(timer)
	switch ev {
	case evEnded:
		c.leftQueue(stay, queue.ExitAbandoned, c.e.now())
		c.publishQueue("queue.abandoned", stay, nil)
		c.walkOn = false
		return false
	case evPlayed:
		c.playHold()
	case evTimer:
		if onTimer != nil {
			onTimer()
		}
	case evQueue:
		m := c.qmsg
		c.qmsg = nil
		switch m := m.(type) {
		case queueLeave:
			c.stopPlayback()
			c.leftQueue(stay, m.exit, c.e.now())
			c.log.Info("call left the queue", "queue_id", q.ID, "why", m.why)
			c.publishQueue("queue.left", stay, map[string]any{"why": m.why})
			c.walk.Exit(m.dest, m.why)
			c.walkOn = true
			return false
		case queueOffer:
			if c.offerAgents(q, stay, m) {
				c.walkOn = false
				return false
			}
			if c.ended { // hung up while agents rang
				c.publishQueue("queue.abandoned", stay, nil)
				c.walkOn = false
				return false
			}
			c.e.queues.attemptOver(q.ID, c.a.callID, q.RetryDelay())
		}
	}
	return true
}

// admit decides whether the call may join q now (max_callers, join_empty,
// leave_when_empty), reading only what the queue's rules need: a queue without them
// admits every caller without a read.
func (c *call) admit(q *queue.Queue, now time.Time) (bool, *routing.Destination, string) {
	d := c.e.queues
	ctx, cancel := context.WithTimeout(c.ctx, 2*storeTimeout)
	defer cancel()
	waiting := 0
	if q.MaxCallers > 0 {
		callers, err := d.st.Waiting(ctx, q.ID)
		if err != nil {
			c.log.Warn("call: queue admission: waiting callers", "queue_id", q.ID, "error", err)
		}
		for _, w := range callers {
			if !w.Gone(now) {
				waiting++
			}
		}
	}
	loggedIn := 1
	if q.JoinEmpty == queue.JoinDestination || q.LeaveWhenEmpty {
		if n, err := d.loggedIn(ctx, q, now); err != nil { // without agent state, let the caller wait
			c.log.Warn("call: queue admission: agents", "queue_id", q.ID, "error", err)
		} else {
			loggedIn = n
		}
	}
	return q.Admit(waiting, loggedIn)
}

// leftQueue closes the stay.
func (c *call) leftQueue(stay *cdr.QueueStay, exit queue.Exit, at time.Time) {
	if stay.Exit != "" {
		return
	}
	if p, ok := c.e.queues.priorityOf(stay.QueueID, c.a.callID); ok {
		stay.Priority = p
	}
	stay.Exit, stay.LeftAt = string(exit), at
	stay.WaitMS = max(at.Sub(stay.JoinedAt), 0).Milliseconds()
	c.e.m.queueCall(stay.QueueID, string(exit), at.Sub(stay.JoinedAt))
}

// publishQueue publishes a queue event of the call (queue.joined, queue.answered,
// queue.abandoned, queue.left) with the stay.
func (c *call) publishQueue(typ string, stay *cdr.QueueStay, more map[string]any) {
	data := map[string]any{"cdr_id": c.cdrID, "queue_id": stay.QueueID, "stay": *stay}
	for k, v := range more {
		data[k] = v
	}
	c.e.bus.Publish(event.Event{Type: typ, Time: c.e.now(), CallID: c.a.callID, Data: data})
}

// playHold plays what a waiting caller hears next: the rest of an announcement, else the
// next music track (silence when the class has none).
func (c *call) playHold() {
	for len(c.announce) > 0 {
		ref := c.announce[0]
		c.announce = c.announce[1:]
		if c.play(ref) {
			return
		}
	}
	for range c.music {
		ref := c.music[c.musicNext%len(c.music)]
		c.musicNext++
		if c.play(ref) {
			return
		}
	}
	c.stopPlayback()
}

// announcement is what the caller hears of its place: "you are next" or "you are caller
// number N, waiting...", then the expected wait when there is something to go on.
func (c *call) announcement(d *dispatcher, q *queue.Queue) []string {
	pos, census := d.seen(q.ID, c.a.callID)
	wait, ok := census.ExpectedWait(pos, d.handleTime(q.ID))
	return announcementPrompts(pos, wait, ok)
}

// announcementPrompts are the system prompts (Asterisk's English set) saying position
// (0: unknown, not said) and the expected wait (when ok and not zero).
func announcementPrompts(position int, wait time.Duration, ok bool) []string {
	const s = routing.SystemPromptPrefix
	var p []string
	switch {
	case position == 1:
		p = append(p, s+"queue-youarenext")
	case position > 1:
		p = append(p, s+"queue-thereare")
		p = append(p, sayNumber(position)...)
		p = append(p, s+"queue-callswaiting")
	}
	if ok && wait > 0 {
		p = append(p, s+"queue-holdtime")
		if wait < time.Minute {
			p = append(p, s+"queue-less-than", s+"digits/1", s+"queue-minute")
		} else {
			p = append(p, sayNumber(int((wait+time.Minute-1)/time.Minute))...)
			p = append(p, s+"queue-minutes")
		}
	}
	return p
}

// sayNumber is n (0 to 999,999) as system digit prompts: "digits/21" is "twenty" "one".
func sayNumber(n int) []string {
	const s = routing.SystemPromptPrefix + "digits/"
	var p []string
	if n >= 1000 {
		p = append(sayNumber(n/1000), s+"thousand")
		if n %= 1000; n == 0 {
			return p
		}
	}
	if n >= 100 {
		p = append(p, s+strconv.Itoa(n/100), s+"hundred")
		if n %= 100; n == 0 {
			return p
		}
	}
	if n > 20 && n%10 != 0 {
		return append(p, s+strconv.Itoa(n/10*10), s+strconv.Itoa(n%10))
	}
	return append(p, s+strconv.Itoa(n))
}

// offerAgents rings the claimed agents' devices for one attempt; true when one answered
// (the call talked and is over).
func (c *call) offerAgents(q *queue.Queue, stay *cdr.QueueStay, m queueOffer) bool {
	d := c.e.queues
	offeredAt := c.e.now()
	first := len(c.branches)
	var rung []offered
	for _, o := range m.agents {
		if c.forkUser(o.party, c.fromName, c.fromUser) != forkStarted {
			c.offerDone(q, stay, o.agent.UserID, offeredAt, queue.OutcomeFailed)
			continue
		}
		rung = append(rung, o)
		c.log.Info("queue offer", "queue_id", q.ID, "user_id", o.agent.UserID)
	}
	if len(rung) == 0 {
		return false
	}
	c.stage, c.stageOver = true, false
	c.ringback = false
	c.ringTimeout = q.Ring()
	c.offering = &pendingOffers{q: q, stay: stay, rung: rung, at: offeredAt, first: first}
	answered := c.ring()
	c.stage = false
	c.offersDone(answered)
	if !answered {
		return false
	}
	w := c.winner
	now := c.e.now()
	c.leftQueue(stay, queue.ExitAnswered, now)
	uid := w.userID
	stay.AnsweredBy = &uid
	stay.WrapUpMS = q.WrapUp(uid).Milliseconds()
	c.agent = &agentCall{q: *q, user: uid, answeredAt: now, stay: stay}
	d.answered(c.a.callID, uid, q.ID)
	d.leave(q.ID, c.a.callID)
	c.walk.Answered(w.extension)
	c.t.forceReserve(uid)
	c.users = append(c.users, uid)
	c.busyStart(uid)
	c.publishQueue("queue.answered", stay, map[string]any{"user_id": uid})
	c.talk()
	return true
}

// pendingOffers are the offers of the attempt ringing now.
type pendingOffers struct {
	q     *queue.Queue
	stay  *cdr.QueueStay
	rung  []offered
	at    time.Time
	first int // the attempt's first branch
}

// offersDone records the outcome of the attempt's offers (once: when the call ends during
// the attempt, its end does it before the record is written).
func (c *call) offersDone(answered bool) {
	p := c.offering
	if p == nil {
		return
	}
	c.offering = nil
	for _, o := range p.rung {
		c.offerDone(p.q, p.stay, o.agent.UserID, p.at, c.offerOutcome(o.agent.UserID, p.first, answered))
	}
}

// offerOutcome is how the offer to agent uid ended, from its branches after index first.
func (c *call) offerOutcome(uid int64, first int, answered bool) queue.Outcome {
	if answered && c.winner != nil && c.winner.userID == uid {
		return queue.OutcomeAnswered
	}
	if answered || c.ended {
		return queue.OutcomeCancelled
	}
	failed, all := false, true
	for _, b := range c.branches[first:] {
		if b.userID != uid {
			continue
		}
		switch b.final {
		case 486, 600, 603:
			return queue.OutcomeRejected
		case 0, 408, 480, 487:
			all = false
		default:
			failed = true
		}
	}
	if failed && all {
		return queue.OutcomeFailed
	}
	return queue.OutcomeNoAnswer
}

// offerDone records an offer's outcome in the stay and the agent's state.
func (c *call) offerDone(q *queue.Queue, stay *cdr.QueueStay, uid int64, at time.Time, out queue.Outcome) {
	now := c.e.now()
	stay.Offers = append(stay.Offers, cdr.QueueOffer{UserID: uid, OfferedAt: at, RingMS: max(now.Sub(at), 0).Milliseconds(), Outcome: string(out)})
	c.e.m.queueOffer(q.ID, string(out))
	id := c.a.callID
	d := c.e.queues
	switch {
	case out == queue.OutcomeAnswered:
		d.update(uid, id, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			a, err := a.OfferAnswered(id, now)
			if err != nil {
				return a, err
			}
			return a.Renew(id, now.Add(busyTTL), now)
		})
	case out.Missed():
		if a, ok := d.update(uid, id, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			return a.OfferMissed(id, now, q.MissedLimit())
		}); ok && a.State == queue.NotReady {
			c.log.Info("agent made not_ready after missed offers", "user_id", uid, "missed", a.MissedOffers)
		}
	default:
		d.update(uid, id, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.OfferFailed(id, now) })
	}
}

// queueEnded completes the call's queue stays when the call ends: the talk time of the one
// an agent answered (whose agent goes to wrap-up), and stays left open by a stop.
func (c *call) queueEnded(now time.Time) []cdr.QueueStay {
	c.offersDone(false) // the call ended while agents rang: cancelled
	for _, s := range c.stays {
		if s.Exit == "" {
			c.leftQueue(s, queue.ExitAbandoned, now)
		}
	}
	if ac := c.agent; ac != nil {
		c.agent = nil
		talk := max(now.Sub(ac.answeredAt), 0)
		ac.stay.TalkMS = talk.Milliseconds()
		wrap := ac.q.WrapUp(ac.user)
		d := c.e.queues
		id := c.a.callID
		d.callEnded(id, ac.q.ID, talk+wrap) // no lease renewal races the end
		if a, ok := d.update(ac.user, id, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			return a.CallEnded(id, now, wrap)
		}); ok && a.State == queue.AfterCallWork {
			d.pokeAt(a.WrapUpUntil)
		}
	}
	if len(c.stays) == 0 {
		return nil
	}
	out := make([]cdr.QueueStay, len(c.stays))
	for i, s := range c.stays {
		out[i] = *s
	}
	return out
}

// releaseOffers gives back agents claimed for the call that it never got to ring (a
// dispatcher's message that arrived as the call ended).
func (c *call) releaseOffers() {
	for {
		select {
		case m := <-c.in:
			if o, ok := m.(queueOffer); ok {
				c.e.queues.release(o.agents, c.a.callID)
			}
		default:
			return
		}
	}
}
