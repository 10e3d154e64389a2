package pbx

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/media"
)

// talk runs an answered call until one side hangs up, the media times out or the server
// stops.
func (c *call) talk() {
	interval := sip.T1
	retrans := time.NewTimer(interval)
	defer retrans.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	if sip.IsReliable(c.a.transport) {
		retrans.Stop()
	}
	acked := func(ack *sip.Request) {
		if c.okRes != nil {
			c.okRes = nil
			retrans.Stop()
			giveUp.Stop()
			c.ackAnswer(ack)
		}
	}
	for !c.ended {
		select {
		case ack := <-c.tx.Acks():
			acked(ack)
		case m := <-c.in:
			switch m := m.(type) {
			case *inRequest:
				if m.req.Method == sip.ACK && callID(m.req) == c.a.callID {
					acked(m.req)
				}
				c.inDialog(m)
			case branchResponse:
				if m.b != c.winner {
					c.lateBranchResponse(m)
				}
			case reinviteResponse:
				c.onReinviteResponse(m)
			case shutdownCall:
				c.hangup(cdr.BySystem, "server stopping")
			}
		case leg := <-c.relay.Timeout():
			c.log.Warn("call: no RTP", "leg", leg.String())
			c.hangup(cdr.BySystem, "RTP timeout")
		case <-retrans.C:
			if c.okRes != nil {
				if err := c.tx.Respond(c.okRes); err != nil {
					c.log.Debug("retransmit 200", "error", err)
				}
				interval = min(2*interval, sip.T2)
				retrans.Reset(interval)
			}
		case <-giveUp.C:
			if c.okRes != nil {
				c.log.Warn("call: caller never acknowledged the answer")
				c.hangup(cdr.BySystem, "no ACK")
			}
		}
	}
}

// ackAnswer reads the caller's answer from the ACK of a call it placed without an offer
// (delayed offer) into leg A; a missing or unusable answer ends the call.
func (c *call) ackAnswer(ack *sip.Request) {
	if c.aOffer != nil || ack == nil {
		return
	}
	ans, err := media.Parse(ack.Body())
	if err == nil {
		var codec media.Codec
		var dtmf int
		if codec, dtmf, err = media.Negotiate(ans, c.aLocal.Codecs); err == nil {
			err = c.relay.SetLeg(media.LegA, media.LegConfig{Remote: ans.AudioAddr(), Codec: codec, DTMFPT: dtmf})
			c.aCodec = codec
		}
	}
	if err != nil {
		c.log.Warn("call: the caller's ACK has no usable answer", "error", err)
		c.hangup(cdr.BySystem, "no usable SDP answer in ACK")
		return
	}
	c.aOffer = ans // from now on the caller's side is negotiated
}

// hangup ends an answered call from the server's side: BYE to both legs.
func (c *call) hangup(by cdr.HangupBy, why string) {
	c.bye(c.a, "caller")
	c.bye(c.winner.d, "callee")
	c.endAnswered(by, why)
}

func (c *call) endAnswered(by cdr.HangupBy, why string) {
	now := c.e.now()
	w := c.winner
	w.leg.EndedAt = &now
	reason := "OK"
	if by == cdr.BySystem {
		reason = why
	}
	c.log.Info("call ended", "hangup_by", string(by), "reason", why, "billsec", now.Sub(c.answered).Round(time.Second).String())
	c.end(cdr.Answered, 200, reason, by)
}

// inDialog handles a request of the caller or of the answered callee.
func (c *call) inDialog(m *inRequest) {
	defer func() {
		if !m.held {
			close(m.done)
		}
	}()
	fromA := callID(m.req) == c.a.callID
	if !fromA && (c.winner == nil || callID(m.req) != c.winner.d.callID) {
		if m.req.Method != sip.ACK {
			c.e.respond(m.tx, m.req, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	other := c.a
	if fromA {
		other = c.winner.d
	}
	switch m.req.Method {
	case sip.ACK:
	case sip.BYE:
		c.e.respond(m.tx, m.req, 200, "OK")
		who := "callee"
		by := cdr.ByCallee
		if fromA {
			who, by = "caller", cdr.ByCaller
		}
		c.bye(other, who)
		c.endAnswered(by, "BYE from "+map[bool]string{true: "caller", false: "callee"}[fromA])
	case sip.INVITE:
		c.reinvite(m, fromA)
	case sip.INFO:
		// SIP INFO DTMF and the like: passed on, answered at once.
		c.e.respond(m.tx, m.req, 200, "OK")
		fwd := c.e.dialogRequest(other, sip.INFO, nil)
		if ct := m.req.ContentType(); ct != nil {
			fwd.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
		}
		fwd.SetBody(m.req.Body())
		c.fireAndForget(fwd)
	case sip.UPDATE:
		if len(m.req.Body()) == 0 { // a session refresh
			c.e.respond(m.tx, m.req, 200, "OK")
			return
		}
		c.updateMedia(m, fromA)
	case sip.PRACK:
		c.e.respond(m.tx, m.req, 200, "OK")
	case sip.CANCEL: // its INVITE transaction is over (RFC 3261 section 9.2)
		c.e.respond(m.tx, m.req, 481, "Call/Transaction Does Not Exist")
	default:
		c.e.respond(m.tx, m.req, 501, "Not Implemented", c.e.allow)
	}
}

// updateMedia answers an UPDATE with an SDP offer (RFC 3311) on its own leg: the relay
// anchors the media, so a new address or codec of one side does not concern the other.
func (c *call) updateMedia(m *inRequest, fromA bool) {
	legID, local := media.LegB, &c.winner.local
	if fromA {
		legID, local = media.LegA, &c.aLocal
	}
	offer, err := media.Parse(m.req.Body())
	var ans *media.Session
	if err == nil {
		l := *local
		l.SessionVersion++
		if ans, err = media.NewAnswer(offer, l); err == nil {
			codec, dtmf, _ := media.Negotiate(offer, l.Codecs)
			if err = c.relay.SetLeg(legID, media.LegConfig{Remote: offer.AudioAddr(), Codec: codec, DTMFPT: dtmf}); err == nil {
				local.SessionVersion = l.SessionVersion
				c.relay.SetHold(offer.OnHold())
			}
		}
	}
	if err != nil {
		c.log.Warn("call: UPDATE refused", "error", err)
		c.e.respond(m.tx, m.req, 488, "Not Acceptable Here")
		return
	}
	c.respondSDP(m, ans.Marshal())
}

// fireAndForget sends a request inside a dialog and drops its answer.
func (c *call) fireAndForget(req *sip.Request) {
	tx, err := c.e.transact(c.ctx, req)
	if err != nil {
		c.log.Warn("call: send", "method", string(req.Method), "error", err)
		return
	}
	go func() {
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-time.After(32 * time.Second):
		}
	}()
}

// reinvite relays a re-INVITE (hold, unhold, new address or codec) to the other leg; the
// originator gets its answer when the other leg has answered.
func (c *call) reinvite(m *inRequest, fromA bool) {
	if c.pending != nil {
		c.e.respond(m.tx, m.req, 491, "Request Pending")
		return
	}
	legID, local, other, otherLocal := media.LegB, &c.winner.local, c.a, &c.aLocal
	if fromA {
		legID, local, other, otherLocal = media.LegA, &c.aLocal, c.winner.d, &c.winner.local
	}
	if len(m.req.Body()) == 0 {
		// An offerless re-INVITE (session refresh): our current SDP is the offer.
		c.respondSDP(m, media.NewOffer(*local).Marshal())
		return
	}
	offer, err := media.Parse(m.req.Body())
	if err != nil {
		c.e.respond(m.tx, m.req, 488, "Not Acceptable Here")
		return
	}
	codec, dtmf, err := media.Negotiate(offer, local.Codecs)
	if err == nil {
		err = c.relay.SetLeg(legID, media.LegConfig{Remote: offer.AudioAddr(), Codec: codec, DTMFPT: dtmf})
	}
	if err != nil {
		c.log.Warn("call: re-INVITE refused", "error", err)
		c.e.respond(m.tx, m.req, 488, "Not Acceptable Here")
		return
	}
	hold := offer.OnHold()
	c.relay.SetHold(hold)
	dir := media.SendRecv
	if a := offer.Audio(); a != nil {
		dir = a.Direction
		if offer.AudioAddr().Addr().IsUnspecified() {
			dir = media.Inactive
		}
	} else {
		dir = media.Inactive
	}
	otherLocal.Direction = dir
	otherLocal.SessionVersion++
	out := c.e.dialogRequest(other, sip.INVITE, media.NewOffer(*otherLocal).Marshal(), sip.NewHeader("Allow", allowed))
	tx, err := c.e.transact(c.ctx, out)
	if err != nil {
		c.log.Warn("call: relay re-INVITE", "error", err)
		c.e.respond(m.tx, m.req, 500, "Server Internal Error")
		return
	}
	// The originator's transaction stays open (its handler goroutine waits) until the
	// other leg answers.
	m.held = true
	c.pending = &reinvite{from: m, fromA: fromA, offer: offer, out: out, tx: tx}
	c.log.Info("call: re-INVITE relayed", "from_caller", fromA, "hold", hold)
	go func(r *reinvite) {
		for {
			select {
			case res := <-r.tx.Responses():
				c.post(reinviteResponse{r: r, res: res})
				if res.StatusCode >= 200 {
					return
				}
			case <-r.tx.Done():
				c.post(reinviteResponse{r: r, err: r.tx.Err()})
				return
			case <-c.done:
				return
			}
		}
	}(c.pending)
}

// onReinviteResponse completes a relayed re-INVITE.
func (c *call) onReinviteResponse(m reinviteResponse) {
	r := c.pending
	if r == nil || m.r != r {
		return
	}
	if m.err == nil && m.res.StatusCode < 200 {
		return
	}
	c.pending = nil
	defer close(r.from.done)
	defer r.tx.Terminate()
	if m.err != nil {
		c.e.respond(r.from.tx, r.from.req, 408, "Request Timeout")
		return
	}
	res := m.res
	if res.StatusCode >= 300 {
		c.e.respond(r.from.tx, r.from.req, res.StatusCode, res.Reason)
		return
	}
	otherD, otherLegID, otherLocal, local := c.winner.d, media.LegB, &c.winner.local, &c.aLocal
	if !r.fromA {
		otherD, otherLegID, otherLocal, local = c.a, media.LegA, &c.aLocal, &c.winner.local
	}
	ack := c.e.dialogRequest(otherD, sip.ACK, nil)
	ack.CSeq().SeqNo = r.out.CSeq().SeqNo
	if err := c.e.writeAck(ack); err != nil {
		c.log.Warn("call: ack re-INVITE", "error", err)
	}
	answered := media.SendRecv
	if ans, err := media.Parse(res.Body()); err == nil {
		if codec, dtmf, err := media.Negotiate(ans, otherLocal.Codecs); err == nil {
			_ = c.relay.SetLeg(otherLegID, media.LegConfig{Remote: ans.AudioAddr(), Codec: codec, DTMFPT: dtmf})
		}
		if a := ans.Audio(); a != nil {
			answered = a.Direction
		}
	}
	l := *local
	l.Direction = answered
	l.SessionVersion++
	ans, err := media.NewAnswer(r.offer, l)
	if err != nil {
		c.e.respond(r.from.tx, r.from.req, 488, "Not Acceptable Here")
		return
	}
	local.SessionVersion = l.SessionVersion
	c.respondSDP(r.from, ans.Marshal())
}

// respondSDP answers a request with 200 and an SDP body.
func (c *call) respondSDP(m *inRequest, body []byte) {
	res := sip.NewResponseFromRequest(m.req, 200, "OK", nil)
	d := c.a
	if callID(m.req) != c.a.callID {
		d = c.winner.d
	}
	res.AppendHeader(c.e.contact(d.transport, d.destination(), ""))
	res.AppendHeader(c.e.server)
	setBody(res, body)
	c.e.m.response(string(m.req.Method), 200)
	if err := m.tx.Respond(res); err != nil {
		c.log.Debug("respond", "error", err)
	}
}
