package pbx

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialog is one side of a call as the B2BUA sees it (RFC 3261 section 12): the state needed
// to send requests inside it. A leg toward the caller is a UAS dialog built from the INVITE;
// a leg toward a callee is a UAC dialog completed by the callee's response.
type dialog struct {
	callID    string
	local     sip.Uri // our URI: From of our requests
	localName string
	localTag  string
	remote    sip.Uri // the peer's URI: To of our requests
	remoteNm  string
	remoteTag string
	target    sip.Uri   // remote target: the peer's Contact
	routes    []sip.Uri // route set, in the order requests carry it
	cseq      uint32    // CSeq of our last request
	transport string    // UDP, TCP, TLS
	dest      string    // host:port requests go to when the route set is empty (NAT-aware)
	extra     []sip.Header
}

// uasDialog is the dialog with the sender of an initial INVITE. Requests go back to where
// the INVITE came from (symmetric signalling, as phones behind NAT need) unless it named a
// route set.
func uasDialog(req *sip.Request, localTag string) *dialog {
	d := &dialog{callID: callID(req), localTag: localTag, transport: req.Transport(), dest: req.Source(), cseq: 1}
	if to := req.To(); to != nil {
		d.local, d.localName = to.Address, to.DisplayName
	}
	if from := req.From(); from != nil {
		d.remote, d.remoteNm = from.Address, from.DisplayName
		d.remoteTag, _ = from.Params.Get("tag")
	}
	if c := req.Contact(); c != nil {
		d.target = c.Address
	} else {
		d.target = d.remote
	}
	for _, h := range req.GetHeaders("Record-Route") {
		d.routes = append(d.routes, parseRoutes(h.Value())...)
	}
	return d
}

// parseRoutes reads the URIs of a Route or Record-Route header value (several may be
// comma-separated). Unparsable entries are skipped.
func parseRoutes(v string) []sip.Uri {
	var out []sip.Uri
	for _, part := range splitComma(v) {
		part = strings.TrimSpace(part)
		if i := strings.IndexByte(part, '<'); i >= 0 {
			if j := strings.IndexByte(part[i:], '>'); j > 0 {
				part = part[i+1 : i+j]
			}
		}
		var u sip.Uri
		if err := sip.ParseUri(part, &u); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// splitComma splits a header value on commas outside <> and quotes.
func splitComma(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// NewCancel builds the CANCEL of an INVITE (RFC 3261 section 9.1): its Request-URI, top
// Via, Route, From, To, Call-ID and CSeq number, without a body.
func NewCancel(inv *sip.Request) *sip.Request {
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	for _, r := range inv.GetHeaders("Route") {
		req.AppendHeader(sip.HeaderClone(r))
	}
	req.SetBody(nil)
	return req
}

// destination is where the next request of the dialog goes: the first route, else dest.
func (d *dialog) destination() string {
	if len(d.routes) > 0 {
		r := d.routes[0]
		port := r.Port
		if port == 0 {
			port = 5060
		}
		return net.JoinHostPort(r.Host, strconv.Itoa(port))
	}
	return d.dest
}

// request builds a request inside the dialog (RFC 3261 section 12.2.1.1). ACK and CANCEL
// do not take a new CSeq: the caller sets theirs.
func (e *Engine) dialogRequest(d *dialog, method sip.RequestMethod, body []byte, hs ...sip.Header) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	if method != sip.ACK && method != sip.CANCEL {
		d.cseq++
	}
	e.prepare(req, d.transport, d.destination())
	from := &sip.FromHeader{DisplayName: d.localName, Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	to := &sip.ToHeader{DisplayName: d.remoteNm, Address: *d.remote.Clone(), Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: method})
	for _, r := range d.routes {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	if method != sip.BYE && method != sip.CANCEL {
		req.AppendHeader(e.contact(d.transport, d.destination(), ""))
	}
	for _, h := range d.extra {
		req.AppendHeader(h)
	}
	for _, h := range hs {
		req.AppendHeader(h)
	}
	req.AppendHeader(e.userAgent)
	setBody(req, body)
	return req
}

// prepare sets the transport, destination, Via (with a new branch, our address as the peer
// reaches us) and Max-Forwards of a request the engine originates.
func (e *Engine) prepare(req *sip.Request, transport, dest string) {
	transport = strings.ToUpper(transport)
	if transport == "" {
		transport = "UDP"
	}
	req.SetTransport(transport)
	req.SetDestination(dest)
	host, port := e.sentBy(transport, dest)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport,
		Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if transport == "UDP" {
		if ap, err := netip.ParseAddrPort(e.addrs.udp); err == nil {
			req.Laddr = sip.Addr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
		}
	}
}

func setBody(m interface {
	SetBody([]byte)
	AppendHeader(sip.Header)
}, body []byte) {
	if len(body) > 0 {
		m.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	m.SetBody(body)
}

// sentBy is the host and port the peer at dest reaches our listener of transport on.
func (e *Engine) sentBy(transport, dest string) (string, int) {
	var listen string
	switch transport {
	case "TLS":
		listen = e.addrs.tls
	case "TCP":
		listen = e.addrs.tcp
	default:
		listen = e.addrs.udp
	}
	ap, _ := netip.ParseAddrPort(listen)
	return e.localIP(dest).String(), int(ap.Port())
}

// contact is our Contact header for requests and responses toward dest.
func (e *Engine) contact(transport, dest, user string) *sip.ContactHeader {
	host, port := e.sentBy(strings.ToUpper(transport), dest)
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	if t := strings.ToLower(transport); t == "tcp" || t == "tls" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", t)
	}
	return &sip.ContactHeader{Address: u}
}

// localIP is our address as a peer at dest (host:port) sees it: the configured external
// address for public peers, the listening address when it is a specific one, else the
// source address the system's routing table picks toward the peer.
func (e *Engine) localIP(dest string) netip.Addr {
	ap, _ := netip.ParseAddrPort(e.addrs.udp)
	if l := ap.Addr(); l.IsValid() && !l.IsUnspecified() {
		return l
	}
	host, _, err := net.SplitHostPort(dest)
	if err != nil {
		host = dest
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		if ips, lerr := net.LookupIP(host); lerr == nil && len(ips) > 0 {
			remote, _ = netip.AddrFromSlice(ips[0])
		}
	}
	remote = remote.Unmap()
	if e.cfg.ExternalIP != "" && remote.IsValid() && !remote.IsLoopback() && !remote.IsPrivate() {
		if ext, err := netip.ParseAddr(e.cfg.ExternalIP); err == nil {
			return ext
		}
	}
	return e.routes.source(remote)
}

// routeCache remembers the local source address the kernel picks toward each peer.
type routeCache struct{ m sync.Map }

func (c *routeCache) source(remote netip.Addr) netip.Addr {
	if !remote.IsValid() {
		return netip.MustParseAddr("127.0.0.1")
	}
	if remote.IsLoopback() {
		return remote
	}
	if v, ok := c.m.Load(remote); ok {
		return v.(netip.Addr)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	// A connected UDP socket sends nothing; it only asks the routing table.
	if conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9))); err == nil {
		ip = conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		conn.Close()
	}
	c.m.Store(remote, ip)
	return ip
}

// noBuild makes sipgo's client send a request exactly as the engine built it.
func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// transact starts a client transaction for req. UDP requests leave from the listening
// socket (prepare sets Laddr); stream requests reuse the connection to the destination
// when there is one, as a phone registered over TCP needs.
func (e *Engine) transact(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	return e.client.TransactionRequest(ctx, req, noBuild)
}

// writeAck writes an ACK for a 2xx (outside any transaction).
func (e *Engine) writeAck(req *sip.Request) error {
	return e.client.WriteRequest(req, noBuild)
}
