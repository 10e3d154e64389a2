package pbx

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// supportedCodecs are what Centrala offers and accepts, in order of preference.
var supportedCodecs = []media.Codec{media.PCMU, media.PCMA}

// call is one call through the B2BUA: the caller's leg (A) and the legs tried toward the
// callee (branches, B). One goroutine (run) owns every field; other goroutines talk to it
// only through in.
type call struct {
	e    *Engine
	t    *callTable
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc

	in   chan any
	done chan struct{}

	// leg A
	invite      *sip.Request // the caller's INVITE, with our To tag
	tx          sip.ServerTransaction
	a           *dialog
	aOffer      *media.Session
	aLocal      media.Local
	aSDP        []byte // the answer we gave A (early media or 200)
	aCodec      media.Codec
	caller      Party
	account     registrar.Account
	trunk       *Trunk // the trunk an inbound call came from
	trunkHeld   bool   // trunk's channel counted
	direction   cdr.Direction
	outbound    []TrunkDial // trunks still to try on failover
	failover    []int       // final codes that move on to the next trunk
	recordTrunk *int64      // the outbound trunk for the record
	ringTimeout time.Duration

	relay    *media.Relay
	branches []*branch
	winner   *branch
	early    *branch // the branch whose early media A hears
	users    []int64 // users counted against the call limit

	cdrID    int64
	cdrLegA  cdr.Leg
	started  time.Time
	answered time.Time
	rang     bool
	ended    bool

	okRes     *sip.Response // our 200 to A, retransmitted until ACKed
	pending   *reinvite     // re-INVITE in progress
	finalCode int

	// Inbound schemes (call_inbound.go).
	walk       *routing.Walk   // the call's way through the inbound graph; nil for other calls
	stage      bool            // ringing one stage of a walk: when nobody answers, stageOver is set instead of ending the call
	stageOver  bool            // the stage ended unanswered
	stageCode  int             // its best final code
	ringback   bool            // play ringback to A while branches ring (A was answered by us)
	playback   *media.Playback // what plays to A now
	dtmf       chan byte       // keys A sent (RFC 4733 from the relay, SIP INFO)
	offerErr   error           // why the caller's offer cannot be used, if it cannot
	earlyOwn   bool            // our 183 with our SDP went to A
	fromName   string          // how callees see the caller
	fromUser   string
	okInterval time.Duration // retransmission of our 200 while we own A's media
	okNext     time.Time
	okGiveUp   time.Time

	// Queues (call_queue.go).
	stays     []*cdr.QueueStay // the call's stays in queues
	holding   bool             // waiting in a queue: music on hold between announcements, also while agents ring
	music     []string         // the queue's music tracks (prompt references)
	musicNext int
	announce  []string       // announcement prompts still to play before the music goes on
	qmsg      any            // the dispatcher's message that made await return evQueue
	walkOn    bool           // the queue stay ended and the walk goes on (an overflow destination)
	agent     *agentCall     // the queue agent who answered
	offering  *pendingOffers // the queue attempt ringing now
}

// branch is one INVITE toward a callee's contact.
type branch struct {
	finalSeen atomic.Bool // watch saw a final response (read by cleanup)
	d         *dialog
	extension string // the user's extension, for a walk's path
	invite    *sip.Request
	tx        sip.ClientTransaction
	account   string
	userID    int64
	local     media.Local
	ringing   bool
	cancel    bool // CANCEL once a provisional response arrives
	trunk     *Trunk
	released  bool // trunk channel given back
	authed    bool // answered the trunk's digest challenge once
	final     int
	done      bool
	leg       cdr.Leg
	answer    *media.Session
	codec     media.Codec
	sdpBytes  []byte
}

// Messages to the call goroutine.
type (
	inRequest struct {
		req  *sip.Request
		tx   sip.ServerTransaction
		done chan struct{} // closed once answered; the handler goroutine waits for it
		held bool          // answered later (a relayed re-INVITE)
	}
	branchResponse struct {
		b   *branch
		res *sip.Response
	}
	branchGone struct {
		b   *branch
		err error
	}
	callerCancelled  struct{}
	reinviteResponse struct {
		r   *reinvite
		res *sip.Response
		err error
	}
	shutdownCall struct{}
)

// reinvite is a re-INVITE relayed from one leg to the other.
type reinvite struct {
	from     *inRequest
	fromA    bool
	offer    *media.Session
	out      *sip.Request
	tx       sip.ClientTransaction
	outLocal media.Local
}

// newCall makes the call of an initial INVITE whose To carries our tag already (see
// onDialogRequest).
func newCall(e *Engine, req *sip.Request, tx sip.ServerTransaction) *call {
	ctx, stop := context.WithCancel(e.ctx)
	tag, _ := req.To().Params.Get("tag")
	c := &call{e: e, t: e.calls, ctx: ctx, stop: stop, in: make(chan any, 16), done: make(chan struct{}),
		invite: req, tx: tx, a: uasDialog(req, tag), started: e.now()}
	c.log = e.log.With("call_id", c.a.callID)
	return c
}

func (c *call) shutdown() {
	select {
	case c.in <- shutdownCall{}:
	case <-c.done:
	}
}

// post delivers a message to the call goroutine unless the call has ended.
func (c *call) post(m any) {
	select {
	case c.in <- m:
	case <-c.done:
	}
}

// run owns the call from the INVITE to the end: route, ring, talk.
func (c *call) run() {
	c.t.add(c.a.callID, c)
	defer c.cleanup()
	c.respondA(100, "Trying", nil)
	if !c.tx.OnCancel(func(*sip.Request) { go c.post(callerCancelled{}) }) {
		return
	}
	// An INVITE without SDP is a delayed offer (RFC 3261 section 13.2.1): our 200 carries
	// the offer and the caller's ACK the answer.
	var err error
	if len(c.invite.Body()) > 0 {
		if c.aOffer, err = media.Parse(c.invite.Body()); err == nil {
			_, _, err = media.Negotiate(c.aOffer, supportedCodecs)
		}
	}
	c.offerErr = err
	var ok bool
	if c.trunk != nil {
		ok = c.routeInbound(err)
	} else {
		ok = c.routeDevice(err)
	}
	if ok && c.ring() {
		c.talk()
	}
}

// begin writes the call's record and its caller leg.
func (c *call) begin(s cdr.Start) {
	s.At, s.CallID = c.started, c.a.callID
	c.direction = s.Direction
	c.cdrLegA = cdr.Leg{Kind: cdr.LegCaller, Peer: c.account.Username, CallID: c.a.callID, StartedAt: c.started}
	if c.trunk != nil {
		c.cdrLegA.Peer, c.cdrLegA.TrunkID = c.trunk.Name, &c.trunk.ID
	} else if c.caller.UserID != 0 {
		uid := c.caller.UserID
		c.cdrLegA.UserID = &uid
	}
	s.Legs = []cdr.Leg{c.cdrLegA}
	rec, err := c.t.rec.Begin(c.ctx, s)
	if err != nil {
		c.log.Error("call: start record", "error", err)
		return
	}
	c.cdrID = rec.ID
	if len(rec.Legs) == 1 {
		c.cdrLegA.ID = rec.Legs[0].ID
	}
	c.log.Info("call started", "direction", string(s.Direction), "from", s.Caller, "to", s.Callee, "did", s.DID)
}

// finish answers A with a final error (unless it ended already) and closes the record.
func (c *call) finish(code int, reason string, disp cdr.Disposition, by cdr.HangupBy, why string) {
	if c.finalCode == 0 {
		c.finalCode = code
		c.respondA(code, reason, nil)
	}
	c.log.Info("call failed", "code", code, "reason", why)
	c.end(disp, code, reason, by)
}

func (c *call) end(disp cdr.Disposition, code int, reason string, by cdr.HangupBy) {
	if c.ended {
		return
	}
	c.ended = true
	// The call's limits are free once it has ended, before its record is written.
	c.t.release(c.users...)
	c.users = nil
	c.busyEnd()
	now := c.e.now()
	stays := c.queueEnded(now)
	c.cdrLegA.EndedAt = &now
	c.cdrLegA.SIPCode = code
	c.cdrLegA.SIPReason = reason
	if c.cdrID != 0 {
		// the record must be closed even when the engine is stopping
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
		defer cancel()
		legs := []cdr.Leg{c.cdrLegA}
		for _, b := range c.branches {
			legs = append(legs, b.leg)
		}
		var path json.RawMessage
		var answeredBy *int64
		if c.walk != nil {
			if b, err := json.Marshal(c.walk.Path()); err == nil {
				path = b
			}
			if c.winner != nil && c.winner.userID != 0 {
				uid := c.winner.userID
				answeredBy = &uid
			}
		}
		if err := c.t.rec.End(ctx, c.cdrID, cdr.End{At: now, Disposition: disp, SIPCode: code, SIPReason: reason,
			HangupBy: by, TrunkID: c.recordTrunk, Legs: legs, Path: path, UserID: answeredBy, Queues: stays}); err != nil {
			c.log.Error("call: end record", "error", err)
		}
	}
}

func (c *call) cleanup() {
	if r := c.pending; r != nil { // the call ended while a re-INVITE was relayed
		r.tx.Terminate()
		c.e.respond(r.from.tx, r.from.req, 487, "Request Terminated")
		close(r.from.done)
	}
	close(c.done)
	c.stop()
	c.releaseOffers()
	for _, b := range c.branches {
		if b.tx != nil {
			c.endBranchTx(b)
		}
		c.t.remove(b.d.callID)
		if b.trunk != nil && !b.released {
			b.released = true
			c.t.releaseTrunk(b.trunk.ID)
		}
	}
	if c.relay != nil {
		st := c.relay.Stats()
		c.log.Info("call media", "a_to_b", st.A.Packets, "b_to_a", st.B.Packets, "lost_a", st.A.Lost, "lost_b", st.B.Lost)
		c.relay.Close()
	}
	c.t.release(c.users...)
	c.busyEnd() // idempotent: end() did it unless the call ended without a record
	if c.trunk != nil && c.trunkHeld {
		c.t.releaseTrunk(c.trunk.ID)
	}
	c.t.remove(c.a.callID)
}

// respondA answers the caller's INVITE.
func (c *call) respondA(code int, reason string, body []byte, hs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(c.invite, code, reason, nil)
	if code > 100 {
		res.AppendHeader(c.e.contact(c.a.transport, c.a.dest, ""))
	}
	for _, h := range hs {
		res.AppendHeader(h)
	}
	res.AppendHeader(c.e.server)
	setBody(res, body)
	c.e.m.response("INVITE", code)
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug("respond to caller", "code", code, "error", err)
	}
	return res
}

// openRelay allocates the call's RTP relay; false (503 sent) when no port is free.
func (c *call) openRelay() bool {
	var err error
	if c.relay, err = c.t.media.NewRelay(c.log); err != nil {
		c.log.Error("call: rtp relay", "error", err)
		c.finish(503, "Service Unavailable", cdr.Failed, cdr.BySystem, "no RTP ports")
		return false
	}
	c.aLocal = media.Local{Addr: netip.AddrPortFrom(c.e.localIP(c.a.dest), uint16(c.relay.Port(media.LegA))),
		Codecs: supportedCodecs, DTMF: true, Ptime: 20, SessionID: rand.Uint64() >> 2, SessionVersion: 1}
	return true
}

// fork sends an INVITE to every registered contact of every SIP account of the callee,
// From the caller as from (display name and number).
func (c *call) fork(callee Party, fromName, fromUser string) bool {
	switch c.forkUser(callee, fromName, fromUser) {
	case forkNoContact:
		c.failed(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "no registered device")
		return false
	case forkUnreachable:
		c.failed(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "no reachable device")
		return false
	}
	return true
}

// Results of forkUser.
const (
	forkStarted     = iota // at least one branch rings
	forkNoContact          // the user has no registered device
	forkUnreachable        // no INVITE could be sent
)

// forkUser starts a branch toward every registered contact of the user's SIP accounts.
func (c *call) forkUser(callee Party, fromName, fromUser string) int {
	now := c.e.now()
	var contacts []registrar.Binding
	for _, acct := range callee.Accounts {
		bs, err := c.e.reg.Store().Lookup(c.ctx, acct, now)
		if err != nil {
			c.log.Error("call: look up contacts", "account", acct, "error", err)
			continue
		}
		contacts = append(contacts, bs...)
	}
	if len(contacts) == 0 {
		return forkNoContact
	}
	from := sip.Uri{Scheme: "sip", User: fromUser, Host: c.e.cfg.Realm}
	uid := callee.UserID
	started := 0
	for _, bnd := range contacts {
		var target sip.Uri
		if err := sip.ParseUri(bnd.Contact, &target); err != nil {
			c.log.Warn("call: contact not tried", "contact", bnd.Contact, "error", err)
			continue
		}
		b, err := c.startBranch(branchSpec{target: target, transport: bnd.Transport, dest: c.e.contactDest(bnd, target),
			from: from, fromName: fromName, to: sip.Uri{Scheme: "sip", User: bnd.AOR, Host: c.e.cfg.Realm},
			peer: bnd.AOR, userID: &uid})
		if err != nil {
			c.log.Warn("call: contact not tried", "contact", bnd.Contact, "error", err)
			continue
		}
		b.extension = callee.Extension
		c.branches = append(c.branches, b)
		started++
	}
	if started == 0 {
		return forkUnreachable
	}
	return forkStarted
}

// branchSpec says where one outgoing INVITE goes and as whom.
type branchSpec struct {
	target    sip.Uri // Request-URI
	transport string
	dest      string // host:port
	from      sip.Uri
	fromName  string
	to        sip.Uri
	headers   []sip.Header
	peer      string // the CDR leg's peer: SIP account or trunk name
	userID    *int64
	trunk     *Trunk
}

// startBranch sends the INVITE of a new branch with an SDP offer on leg B of the relay.
func (c *call) startBranch(s branchSpec) (*branch, error) {
	d := &dialog{callID: sip.GenerateTagN(24), local: s.from, localName: s.fromName,
		localTag: sip.GenerateTagN(16), remote: s.to, target: s.target,
		transport: strings.ToUpper(s.transport), dest: s.dest, cseq: uint32(rand.IntN(10000)), extra: s.headers}
	b := &branch{d: d, account: s.peer, trunk: s.trunk}
	if s.userID != nil {
		b.userID = *s.userID
	}
	b.local = media.Local{Addr: netip.AddrPortFrom(c.e.localIP(d.dest), uint16(c.relay.Port(media.LegB))),
		Codecs: offerOrder(c.aOffer), DTMF: true, Ptime: 20, SessionID: rand.Uint64() >> 2, SessionVersion: 1}
	b.sdpBytes = media.NewOffer(b.local).Marshal()
	req := c.e.dialogRequest(d, sip.INVITE, b.sdpBytes, sip.NewHeader("Allow", allowed))
	b.invite = req
	c.t.add(d.callID, c)
	tx, err := c.e.transact(c.ctx, req)
	if err != nil {
		c.t.remove(d.callID)
		return nil, err
	}
	b.tx = tx
	b.leg = cdr.Leg{Kind: cdr.LegCallee, Peer: s.peer, UserID: s.userID, CallID: d.callID, StartedAt: c.e.now()}
	if s.trunk != nil {
		b.leg.TrunkID = &s.trunk.ID
	}
	go c.watch(b)
	return b, nil
}

// offerOrder puts the caller's preferred supported codec first, so the callee can choose it
// and no transcoding is needed.
func offerOrder(offer *media.Session) []media.Codec {
	if offer == nil {
		return supportedCodecs
	}
	chosen, _, err := media.Negotiate(offer, supportedCodecs)
	if err != nil {
		return supportedCodecs
	}
	out := []media.Codec{}
	for _, s := range supportedCodecs {
		if strings.EqualFold(s.Name, chosen.Name) {
			out = append([]media.Codec{s}, out...)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// contactDest is where requests to a registered contact go: the connection it registered
// on for TCP and TLS, the address its REGISTER came from when the Contact names another
// IP (the phone is behind NAT), else the Contact itself.
func (e *Engine) contactDest(b registrar.Binding, contact sip.Uri) string {
	src, err := netip.ParseAddrPort(b.Source)
	if err != nil {
		return contact.HostPort()
	}
	if b.Transport != "udp" {
		return src.String()
	}
	ip, err := netip.ParseAddr(contact.Host)
	if err == nil && ip.Unmap() == src.Addr().Unmap() {
		port := contact.Port
		if port == 0 {
			port = 5060
		}
		return netip.AddrPortFrom(ip, uint16(port)).String()
	}
	return src.String()
}

// watch forwards a branch's responses to the call goroutine.
func (c *call) watch(b *branch) {
	tx := b.tx
	for {
		select {
		case res, ok := <-tx.Responses():
			if !ok {
				return
			}
			if res.StatusCode >= 200 {
				b.finalSeen.Store(true)
			}
			c.post(branchResponse{b, res})
			if res.StatusCode >= 200 {
				return
			}
		case <-tx.Done():
			c.post(branchGone{b, tx.Err()})
			return
		case <-c.done:
			return
		}
	}
}

// ring waits for the first answer. It returns true when the call is answered; false when
// the call ended or, while ringing a stage of a walk (c.stage), when the stage is over
// unanswered (c.stageOver).
func (c *call) ring() bool {
	if c.ringTimeout == 0 {
		c.ringTimeout = c.t.cfg.RingTimeout
	}
	c.stageOver = false // an earlier stage's (a ring group's, a queue attempt's) is over
	timer := time.NewTimer(c.ringTimeout)
	defer timer.Stop()
	var timeout <-chan media.Leg
	if c.relay != nil && !c.answered.IsZero() {
		timeout = c.relay.Timeout() // answered by us: a caller gone silent stops the ringing
	}
	if c.ringback {
		c.playRingback()
	}
	answered := false
	defer func() {
		if !c.holding || answered || c.ended { // a waiting caller's music goes on between attempts
			c.stopPlayback()
		}
	}()
	for {
		select {
		case m := <-c.in:
			switch m := m.(type) {
			case branchResponse:
				if c.onBranchResponse(m.b, m.res) {
					answered = true
					return true
				}
			case branchGone:
				c.branchFailed(m.b, 408, "Request Timeout")
			case queueOffer: // cannot happen while ringing: the dispatcher offers callers not ringing
				c.e.queues.release(m.agents, c.a.callID)
			case callerCancelled:
				c.finalCode = 487
				c.cancelBranches(nil)
				c.end(cdr.Cancelled, 487, "Request Terminated", cdr.ByCaller)
				c.log.Info("call cancelled by caller")
				return false
			case *inRequest:
				if !c.answered.IsZero() {
					c.ownRequest(m)
					if c.ended {
						c.cancelBranches(nil)
					}
				} else {
					c.earlyRequest(m)
				}
			case shutdownCall:
				c.cancelBranches(nil)
				c.stopByServer("server stopping")
				return false
			}
			if c.ended || c.stageOver {
				return false
			}
		case <-c.playbackDone():
			if c.ringback {
				c.playRingback()
			} else if c.holding {
				c.playHold()
			}
		case <-c.dtmf: // keys pressed while ringing mean nothing
		case leg := <-timeout:
			c.cancelBranches(nil)
			c.callerSilent(leg)
			return false
		case <-timer.C:
			c.cancelBranches(nil)
			if c.stage {
				c.stageOver, c.stageCode = true, 480
				return false
			}
			c.failed(480, "Temporarily Unavailable", cdr.NoAnswer, cdr.BySystem, "ring timeout")
			return false
		}
	}
}

// earlyRequest answers a request inside a dialog that is not established yet.
func (c *call) earlyRequest(m *inRequest) {
	defer close(m.done)
	switch m.req.Method {
	case sip.ACK:
	case sip.PRACK:
		c.e.respond(m.tx, m.req, 200, "OK")
	default:
		c.e.respond(m.tx, m.req, 481, "Call/Transaction Does Not Exist")
	}
}

// onBranchResponse handles a response of a branch's INVITE; true when it answered the call.
func (c *call) onBranchResponse(b *branch, res *sip.Response) bool {
	code := res.StatusCode
	switch {
	case code < 200:
		if code == 100 {
			return false
		}
		b.ringing = true
		if b.cancel {
			c.sendCancel(b)
			return false
		}
		if !c.rang {
			c.rang = true
			c.e.bus.Publish(event.Event{Type: "call.ringing", Time: c.e.now(), CallID: c.a.callID,
				Data: map[string]any{"cdr_id": c.cdrID, "account": b.account, "user_id": b.userID}})
		}
		if len(res.Body()) > 0 && c.early == nil && c.aOffer != nil && c.answered.IsZero() && c.startEarlyMedia(b, res) {
			return false
		}
		if c.early == nil && c.answered.IsZero() {
			c.respondA(code, res.Reason, nil)
		}
		return false
	case code < 300:
		b.done, b.final = true, code
		if c.winner != nil || c.ended {
			c.ackBranch(b, res)
			c.byeBranch(b) // a second answer: that device is not needed
			return false
		}
		return c.answer(b, res)
	default:
		if (code == 401 || code == 407) && c.authenticate(b, res) {
			return false
		}
		b.done = true
		c.branchFailed(b, code, res.Reason)
		return false
	}
}

// startEarlyMedia lets the caller hear the callee's early media (a 18x with SDP).
func (c *call) startEarlyMedia(b *branch, res *sip.Response) bool {
	if !c.setBranchMedia(b, res.Body()) || !c.setCallerMedia(b) {
		return false
	}
	c.early = b
	c.ringback = false // the callee's early media replaces ours
	c.stopPlayback()
	c.respondA(183, "Session Progress", c.aSDP)
	return true
}

// setBranchMedia reads the callee's SDP answer into leg B of the relay.
func (c *call) setBranchMedia(b *branch, body []byte) bool {
	ans, err := media.Parse(body)
	if err != nil {
		c.log.Warn("call: callee SDP", "account", b.account, "error", err)
		return false
	}
	codec, dtmf, err := media.Negotiate(ans, b.local.Codecs)
	if err != nil {
		c.log.Warn("call: callee SDP", "account", b.account, "error", err)
		return false
	}
	if err := c.relay.SetLeg(media.LegB, media.LegConfig{Remote: ans.AudioAddr(), Codec: codec, DTMFPT: dtmf}); err != nil {
		c.log.Warn("call: callee media", "error", err)
		return false
	}
	b.answer, b.codec = ans, codec
	return true
}

// setCallerMedia builds our answer to the caller's offer (preferring the codec the callee
// chose, so nothing is transcoded) and sets leg A of the relay.
func (c *call) setCallerMedia(b *branch) bool {
	if c.aSDP != nil {
		return true // A has its answer already (early media); it must not change
	}
	local := c.aLocal
	if c.aOffer == nil {
		// delayed offer: ours goes in the 200, the callee's codec first; leg A is set when
		// the ACK brings the answer
		if b != nil {
			local.Codecs = offerOrder(b.answer)
		}
		c.aLocal, c.aSDP = local, media.NewOffer(local).Marshal()
		return true
	}
	if b != nil && b.codec.Name != "" {
		for _, f := range c.aOffer.Audio().Formats {
			if strings.EqualFold(f.Name, b.codec.Name) && f.ClockRate == b.codec.ClockRate {
				local.Codecs = []media.Codec{{Name: b.codec.Name, PayloadType: f.PayloadType, ClockRate: b.codec.ClockRate}}
				break
			}
		}
	}
	ans, err := media.NewAnswer(c.aOffer, local)
	if err != nil {
		c.log.Warn("call: answer caller", "error", err)
		return false
	}
	codec, dtmf, _ := media.Negotiate(c.aOffer, local.Codecs)
	if err := c.relay.SetLeg(media.LegA, media.LegConfig{Remote: c.aOffer.AudioAddr(), Codec: codec, DTMFPT: dtmf}); err != nil {
		c.log.Warn("call: caller media", "error", err)
		return false
	}
	c.aLocal, c.aCodec, c.aSDP = local, codec, ans.Marshal()
	return true
}

// answer connects the caller with the branch that answered.
func (c *call) answer(b *branch, res *sip.Response) bool {
	b.d.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		b.d.target = ct.Address
	}
	b.d.routes = nil
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		routes := parseRoutes(rr[i].Value())
		slices.Reverse(routes)
		b.d.routes = append(b.d.routes, routes...)
	}
	now := c.e.now()
	b.leg.AnsweredAt, b.leg.SIPCode, b.leg.SIPReason = &now, res.StatusCode, res.Reason
	c.winner = b
	c.cancelBranches(b)
	// Media first: the callee may send RTP as soon as it has sent its 200. When another
	// branch's early media was playing, the winner's SDP replaces it.
	mediaOK := (c.early == b && b.answer != nil || c.setBranchMedia(b, res.Body())) && c.setCallerMedia(b)
	c.ackBranch(b, res)
	if !mediaOK {
		c.byeBranch(b)
		c.finish(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, "callee answered without usable SDP")
		return false
	}
	c.stopPlayback()
	c.ringback = false
	if c.walk != nil {
		c.walk.Answered(b.extension, c.rungExtensions()...)
	}
	if c.answered.IsZero() {
		c.answerCaller(now)
	}
	c.log.Info("call answered", "account", b.account, "codec_a", c.aCodec.Name, "codec_b", b.codec.Name)
	return true
}

// answerCaller sends our 200 to A (retransmitted until the ACK by talk or by the media loop)
// and records the answer.
func (c *call) answerCaller(now time.Time) {
	c.finalCode = 200
	c.answered = now
	c.okRes = c.respondA(200, "OK", c.aSDP, sip.NewHeader("Allow", allowed))
	c.relay.ArmTimeout()
	c.cdrLegA.AnsweredAt, c.cdrLegA.SIPCode, c.cdrLegA.SIPReason = &now, 200, "OK"
	if c.cdrID != 0 {
		if err := c.t.rec.Answer(c.ctx, c.cdrID, now); err != nil {
			c.log.Error("call: answer record", "error", err)
		}
	}
}

// branchFailed records a branch's final error; when none is left, the caller gets the best.
func (c *call) branchFailed(b *branch, code int, reason string) {
	b.done = true
	if b.final == 0 {
		b.final = code
	}
	now := c.e.now()
	b.leg.EndedAt, b.leg.SIPCode, b.leg.SIPReason = &now, code, reason
	if c.trunkFailed(b, code, reason) || c.winner != nil || c.ended {
		return
	}
	var codes []int
	for _, x := range c.branches {
		if !x.done {
			return
		}
		codes = append(codes, x.final)
	}
	code, reason = bestFinal(codes)
	if c.stage {
		c.stageOver, c.stageCode = true, code
		return
	}
	disp, by := cdr.Failed, cdr.ByCallee
	switch {
	case code == 486 || code == 600:
		disp = cdr.Busy
	case code == 603 || code == 403:
		disp = cdr.Rejected
	case code == 480 && c.rang:
		disp = cdr.NoAnswer
	}
	c.failed(code, reason, disp, by, "every device refused")
}

// failed ends a call nobody answered: the caller gets code, or, when we answered it already
// (an IVR), a BYE; the record keeps the callee's outcome as its disposition.
func (c *call) failed(code int, reason string, disp cdr.Disposition, by cdr.HangupBy, why string) {
	if c.answered.IsZero() {
		c.finish(code, reason, disp, by, why)
		return
	}
	c.byeCaller()
	c.log.Info("call failed after our answer", "code", code, "reason", why)
	c.end(disp, code, reason, by)
}

// stopByServer ends the call from our side: a final 503 before any answer, a BYE after ours.
func (c *call) stopByServer(why string) {
	if c.answered.IsZero() {
		c.finish(503, "Service Unavailable", cdr.Failed, cdr.BySystem, why)
		return
	}
	c.byeCaller()
	c.end(cdr.Answered, 200, why, cdr.BySystem)
}

// byeCaller hangs up leg A after our 200.
func (c *call) byeCaller() {
	c.okRes = nil
	c.bye(c.a, "caller")
}

// cancelBranches stops every branch still ringing except keep.
func (c *call) cancelBranches(keep *branch) {
	for _, b := range c.branches {
		if b == keep || b.done {
			continue
		}
		if b.ringing {
			c.sendCancel(b)
		} else {
			b.cancel = true // RFC 3261 section 9.1: not before a provisional response
		}
		now := c.e.now()
		b.leg.EndedAt, b.leg.SIPCode, b.leg.SIPReason = &now, 487, "Request Terminated"
	}
}

func (c *call) sendCancel(b *branch) {
	if b.done {
		return
	}
	inv := b.invite
	req := NewCancel(inv)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.Laddr = inv.Laddr
	// The CANCEL outlives the call (which ends right after it, on a ring timeout): its
	// transaction keeps retransmitting over UDP until answered, for as long as a BYE's.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 8*time.Second)
	tx, err := c.e.transact(ctx, req)
	if err != nil {
		cancel()
		c.log.Warn("call: cancel branch", "account", b.account, "error", err)
		return
	}
	c.t.wg.Add(1)
	go func() { // the 200 to a CANCEL tells nothing the INVITE's 487 will not
		defer c.t.wg.Done()
		defer cancel()
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-ctx.Done():
		}
	}()
}

// endBranchTx ends a branch's INVITE transaction when the call is over. A branch still
// waiting for its final response (cancelled a moment ago) keeps its transaction for a while:
// the 487 that answers the CANCEL must still be acknowledged, which the transaction does
// when it arrives, as long as the response is read.
func (c *call) endBranchTx(b *branch) {
	tx := b.tx
	if b.done || b.finalSeen.Load() {
		tx.Terminate()
		return
	}
	c.t.wg.Add(1)
	go func() {
		defer c.t.wg.Done()
		defer tx.Terminate()
		timeout := time.NewTimer(8 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case res, ok := <-tx.Responses():
				if ok && res.StatusCode > 100 && res.StatusCode < 200 && b.cancel && !b.ringing {
					b.ringing = true
					c.sendCancel(b) // its CANCEL had to wait for a provisional response
				}
				if !ok || res.StatusCode >= 200 {
					if ok && res.IsSuccess() { // answered after all: ACK and hang up
						c.ackBranch(b, res)
						c.byeBranch(b)
					}
					return
				}
			case <-tx.Done():
				return
			case <-timeout.C:
				return
			}
		}
	}()
}

// ackBranch acknowledges a branch's 2xx.
func (c *call) ackBranch(b *branch, res *sip.Response) {
	d := *b.d
	d.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.cseq = b.invite.CSeq().SeqNo
	ack := c.e.dialogRequest(&d, sip.ACK, nil)
	ack.CSeq().SeqNo = b.invite.CSeq().SeqNo
	if err := c.e.writeAck(ack); err != nil {
		c.log.Warn("call: ack callee", "account", b.account, "error", err)
	}
	// A retransmitted 2xx means our ACK was lost: send it again (RFC 3261 section 13.2.2.4).
	raw := ack.Clone()
	b.tx.OnRetransmission(func(res *sip.Response) {
		if res.IsSuccess() {
			_ = c.e.writeAck(raw.Clone())
		}
	})
}

// byeBranch hangs up an answered branch that is not (or no longer) wanted.
func (c *call) byeBranch(b *branch) {
	c.bye(b.d, "callee")
}

// bye sends a BYE on a dialog and waits briefly for its answer.
func (c *call) bye(d *dialog, who string) {
	req := c.e.dialogRequest(d, sip.BYE, nil)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 8*time.Second)
	tx, err := c.e.transact(ctx, req)
	if err != nil {
		cancel()
		c.log.Warn("call: bye", "to", who, "error", err)
		return
	}
	c.t.wg.Add(1)
	go func() {
		defer c.t.wg.Done()
		defer cancel()
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-ctx.Done():
		}
	}()
}

// rungExtensions lists the extensions the call's branches rang, in order, once each.
func (c *call) rungExtensions() []string {
	var out []string
	for _, b := range c.branches {
		if b.extension != "" && !slices.Contains(out, b.extension) {
			out = append(out, b.extension)
		}
	}
	return out
}
