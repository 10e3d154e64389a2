package pbx

import (
	"context"
	"net/netip"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/registrar"
)

// dialogHandlers registers what sipgo's transaction layer does with dialog requests. Calls
// are not routed yet: an INVITE is authenticated (407) like a REGISTER and then refused with
// 404, in-dialog requests get 481 since no dialog exists.
func (e *Engine) dialogHandlers() {
	e.srv.OnInvite(e.onInvite)
	e.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	noDialog := func(req *sip.Request, tx sip.ServerTransaction) {
		e.respondTx(req, tx, 481, "Call/Transaction Does Not Exist")
	}
	for _, m := range []sip.RequestMethod{sip.CANCEL, sip.BYE, sip.INFO, sip.PRACK, sip.UPDATE, sip.REFER} {
		e.srv.OnRequest(m, noDialog)
	}
}

func (e *Engine) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	src, _ := netip.ParseAddrPort(req.Source())
	ctx := context.Background()
	acct, outcome, hs := e.reg.Authenticate(ctx, registrar.Request{Request: req, Source: src, Transport: lower(req.Transport())}, true)
	switch outcome {
	case registrar.AuthOK:
		e.log.Info("invite refused: call routing is not available", "call_id", callID(req), "from", acct.Username)
		e.respondTx(req, tx, 404, "Not Found")
	case registrar.AuthForbidden:
		e.respondTx(req, tx, 403, "Forbidden")
	default:
		e.respondTx(req, tx, 407, "Proxy Authentication Required", hs...)
	}
}

func (e *Engine) respondTx(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hs ...sip.Header) {
	src, _ := netip.ParseAddrPort(req.Source())
	res := e.response(req, src, code, reason, hs...)
	e.m.response(string(req.Method), code)
	if err := tx.Respond(res); err != nil {
		e.log.Warn("respond", "call_id", callID(req), "error", err)
	}
}
