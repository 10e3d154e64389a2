package pbx

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/routing"
)

// Inbound schemes: a call from a trunk to a project number walks the inbound graph
// (routing.Walk): schedules and caller rules are resolved by the walk itself; for a menu
// the call answers the caller (or sends early media), plays the prompts and collects
// keys (RFC 4733 through the relay, SIP INFO); an announcement plays; a ring group rings
// its members stage by stage; an extension rings as any internal call. Once somebody
// answers, the call talks as every other call.
//
// While we own the caller's media (after our 183 or 200 and before a callee answers), the
// call goroutine runs await, which answers the caller's requests (ACK, BYE, INFO, re-INVITE,
// UPDATE) itself.

// Prompts gives the audio of a prompt reference (an uploaded prompt's id, or "system:" and a
// path in the system set). cmd implements it over the API's prompt files, with a cache.
type Prompts interface {
	Prompt(ref string) (*media.Audio, error)
}

// Graphs gives the current inbound graph (*routing.GraphHolder is one); nil before the
// first is built.
type Graphs interface {
	Load() *routing.Graph
}

// WithInbound makes calls from trunks walk the inbound graph g gives, with the prompts of p.
// Without it a trunk's call to a number whose destination is not an extension or a hang-up
// is refused with 480.
func WithInbound(g Graphs, p Prompts) Option {
	return func(e *Engine) error {
		if g == nil || p == nil {
			return errors.New("pbx: inbound schemes need a graph holder and prompts")
		}
		e.graph, e.prompts = g, p
		return nil
	}
}

// inbound runs a trunk's call through the inbound graph from the number it is for.
func (c *call) inbound(did, callerNum string, clip *string, withheld bool) {
	tid := c.trunk.ID
	g := c.e.graph.Load()
	var err error
	if g != nil {
		c.walk, err = g.Start(did, callerNum)
	}
	callee := did
	var uid *int64
	if dest, ok := g.Number(did); ok && dest.Type == routing.DestExtension {
		callee = dest.Target
		if p, err := c.t.plan.Extension(c.ctx, callee); err == nil {
			uid = &p.UserID
		}
	}
	c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: callee, DID: did, CLIP: clip, TrunkID: &tid, UserID: uid})
	if g == nil || err != nil {
		c.log.Error("call: inbound graph", "did", did, "error", err)
		c.finish(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "no inbound scheme for "+did)
		return
	}
	c.dtmf = make(chan byte, 32)
	c.fromName, c.fromUser = "", callerNum
	if withheld {
		c.fromName, c.fromUser = "Anonymous", "anonymous"
	}
	published := 0
	defer func() { c.publishSteps(&published, true) }()
	defer func() {
		if !c.ended { // a node that neither ended the call nor went on: never leave the record open
			c.log.Error("call: inbound walk stopped with the call up")
			c.stopByServer("inbound scheme stopped")
		}
	}()
	for !c.ended {
		n := c.walk.Next(c.e.now())
		c.publishSteps(&published, false)
		if !c.runNode(n) {
			return
		}
	}
}

// publishSteps publishes the walk's steps after the first *done as call.step events (the
// schedule branch taken, a menu's input, a ring group's outcome...), logs them, and counts
// them in *done. The last step may still change (a menu waiting for input) unless all.
func (c *call) publishSteps(done *int, all bool) {
	path := c.walk.Path()
	end := len(path)
	if !all {
		end--
	}
	for _, h := range path[min(*done, max(end, 0)):max(end, 0)] {
		c.log.Info("call step", "type", h.Type, "target", h.Target, "branch", h.Branch, "digits", h.Digits, "note", h.Note)
		c.e.bus.Publish(event.Event{Type: "call.step", Time: c.e.now(), CallID: c.a.callID,
			Data: map[string]any{"cdr_id": c.cdrID, "step": h}})
	}
	*done = max(*done, end)
}

// runNode does what one node of the walk needs; false when the walk is over (answered and
// talked, or ended).
func (c *call) runNode(n routing.Node) bool {
	switch n.Kind {
	case routing.NodeExtension:
		callee, err := c.t.plan.Extension(c.ctx, n.Extension)
		if err != nil {
			c.failed(404, "Not Found", cdr.Failed, cdr.BySystem, "destination extension "+n.Extension+" is gone")
			return false
		}
		if !c.mediaReady() || !c.holdUsers(callee.UserID) {
			return false
		}
		c.ringback = c.ownMedia()
		c.ringTimeout = c.t.cfg.RingTimeout
		if c.fork(callee, c.fromName, c.fromUser) && c.ring() {
			c.talk()
		}
		return false
	case routing.NodeRingGroup:
		return c.ringGroup(n)
	case routing.NodeIVR:
		if !c.ownAnswer(n.IVR.Answer == routing.AnswerEarlyMedia) {
			return false
		}
		if n.Retry == 0 {
			c.e.m.ivrEntered(n.IVR.ID)
		}
		digits, ok := c.menu(n)
		if !ok {
			return false
		}
		c.walk.Input(digits)
		c.e.m.ivrOutcome(n.IVR.ID, lastIVRHop(c.walk))
		return true
	case routing.NodeAnnouncement:
		if !c.ownAnswer(true) {
			return false
		}
		for _, ref := range n.Prompts {
			if !c.playToEnd(ref) {
				return false
			}
		}
		c.walk.Done()
		return true
	case routing.NodeHangup:
		code := n.Code
		if code < 400 || code > 699 {
			code = 480
		}
		if c.answered.IsZero() {
			c.finish(code, reasonFor(code), cdr.Rejected, cdr.BySystem, n.Reason)
		} else {
			c.byeCaller()
			c.log.Info("call ended by its inbound scheme", "reason", n.Reason)
			c.end(cdr.Answered, 200, n.Reason, cdr.BySystem)
		}
		return false
	case routing.NodeExternal:
		return c.forward(n)
	case routing.NodeQueue:
		return c.queueCall(n)
	default:
		c.failed(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "destination "+string(n.Kind)+" is not supported")
		return false
	}
}

// lastIVRHop is the walk's last IVR step, for the metrics.
func lastIVRHop(w *routing.Walk) routing.Hop {
	p := w.Path()
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].Type == "ivr" {
			return p[i]
		}
	}
	return routing.Hop{}
}

// ownMedia reports whether the caller hears our media now (our 183 or our 200 went out).
func (c *call) ownMedia() bool { return c.earlyOwn || !c.answered.IsZero() }

// mediaReady opens the relay and prepares our answer to the caller's offer, once.
func (c *call) mediaReady() bool {
	if c.offerErr != nil {
		c.failed(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, c.offerErr.Error())
		return false
	}
	if c.relay == nil {
		if !c.openRelay() {
			return false
		}
		dtmf := c.dtmf
		c.relay.OnDTMF(media.LegA, func(d media.Digit) {
			select {
			case dtmf <- d.Key:
			default:
			}
		})
	}
	if c.aSDP == nil && !c.setCallerMedia(nil) {
		c.failed(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, "no usable SDP offer")
		return false
	}
	return true
}

// ownAnswer makes the caller hear us: a 183 with our SDP when early is asked and possible
// (the caller made an offer), else our 200, waiting for its ACK.
func (c *call) ownAnswer(early bool) bool {
	if !c.mediaReady() {
		return false
	}
	if !c.answered.IsZero() {
		return true
	}
	if early && c.aOffer != nil {
		if !c.earlyOwn {
			c.earlyOwn = true
			c.respondA(183, "Session Progress", c.aSDP)
		}
		return true
	}
	c.answerCaller(c.e.now())
	c.okInterval = sip.T1
	c.okNext = time.Now().Add(sip.T1)
	c.okGiveUp = time.Now().Add(64 * sip.T1)
	for c.okRes != nil && !c.ended {
		if ev, _ := c.await(nil); ev == evEnded {
			return false
		}
	}
	return !c.ended
}

// Media-phase events.
const (
	evEnded  = iota // the call ended (the caller hung up, the server stops, no RTP)
	evDigit         // a key from the caller
	evPlayed        // the playback ended
	evTimer         // the timer fired
	evAcked         // the caller acknowledged our 200
	evQueue         // a message of the queue dispatcher (c.qmsg)
)

// await waits for a key, the end of the playback or the timer (nil: none), answering the
// caller's requests meanwhile.
func (c *call) await(timer <-chan time.Time) (int, byte) {
	var timeout <-chan media.Leg
	if !c.answered.IsZero() {
		timeout = c.relay.Timeout()
	}
	var rt *time.Timer
	defer func() {
		if rt != nil {
			rt.Stop()
		}
	}()
	for {
		waitingAck := c.okRes != nil
		var retrans <-chan time.Time
		if waitingAck && !sip.IsReliable(c.a.transport) {
			if rt == nil {
				rt = time.NewTimer(time.Until(c.okNext))
			} else {
				rt.Reset(time.Until(c.okNext))
			}
			retrans = rt.C
		}
		select {
		case ack := <-c.tx.Acks():
			c.gotAck(ack)
		case m := <-c.in:
			switch m := m.(type) {
			case *inRequest:
				c.ownRequest(m)
			case branchResponse: // a branch of an earlier stage answering late
				c.lateBranchResponse(m)
			case callerCancelled:
				c.finalCode = 487
				c.end(cdr.Cancelled, 487, "Request Terminated", cdr.ByCaller)
				c.log.Info("call cancelled by caller")
			case shutdownCall:
				c.stopByServer("server stopping")
			case queueOffer, queueLeave:
				c.qmsg = m
				return evQueue, 0
			}
		case k := <-c.dtmf:
			return evDigit, k
		case <-c.playbackDone():
			c.playback = nil
			return evPlayed, 0
		case <-timer:
			return evTimer, 0
		case leg := <-timeout:
			c.callerSilent(leg)
		case <-retrans:
			if time.Now().After(c.okGiveUp) {
				c.log.Warn("call: caller never acknowledged the answer")
				c.byeCaller()
				c.end(cdr.Answered, 200, "no ACK", cdr.BySystem)
				break
			}
			if err := c.tx.Respond(c.okRes); err != nil {
				c.log.Debug("retransmit 200", "error", err)
			}
			c.okInterval = min(2*c.okInterval, sip.T2)
			c.okNext = time.Now().Add(c.okInterval)
		}
		if c.ended {
			c.stopPlayback()
			return evEnded, 0
		}
		if waitingAck && c.okRes == nil {
			return evAcked, 0
		}
	}
}

// gotAck takes the caller's ACK of our 200.
func (c *call) gotAck(ack *sip.Request) {
	if c.okRes == nil {
		return
	}
	c.okRes = nil
	c.ackAnswer(ack)
}

// ownRequest answers a request of the caller while we own its media (no callee yet).
func (c *call) ownRequest(m *inRequest) {
	defer func() {
		if !m.held {
			close(m.done)
		}
	}()
	if callID(m.req) != c.a.callID {
		if m.req.Method != sip.ACK {
			c.e.respond(m.tx, m.req, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	switch m.req.Method {
	case sip.ACK:
		c.gotAck(m.req)
	case sip.BYE:
		c.e.respond(m.tx, m.req, 200, "OK")
		c.okRes = nil
		c.cancelBranches(nil)
		c.log.Info("call ended", "hangup_by", "caller", "reason", "BYE from caller")
		c.end(c.byeDisposition(), 200, "OK", cdr.ByCaller)
	case sip.INFO:
		key, ok := infoDigit(m.req)
		if !ok {
			c.e.respond(m.tx, m.req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
			return
		}
		c.e.respond(m.tx, m.req, 200, "OK")
		select {
		case c.dtmf <- key:
		default:
		}
	case sip.INVITE, sip.UPDATE:
		if len(m.req.Body()) == 0 {
			c.respondSDP(m, media.NewOffer(c.aLocal).Marshal())
			return
		}
		c.updateMedia(m, true)
	case sip.OPTIONS, sip.PRACK:
		c.e.respond(m.tx, m.req, 200, "OK")
	case sip.CANCEL:
		c.e.respond(m.tx, m.req, 481, "Call/Transaction Does Not Exist")
	default:
		c.e.respond(m.tx, m.req, 501, "Not Implemented", c.e.allow)
	}
}

// byeDisposition is the record's disposition when the caller hangs up before any callee
// answered: answered (by us, an IVR) unless nobody answered at all.
func (c *call) byeDisposition() cdr.Disposition {
	if c.answered.IsZero() {
		return cdr.Cancelled
	}
	return cdr.Answered
}

// infoDigit reads a key from a SIP INFO body: application/dtmf-relay ("Signal=5") or
// application/dtmf ("5").
func infoDigit(req *sip.Request) (byte, bool) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.Split(h.Value(), ";")[0]))
	}
	body := strings.TrimSpace(string(req.Body()))
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return dtmfKey(strings.TrimSpace(v))
			}
		}
	case "application/dtmf":
		return dtmfKey(body)
	}
	return 0, false
}

// dtmfKey is the key of a DTMF signal: one of 0-9 * # A-D, or the event number 10 (*), 11 (#).
func dtmfKey(s string) (byte, bool) {
	switch {
	case s == "10":
		return '*', true
	case s == "11":
		return '#', true
	case len(s) == 1 && (s[0] >= '0' && s[0] <= '9' || s[0] == '*' || s[0] == '#'):
		return s[0], true
	case len(s) == 1 && (s[0] >= 'A' && s[0] <= 'D' || s[0] >= 'a' && s[0] <= 'd'):
		return strings.ToUpper(s)[0], true
	}
	return 0, false
}

// menu plays an IVR node's prompts and collects the caller's input; ok is false when the
// call ended.
func (c *call) menu(n routing.Node) (digits string, ok bool) {
	ivr := n.IVR
	var buf []byte
	for _, ref := range n.Prompts {
		if !c.play(ref) {
			continue
		}
		for played := false; !played; {
			switch ev, k := c.await(nil); ev {
			case evEnded:
				return "", false
			case evDigit:
				c.stopPlayback()
				buf = append(buf, k)
				return c.collect(n, buf)
			case evPlayed:
				played = true
			}
		}
	}
	t := time.NewTimer(time.Duration(ivr.NoInputMS) * time.Millisecond)
	defer t.Stop()
	for {
		switch ev, k := c.await(t.C); ev {
		case evEnded:
			return "", false
		case evTimer:
			return "", true
		case evDigit:
			return c.collect(n, append(buf, k))
		}
	}
}

// collect waits for more keys until the input is complete or the inter-digit time passes.
func (c *call) collect(n routing.Node, buf []byte) (string, bool) {
	for !n.Complete(string(buf)) {
		t := time.NewTimer(time.Duration(n.IVR.InterDigitMS) * time.Millisecond)
		ev, k := c.await(t.C)
		t.Stop()
		switch ev {
		case evEnded:
			return "", false
		case evTimer:
			return string(buf), true
		case evDigit:
			buf = append(buf, k)
		}
	}
	return string(buf), true
}

// play starts a prompt to the caller; false when it cannot be played (logged: the menu goes
// on without it).
func (c *call) play(ref string) bool {
	a, err := c.e.prompts.Prompt(ref)
	if err == nil {
		c.stopPlayback()
		c.playback, err = c.relay.Play(media.LegA, a)
	}
	if err != nil {
		c.log.Warn("call: prompt not played", "prompt", ref, "error", err)
		return false
	}
	return true
}

func (c *call) stopPlayback() {
	if c.playback != nil {
		c.playback.Stop()
		c.playback = nil
	}
}

// playbackDone is the Done channel of the playback; nil (never ready) when none.
func (c *call) playbackDone() <-chan struct{} {
	if c.playback == nil {
		return nil
	}
	return c.playback.Done()
}

// playRingback plays one cycle of ringback tone to the caller (ring() plays it again when it
// ends).
func (c *call) playRingback() {
	c.stopPlayback()
	pb, err := c.relay.Play(media.LegA, ringbackTone())
	if err != nil {
		c.log.Debug("call: ringback", "error", err)
		return
	}
	c.playback = pb
}

// ringbackTone is one cycle of the ITU-T E.180 ringing tone most of Europe uses: 425 Hz,
// 1 s on, 4 s off, at about -13 dBm0.
var ringbackTone = sync.OnceValue(func() *media.Audio {
	const rate, on, total = 8000, 8000, 5 * 8000
	a := &media.Audio{Samples: make([]int16, total)}
	for i := range on {
		a.Samples[i] = int16(5000 * math.Sin(2*math.Pi*425*float64(i)/rate))
	}
	return a
})

// ringGroup rings a ring group's members stage by stage (all at once for ring_all, one by one
// otherwise), skipping members who are on a call or have no registered phone, until one
// answers (the call talks) or the group's time is up (the walk goes on to the fallback).
func (c *call) ringGroup(n routing.Node) bool {
	rg := n.RingGroup
	if !c.mediaReady() {
		return false
	}
	order := routing.RingOrder(rg, c.t.lastRung(rg.ID), rand.IntN)
	var stages [][]routing.Member
	if rg.Strategy == routing.RingAll {
		stages = [][]routing.Member{order}
	} else {
		for _, m := range order {
			stages = append(stages, []routing.Member{m})
		}
	}
	deadline := c.e.now().Add(time.Duration(rg.GroupSeconds) * time.Second)
	var tried []string
	c.stage = true
	defer func() { c.stage = false }()
	for _, stage := range stages {
		left := deadline.Sub(c.e.now())
		if left <= 0 {
			break
		}
		rung := 0
		ringFor := left
		for _, m := range stage {
			callee, err := c.t.plan.Extension(c.ctx, m.Extension)
			if err != nil {
				c.e.m.ringGroupMember(rg.ID, "gone")
				continue
			}
			if c.t.busy(callee.UserID) {
				c.e.m.ringGroupMember(rg.ID, "busy")
				continue
			}
			if c.forkUser(callee, c.fromName, c.fromUser) != forkStarted {
				c.e.m.ringGroupMember(rg.ID, "unregistered")
				continue
			}
			c.e.m.ringGroupMember(rg.ID, "rung")
			rung++
			tried = append(tried, m.Extension)
			c.t.setLastRung(rg.ID, memberIndex(rg, m.Extension))
			if rg.Strategy != routing.RingAll {
				secs := m.RingSeconds
				if secs == 0 {
					secs = rg.MemberSeconds
				}
				ringFor = min(left, time.Duration(secs)*time.Second)
			}
		}
		if rung == 0 {
			continue
		}
		c.stageOver = false
		c.ringback = c.ownMedia()
		c.ringTimeout = ringFor
		if c.ring() {
			c.e.m.ringGroupCall(rg.ID, "answered")
			if w := c.winner; w != nil && w.userID != 0 {
				c.t.forceReserve(w.userID)
				c.users = append(c.users, w.userID)
				c.busyStart(w.userID)
			}
			c.stage = false
			c.talk()
			return false
		}
		if c.ended {
			return false
		}
	}
	c.e.m.ringGroupCall(rg.ID, "no_answer")
	c.walk.NoAnswer(tried)
	return true
}

func memberIndex(rg *routing.RingGroup, ext string) int {
	for i, m := range rg.Members {
		if m.Extension == ext {
			return i
		}
	}
	return -1
}

// busy reports whether a user is on a call (placed or taken).
func (t *callTable) busy(user int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perUser[user] > 0
}

// forceReserve counts a call for a user who answered it, whatever the limit.
func (t *callTable) forceReserve(user int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.perUser[user]++
}

// lastRung is the index of the member a ring group rang last (round_robin starts after
// it); -1 when none yet.
func (t *callTable) lastRung(group int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.rr[group]; ok {
		return i
	}
	return -1
}

func (t *callTable) setLastRung(group int64, i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rr == nil {
		t.rr = map[int64]int{}
	}
	t.rr[group] = i
}

// forward sends the call out through the outbound rules to an external number, presenting
// the caller's number (with a Diversion header naming the project number it came in on) or
// the project number.
func (c *call) forward(n routing.Node) bool {
	route, err := c.t.plan.Forward(c.ctx, n.DID, n.Number)
	if err != nil {
		c.log.Error("call: forward route", "number", n.Number, "error", err)
		c.failed(500, "Server Internal Error", cdr.Failed, cdr.BySystem, "routing error")
		return false
	}
	d := route.Decision
	c.log.Info("call: forward decision", "number", n.Number, "action", string(d.Action), "rule_id", d.RuleID, "reason", d.Reason)
	if d.Action != routing.Allow {
		code := d.SIPCode
		if code < 400 || code > 699 {
			code = 403
		}
		c.failed(code, reasonFor(code), cdr.Rejected, cdr.BySystem, "forward to "+n.Number+": "+d.Reason)
		return false
	}
	if len(route.Trunks) == 0 {
		c.failed(503, "Service Unavailable", cdr.Failed, cdr.BySystem, "no trunk to forward to "+n.Number)
		return false
	}
	if n.Present != routing.PresentDID && c.fromUser != "anonymous" {
		for i := range route.Trunks {
			route.Trunks[i].CLIP, route.Trunks[i].Diversion = c.fromUser, n.DID
		}
	}
	if !c.mediaReady() {
		return false
	}
	c.outbound, c.failover = route.Trunks, d.FailoverCodes
	c.ringTimeout = c.t.cfg.OutboundRingTimeout
	c.ringback = c.ownMedia()
	if c.nextTrunk(503, "Service Unavailable") && c.ring() {
		c.talk()
	}
	return false
}

// lateBranchResponse handles the final response of a branch that no longer matters (an
// earlier stage, a device that lost the race): a cancelled branch's 487 is ACKed by its
// transaction; a late 200 is ACKed and hung up.
func (c *call) lateBranchResponse(m branchResponse) {
	if m.res.StatusCode < 200 {
		return
	}
	m.b.done = true
	if m.res.StatusCode < 300 {
		c.ackBranch(m.b, m.res)
		c.byeBranch(m.b)
	}
}

// callerSilent hangs up a caller we answered whose RTP stopped (no callee yet).
func (c *call) callerSilent(leg media.Leg) {
	c.log.Warn("call: no RTP", "leg", leg.String())
	c.byeCaller()
	c.end(cdr.Answered, 200, "RTP timeout", cdr.BySystem)
}

// playToEnd plays a prompt to the caller and waits for its end, answering the caller's
// requests meanwhile; false when the call ended. A prompt that cannot be played is skipped.
func (c *call) playToEnd(ref string) bool {
	if !c.play(ref) {
		return true
	}
	for {
		switch ev, _ := c.await(nil); ev {
		case evEnded:
			return false
		case evPlayed:
			return true
		}
	}
}
