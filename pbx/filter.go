package pbx

import (
	"bytes"
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// passThroughStart tells from the first bytes of a datagram whether sipgo's transaction
// layer should have it: a response, or a request of a method handed over by HandleStateful.
func (e *Engine) passThroughStart(b []byte) bool {
	if bytes.HasPrefix(b, []byte("SIP/")) {
		return true
	}
	sp := bytes.IndexByte(b, ' ')
	return sp > 0 && e.stateful.has(sip.RequestMethod(b[:sp]))
}

var errBanned = errors.New("source banned")

// filter sees every read of every transport before sipgo parses it. What it returns goes on
// to sipgo; nil means the engine took the data; an error closes a stream connection.
func (e *Engine) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	src := addrPort(p.RemoteAddr)
	if e.guard != nil && e.guard.Banned(src.Addr(), e.now()) {
		e.m.drop("banned")
		if p.Transport == "UDP" {
			return nil, nil
		}
		return nil, errBanned
	}
	if len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // keep-alive (RFC 5626): sipgo answers it on streams
	}
	if p.Transport == "UDP" {
		return e.filterDatagram(p, src, data), nil
	}
	return e.filterStream(p, src, data)
}

func (e *Engine) filterDatagram(p sip.TransportReadProps, src netip.AddrPort, data []byte) []byte {
	j := job{network: "UDP", src: src, remote: p.RemoteAddr}
	if len(data) > e.cfg.MaxMessageSize {
		e.m.drop("oversized")
		e.sendRaw(j, rawReplyStatus(data, 513, "Message Too Large", e.cfg.ServerHeader))
		return nil
	}
	if e.passThroughStart(data) {
		msg, err := e.parser.ParseSIP(data)
		if err != nil {
			e.m.drop("malformed")
			e.sendRaw(j, rawReply(data, e.cfg.ServerHeader))
			return nil
		}
		if req, ok := msg.(*sip.Request); ok {
			req.SetSource(src.String())
			req.SetTransport("UDP")
			if !e.admit(j, req) {
				return nil
			}
			return forceRport(req)
		}
		return data
	}
	j.raw = append([]byte(nil), data...) // sipgo reuses its read buffer
	e.enqueue(j)
	return nil
}

func (e *Engine) enqueue(j job) {
	select {
	case e.work <- j:
	default:
		e.m.drop("overload")
	}
}

// stream is the framing state of one TCP or TLS connection.
type stream struct {
	mu   sync.Mutex
	f    framer
	seen time.Time
}

func (e *Engine) filterStream(p sip.TransportReadProps, src netip.AddrPort, data []byte) ([]byte, error) {
	key := p.Transport + " " + p.RemoteAddr.String()
	v, ok := e.streams.Load(key)
	if !ok {
		v, _ = e.streams.LoadOrStore(key, &stream{f: framer{max: e.cfg.MaxMessageSize}})
		e.sweepStreams()
	}
	st := v.(*stream)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seen = e.now()
	j := job{network: p.Transport, src: src, remote: p.RemoteAddr}
	msgs, head, ferr := st.f.feed(data)
	var out []byte
	for _, raw := range msgs {
		msg, err := e.parser.ParseSIP(raw)
		if err != nil {
			e.m.drop("malformed")
			e.sendRaw(j, rawReply(raw, e.cfg.ServerHeader))
			continue
		}
		req, isReq := msg.(*sip.Request)
		if !isReq {
			out = append(out, raw...) // responses belong to sipgo's client transactions
			continue
		}
		req.SetSource(src.String())
		req.SetTransport(p.Transport)
		if !e.stateful.has(req.Method) {
			j.req = req
			e.enqueue(j)
			continue
		}
		if e.admit(j, req) {
			out = append(out, forceRport(req)...)
		}
	}
	if ferr != nil {
		e.streams.Delete(key)
		e.m.drop("malformed")
		if errors.Is(ferr, errTooLarge) {
			e.m.drop("oversized")
			e.sendRaw(j, rawReplyStatus(head, 513, "Message Too Large", e.cfg.ServerHeader))
		} else {
			e.sendRaw(j, rawReply(head, e.cfg.ServerHeader))
		}
		return out, ferr // no message boundary left to resync on: sipgo closes the connection
	}
	return out, nil
}

// sweepStreams forgets framing state of connections idle for 10 minutes (closed ones); it
// does the work at most once a minute.
func (e *Engine) sweepStreams() {
	now := e.now()
	if last := e.lastSweep.Load(); last != 0 && now.UnixNano()-last < int64(time.Minute) {
		return
	}
	e.lastSweep.Store(now.UnixNano())
	e.streams.Range(func(k, v any) bool {
		st := v.(*stream)
		st.mu.Lock()
		idle := now.Sub(st.seen) > 10*time.Minute
		st.mu.Unlock()
		if idle {
			e.streams.Delete(k)
		}
		return true
	})
}

func addrPort(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort()
	case *net.TCPAddr:
		return v.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// statelessTag is the To tag of stateless responses: the same for retransmissions of a
// request, as a stateless UAS should (RFC 3261 section 8.2.6.2).
func statelessTag(req *sip.Request) string {
	h := fnv.New64a()
	if c := req.CallID(); c != nil {
		h.Write([]byte(c.Value()))
	}
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		h.Write([]byte(t))
	}
	if c := req.CSeq(); c != nil {
		h.Write([]byte(strconv.FormatUint(uint64(c.SeqNo), 10)))
	}
	return "ct" + strconv.FormatUint(h.Sum64(), 36)
}

// forceRport marks the top Via with rport so sipgo answers to the address the request came
// from, as phones behind NAT need (Asterisk's force_rport), and returns the request's bytes.
func forceRport(req *sip.Request) []byte {
	if via := req.Via(); via != nil && !via.Params.Has("rport") {
		via.Params.Add("rport", "")
	}
	return []byte(req.String())
}
