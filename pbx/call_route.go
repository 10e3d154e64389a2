package pbx

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/routing"
)

// routeDevice routes a call placed by one of our devices: to an extension, else out through
// the outbound rules. offerErr is why the caller's SDP offer cannot be used, if it cannot.
func (c *call) routeDevice(offerErr error) bool {
	dialled := dialledNumber(c.invite)
	if c.e.agents != nil && c.caller.UserID != 0 {
		if action, reason, ok := c.e.features.featureOf(dialled); ok {
			c.feature(dialled, action, reason)
			return false
		}
	}
	callerNum := c.callerNumber()
	uid := c.caller.UserID
	callee, err := c.t.plan.Extension(c.ctx, dialled)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.log.Error("call: look up extension", "dialled", dialled, "error", err)
		c.begin(cdr.Start{Direction: cdr.Internal, Caller: callerNum, Callee: dialled, UserID: &uid})
		c.finish(500, "Server Internal Error", cdr.Failed, cdr.BySystem, "dialplan error")
		return false
	}
	if err == nil {
		clip := callerNum
		c.begin(cdr.Start{Direction: cdr.Internal, Caller: callerNum, Callee: dialled, CLIP: &clip, UserID: &uid})
		if offerErr != nil {
			c.finish(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, offerErr.Error())
			return false
		}
		if !c.holdUsers(callee.UserID) || !c.openRelay() {
			return false
		}
		return c.fork(callee, c.caller.Name, callerNum)
	}
	route, err := c.t.plan.Outbound(c.ctx, c.account, dialled)
	if errors.Is(err, ErrNotFound) {
		c.begin(cdr.Start{Direction: cdr.Internal, Caller: callerNum, Callee: dialled, UserID: &uid})
		c.finish(404, "Not Found", cdr.Failed, cdr.BySystem, "no extension "+dialled)
		return false
	}
	if err != nil {
		c.log.Error("call: outbound route", "dialled", dialled, "error", err)
		c.begin(cdr.Start{Direction: cdr.Outbound, Caller: callerNum, Callee: dialled, UserID: &uid})
		c.finish(500, "Server Internal Error", cdr.Failed, cdr.BySystem, "routing error")
		return false
	}
	d := route.Decision
	c.begin(cdr.Start{Direction: cdr.Outbound, Caller: callerNum, Callee: dialled, CLIP: d.CLIP, UserID: &uid})
	c.log.Info("call: outbound decision", "action", string(d.Action), "rule_id", d.RuleID, "reason", d.Reason)
	if d.Action != routing.Allow {
		c.e.m.refused("denied")
		code := d.SIPCode
		if code < 400 || code > 699 {
			code = 403
		}
		c.finish(code, reasonFor(code), cdr.Rejected, cdr.BySystem, d.Reason)
		return false
	}
	if offerErr != nil {
		c.finish(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, offerErr.Error())
		return false
	}
	if len(route.Trunks) == 0 {
		c.finish(503, "Service Unavailable", cdr.Failed, cdr.BySystem, "no trunk for the route")
		return false
	}
	if !c.holdUsers(0) || !c.openRelay() {
		return false
	}
	c.outbound, c.failover = route.Trunks, d.FailoverCodes
	c.ringTimeout = c.t.cfg.OutboundRingTimeout
	return c.nextTrunk(503, "Service Unavailable")
}

// holdUsers counts the call against the caller's and the callee's call limits.
func (c *call) holdUsers(callee int64) bool {
	if c.caller.UserID != 0 {
		if !c.t.reserve(c.caller.UserID) {
			c.e.m.refused("user_limit")
			c.finish(403, "Call Limit Reached", cdr.Rejected, cdr.BySystem, "caller is at the call limit")
			return false
		}
		c.users = append(c.users, c.caller.UserID)
		c.busyStart(c.caller.UserID)
	}
	if callee != 0 && callee != c.caller.UserID {
		if !c.t.reserve(callee) {
			c.e.m.refused("user_limit")
			c.failed(486, "Busy Here", cdr.Busy, cdr.BySystem, "callee is at the call limit")
			return false
		}
		c.users = append(c.users, callee)
		c.busyStart(callee)
	}
	return true
}

// nextTrunk tries the next trunk of an outbound call. When none is left the caller gets
// code (the last trunk's answer). It returns false when the call has ended.
func (c *call) nextTrunk(code int, reason string) bool {
	for len(c.outbound) > 0 {
		td := c.outbound[0]
		c.outbound = c.outbound[1:]
		tr := td.Trunk
		if !c.t.reserveTrunk(&tr) {
			c.e.m.refused("trunk_limit")
			c.log.Info("call: trunk full", "trunk_id", tr.ID, "max_calls", tr.MaxCalls)
			code, reason = 503, "Service Unavailable"
			continue
		}
		b, err := c.dialTrunk(&tr, td)
		if err != nil {
			c.t.releaseTrunk(tr.ID)
			c.log.Warn("call: trunk not reached", "trunk_id", tr.ID, "error", err)
			code, reason = 503, "Service Unavailable"
			continue
		}
		c.branches = append(c.branches, b)
		c.setRecordTrunk(tr.ID)
		return true
	}
	disp := cdr.Failed
	switch code {
	case 486, 600:
		disp = cdr.Busy
	case 603:
		disp = cdr.Rejected
	case 480, 408:
		if c.rang {
			disp = cdr.NoAnswer
		}
	}
	c.failed(code, reason, disp, cdr.ByCallee, "no trunk left")
	return false
}

// setRecordTrunk notes the trunk carrying an outbound call for its record (the last one
// tried); an inbound call keeps the trunk it came from.
func (c *call) setRecordTrunk(id int64) {
	if c.trunk == nil {
		c.recordTrunk = &id
	}
}

// dialTrunk sends the outbound INVITE to a trunk with the caller's presentation.
func (c *call) dialTrunk(tr *Trunk, td TrunkDial) (*branch, error) {
	port := tr.Port
	if port == 0 {
		port = 5060
	}
	dest := net.JoinHostPort(tr.Host, strconv.Itoa(port))
	target := sip.Uri{Scheme: "sip", User: td.Number, Host: tr.Host, Port: tr.Port}
	from, fromName, hs := presentation(tr, td)
	if td.Diversion != "" {
		hs = append(hs, sip.NewHeader("Diversion", "<sip:"+td.Diversion+"@"+tr.Host+">;reason=unconditional;counter=1"))
	}
	return c.startBranch(branchSpec{target: target, transport: tr.Transport, dest: dest,
		from: from, fromName: fromName, to: sip.Uri{Scheme: "sip", User: td.Number, Host: tr.Host},
		headers: hs, peer: tr.Name, trunk: tr})
}

// presentation builds the From and the identity headers of an outbound INVITE (RFC 3325,
// RFC 3323, draft-ietf-sip-privacy-04 for Remote-Party-ID) as the trunk wants them. Our own
// hosts never appear: the From names the trunk's domain.
func presentation(tr *Trunk, td TrunkDial) (sip.Uri, string, []sip.Header) {
	withheld := td.CLIP == ""
	user := td.CLIP
	if tr.CLIPHeader == "pai" || tr.CLIPHeader == "rpid" {
		if tr.Username != "" {
			user = tr.Username // the account the provider knows; the number goes in the header
		}
	}
	var hs []sip.Header
	asserted := td.CLIP
	if withheld {
		asserted = td.Asserted
	}
	switch tr.CLIPHeader {
	case "rpid":
		if asserted != "" {
			privacy := "off"
			if withheld {
				privacy = "full"
			}
			hs = append(hs, sip.NewHeader("Remote-Party-ID",
				"<sip:"+asserted+"@"+tr.Host+">;party=calling;screen=yes;privacy="+privacy))
		}
	default: // from, pai: P-Asserted-Identity toward the (trusted) provider
		if asserted != "" && (tr.CLIPHeader == "pai" || withheld) {
			hs = append(hs, sip.NewHeader("P-Asserted-Identity", "<sip:"+asserted+"@"+tr.Host+">"))
		}
	}
	if withheld {
		hs = append(hs, sip.NewHeader("Privacy", "id"))
		return sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}, "Anonymous", hs
	}
	return sip.Uri{Scheme: "sip", User: user, Host: tr.Host}, "", hs
}

// trunkFailed handles a trunk's final error: the next trunk on a failover code.
func (c *call) trunkFailed(b *branch, code int, reason string) bool {
	if b.trunk == nil {
		return false
	}
	c.e.m.trunkResponse(b.trunk.ID, code)
	if !b.released {
		b.released = true
		c.t.releaseTrunk(b.trunk.ID)
	}
	if c.winner != nil || c.ended {
		return true
	}
	if len(c.outbound) > 0 && slices.Contains(c.failover, code) {
		c.log.Info("call: trunk failover", "trunk_id", b.trunk.ID, "code", code)
		c.nextTrunk(code, reason)
		return true
	}
	c.outbound = nil
	c.nextTrunk(code, reason)
	return true
}

// authenticate answers a trunk's 401/407 once with its credentials; true when a new
// INVITE went out.
func (c *call) authenticate(b *branch, res *sip.Response) bool {
	if b.trunk == nil || b.trunk.Username == "" || b.authed {
		return false
	}
	hdr, auth := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdr, auth = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var vals []string
	for _, h := range res.GetHeaders(hdr) {
		vals = append(vals, h.Value())
	}
	ch, ok := digest.FirstSupported(vals...)
	if !ok {
		return false
	}
	b.authed = true
	answer := ch.Answer(b.trunk.Username, b.trunk.Password, "INVITE", b.d.target.String(), 1, digest.NewCNonce())
	req := c.e.dialogRequest(b.d, sip.INVITE, b.sdpBytes, sip.NewHeader("Allow", allowed), sip.NewHeader(auth, answer))
	tx, err := c.e.transact(c.ctx, req)
	if err != nil {
		c.log.Warn("call: trunk auth", "trunk_id", b.trunk.ID, "error", err)
		return false
	}
	b.invite, b.tx = req, tx
	go c.watch(b)
	return true
}

// routeInbound routes a call from a trunk to the destination of the number it is for.
func (c *call) routeInbound(offerErr error) bool {
	tr := c.trunk
	callerNum, withheld := trunkCaller(c.invite)
	var clip *string
	if !withheld {
		clip = &callerNum
	}
	cands := []string{dialledNumber(c.invite)}
	if to := c.invite.To(); to != nil && to.Address.User != "" {
		cands = append(cands, to.Address.User)
	}
	in, err := c.t.plan.Inbound(c.ctx, *tr, cands...)
	tid := tr.ID
	if err != nil {
		c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: cands[0], CLIP: clip, TrunkID: &tid})
		if errors.Is(err, ErrNotFound) {
			c.finish(404, "Not Found", cdr.Failed, cdr.BySystem, "no project number "+strings.Join(cands, " or "))
		} else {
			c.log.Error("call: inbound number", "error", err)
			c.finish(500, "Server Internal Error", cdr.Failed, cdr.BySystem, "dialplan error")
		}
		return false
	}
	if !c.t.reserveTrunk(tr) {
		c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: in.Target, DID: in.DID, CLIP: clip, TrunkID: &tid})
		c.e.m.refused("trunk_limit")
		c.finish(486, "Busy Here", cdr.Busy, cdr.BySystem, "trunk at max_calls")
		return false
	}
	c.trunkHeld = true
	if c.e.graph != nil {
		c.inbound(in.DID, callerNum, clip, withheld)
		return false
	}
	switch in.Type {
	case "extension":
		callee, err := c.t.plan.Extension(c.ctx, in.Target)
		var uid *int64
		if err == nil {
			uid = &callee.UserID
		}
		c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: in.Target, DID: in.DID, CLIP: clip, TrunkID: &tid, UserID: uid})
		if err != nil {
			c.finish(404, "Not Found", cdr.Failed, cdr.BySystem, "destination extension "+in.Target+" is gone")
			return false
		}
		if offerErr != nil {
			c.finish(488, "Not Acceptable Here", cdr.Failed, cdr.BySystem, offerErr.Error())
			return false
		}
		if !c.holdUsers(callee.UserID) || !c.openRelay() {
			return false
		}
		name := ""
		if withheld {
			callerNum, name = "anonymous", "Anonymous"
		}
		return c.fork(callee, name, callerNum)
	case "hangup":
		c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: in.DID, DID: in.DID, CLIP: clip, TrunkID: &tid})
		code, err := strconv.Atoi(in.Target)
		if err != nil || code < 400 || code > 699 {
			code = 480
		}
		c.finish(code, reasonFor(code), cdr.Rejected, cdr.BySystem, "number's destination is hangup")
		return false
	default:
		c.begin(cdr.Start{Direction: cdr.Inbound, Caller: callerNum, Callee: in.DID, DID: in.DID, CLIP: clip, TrunkID: &tid})
		c.finish(480, "Temporarily Unavailable", cdr.Failed, cdr.BySystem, "destination type "+in.Type+" is not available yet")
		return false
	}
}

// trunkCaller is the caller's number a trunk sent (P-Asserted-Identity from a trusted trunk,
// else From) and whether it is withheld (Privacy: id, or an anonymous From).
func trunkCaller(req *sip.Request) (string, bool) {
	num := ""
	if pai := req.GetHeader("P-Asserted-Identity"); pai != nil {
		if rs := parseRoutes(pai.Value()); len(rs) > 0 {
			num = rs[0].User
		}
	}
	if num == "" {
		if f := req.From(); f != nil {
			num = f.Address.User
		}
	}
	withheld := strings.EqualFold(num, "anonymous") || num == ""
	if p := req.GetHeader("Privacy"); p != nil && strings.Contains(strings.ToLower(p.Value()), "id") {
		withheld = true
	}
	if f := req.From(); f != nil && strings.EqualFold(f.Address.User, "anonymous") {
		withheld = true
	}
	return num, withheld
}

// callerNumber is how an internal caller is presented to colleagues: the extension, else
// the SIP account.
func (c *call) callerNumber() string {
	if c.caller.Extension != "" {
		return c.caller.Extension
	}
	return c.account.Username
}
