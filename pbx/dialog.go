package pbx

import (
	"context"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/registrar"
)

// Without WithCalls the engine is a registrar only, and the stateless workers answer dialog
// requests the way a registrar-only server should: an INVITE is authenticated like a
// REGISTER (407 with both challenges) and then refused with 404, requests inside a dialog
// get 481, and ACKs are absorbed. With WithCalls these methods go to the call engine
// (calls.go) through sipgo's transaction layer instead.
func (e *Engine) invite(ctx context.Context, j job, req *sip.Request) {
	acct, outcome, hs := e.reg.Authenticate(ctx, registrar.Request{Request: req, Source: j.src, Transport: lower(j.network)}, true)
	switch outcome {
	case registrar.AuthOK:
		e.log.Info("invite refused: call routing is not available", "call_id", callID(req), "from", acct.Username)
		e.send(j, req, e.response(req, j.src, 404, "Not Found"))
	case registrar.AuthForbidden:
		e.send(j, req, e.response(req, j.src, 403, "Forbidden"))
	case registrar.AuthError:
		e.send(j, req, e.response(req, j.src, 500, "Server Internal Error"))
	default:
		e.send(j, req, e.response(req, j.src, 407, "Proxy Authentication Required", hs...))
	}
}

// stateful holds the methods handed to sipgo's transaction layer instead of the stateless
// workers; see HandleStateful.
type stateful struct {
	mu      sync.RWMutex
	methods map[sip.RequestMethod]bool
}

func (s *stateful) has(m sip.RequestMethod) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.methods[m]
}

// HandleStateful hands requests of a method to sipgo's transaction layer and the handler
// (retransmissions absorbed, ACK matching, timers): what the call engine needs for INVITE
// dialogs. Requests still pass the engine's validation and source bans first.
func (e *Engine) HandleStateful(m sip.RequestMethod, h sipgo.RequestHandler) {
	e.stateful.mu.Lock()
	if e.stateful.methods == nil {
		e.stateful.methods = map[sip.RequestMethod]bool{}
	}
	e.stateful.methods[m] = true
	e.stateful.mu.Unlock()
	e.srv.OnRequest(m, h)
}
