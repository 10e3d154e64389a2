package pbx

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE"

func known(m sip.RequestMethod) bool {
	switch m {
	case sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.REGISTER, sip.OPTIONS, sip.SUBSCRIBE,
		sip.NOTIFY, sip.REFER, sip.INFO, sip.MESSAGE, sip.PRACK, sip.UPDATE, sip.PUBLISH:
		return true
	}
	return false
}

// validate applies the checks every request must pass before any handler sees it (RFC 3261
// sections 8.2 and 16.3, RFC 4475) and returns the response refusing it, or nil.
func (e *Engine) validate(req *sip.Request, src netip.AddrPort) *sip.Response {
	bad := func(code int, reason string, hs ...sip.Header) *sip.Response {
		return e.response(req, src, code, reason, hs...)
	}
	if req.SipVersion != "SIP/2.0" {
		return bad(505, "Version Not Supported")
	}
	// one pass over the headers (sipgo's GetHeaders lowercases its argument on every call)
	var from, to, callID, cseq, maxFwd, clen, ctype int
	var require []string
	for _, h := range req.Headers() {
		switch h.(type) {
		case *sip.FromHeader:
			from++
		case *sip.ToHeader:
			to++
		case *sip.CallIDHeader:
			callID++
		case *sip.CSeqHeader:
			cseq++
		case *sip.MaxForwardsHeader:
			maxFwd++
		case *sip.ContentLengthHeader:
			clen++
		case *sip.ContentTypeHeader:
			ctype++
		default:
			if strings.EqualFold(h.Name(), "Require") {
				require = append(require, h.Value())
			}
		}
	}
	for _, c := range [...]struct {
		name string
		n    int
	}{{"From", from}, {"To", to}, {"Call-ID", callID}, {"CSeq", cseq}} {
		switch {
		case c.n == 0:
			return bad(400, "Bad Request: Missing "+c.name)
		case c.n > 1:
			return bad(400, "Bad Request: Multiple "+c.name)
		}
	}
	if maxFwd > 1 || clen > 1 || ctype > 1 {
		return bad(400, "Bad Request: Multiple single-valued header")
	}
	if !known(req.Method) {
		return bad(501, "Not Implemented", e.allow)
	}
	if cseq := req.CSeq(); cseq.MethodName != req.Method {
		return bad(400, "Bad Request: CSeq method does not match")
	}
	if s := strings.ToLower(req.Recipient.Scheme); s != "sip" && s != "sips" && s != "tel" {
		return bad(416, "Unsupported URI Scheme")
	}
	if req.Method != sip.ACK && req.Method != sip.CANCEL {
		var unsupported []string
		for _, v := range require {
			for _, tag := range strings.Split(v, ",") {
				if tag = strings.TrimSpace(tag); tag != "" {
					unsupported = append(unsupported, tag)
				}
			}
		}
		if len(unsupported) > 0 {
			return bad(420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
		}
	}
	if ct := req.ContentType(); ct != nil && len(req.Body()) > 0 && req.Method == sip.INVITE {
		if v := strings.ToLower(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0])); v != "application/sdp" && !strings.HasPrefix(v, "multipart/") {
			return bad(415, "Unsupported Media Type", e.accept)
		}
	}
	return nil
}

// admit counts a request and lets it on when it is valid; otherwise it answers it (or drops it
// when there is no Via to answer to) and reports false.
func (e *Engine) admit(j job, req *sip.Request) bool {
	e.m.request(string(req.Method), j.network)
	if req.Via() == nil {
		e.m.drop("malformed")
		return false
	}
	if res := e.validate(req, j.src); res != nil {
		if req.Method != sip.ACK {
			e.send(j, req, res)
		}
		return false
	}
	return true
}
