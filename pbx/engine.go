package pbx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/sync/errgroup"

	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
)

// Engine is Centrala's SIP core. It owns the listeners (UDP and TCP on one address, TLS on
// another) through sipgo's transport layer, and splits the traffic in a read filter:
//
//   - REGISTER, OPTIONS and requests we refuse outright (malformed, unknown method, unsupported
//     extension, banned source) are answered statelessly by a pool of workers, the way a
//     Kamailio registrar answers them, without transactions or per-request goroutines;
//   - responses, and requests of methods given to HandleStateful, go on to sipgo's
//     transaction layer and the handlers registered there (the call engine's INVITE dialogs).
type Engine struct {
	cfg      Config
	reg      *registrar.Registrar
	verifier *digest.Verifier
	guard    *digest.Guard
	bus      *event.Bus
	log      *slog.Logger
	m        *metrics
	now      func() time.Time

	parser *sip.Parser
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	tls    *tls.Config

	ctx      context.Context // the context of Run: calls derive theirs from it
	calls    *callTable      // nil: INVITEs are refused (registrar only)
	graph    Graphs          // inbound schemes (WithInbound); nil: extension and hang-up only
	prompts  Prompts
	agents   Agents      // feature codes (WithAgents); nil: off
	busy     Busy        // who is on a call, for queues (WithBusy); nil: off
	queues   *dispatcher // call queues (WithQueues); nil: off
	features FeatureCodes
	client   *sipgo.Client // client transactions of the call engine
	routes   routeCache

	work      chan job
	stateful  stateful
	streams   sync.Map     // remote address -> *stream, for TCP and TLS framing
	lastSweep atomic.Int64 // unix ns of the last sweep of streams

	addrs     struct{ udp, tcp, tls string } // listening addresses, set by Listen
	udp       net.PacketConn
	tcp, tlsL net.Listener
	bufs      sync.Pool
	allow     sip.Header
	accept    sip.Header
	server    sip.Header
	userAgent sip.Header
}

// Option configures an Engine.
type Option func(*Engine) error

// WithLogger sets the engine's logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) error { e.log = l; return nil } }

// WithMetrics registers the engine's collectors on reg.
func WithMetrics(reg registrar.Registerer) Option {
	return func(e *Engine) error {
		var err error
		e.m, err = newMetrics(reg)
		return err
	}
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(e *Engine) error { e.now = now; return nil } }

// New builds an engine; nothing listens before Listen or Run.
func New(cfg Config, reg *registrar.Registrar, verifier *digest.Verifier, guard *digest.Guard, bus *event.Bus, opts ...Option) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, reg: reg, verifier: verifier, guard: guard, bus: bus,
		log: slog.New(slog.DiscardHandler), now: time.Now, work: make(chan job, cfg.QueueSize), ctx: context.Background()}
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	if e.m == nil {
		e.m, _ = newMetrics(nil)
	}
	e.bufs.New = func() any { return new(bytes.Buffer) }
	e.allow = sip.NewHeader("Allow", allowed)
	e.accept = sip.NewHeader("Accept", "application/sdp")
	e.server = sip.NewHeader("Server", cfg.ServerHeader)
	e.userAgent = sip.NewHeader("User-Agent", cfg.ServerHeader)

	if cfg.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load tls certificate: %w", err)
		}
		e.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	client := &tls.Config{MinVersion: tls.VersionTLS12} // toward TLS trunks: the peer is verified
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("sip tls_ca: %w", err)
		}
		client.RootCAs = x509.NewCertPool()
		if !client.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sip tls_ca %s: no PEM certificate", cfg.TLSCA)
		}
	}
	e.parser = sip.NewParser()
	e.parser.MaxMessageLength = cfg.MaxMessageSize
	quiet := e.log.With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.ServerHeader),
		sipgo.WithUserAgentParser(e.parser),
		sipgo.WithUserAgenTLSConfig(client),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerReadFilter(e.filter),
			sip.WithTransportLayerLogger(quiet),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) { e.m.drop("stray_response") }),
		),
	)
	if err != nil {
		return nil, err
	}
	e.ua = ua
	e.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return nil, err
	}
	if e.calls != nil {
		if e.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(quiet)); err != nil {
			return nil, err
		}
		e.enableCalls()
	}
	return e, nil
}

// UserAgent is the engine's sipgo user agent (for client transactions).
func (e *Engine) UserAgent() *sipgo.UserAgent { return e.ua }

// Listen opens the listeners. With port 0 UDP and TCP share the port the system picks.
func (e *Engine) Listen() error {
	if e.udp != nil {
		return nil
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		e.udp, err = net.ListenPacket("udp", e.cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen sip udp %s: %w", e.cfg.Addr, err)
		}
		if u, ok := e.udp.(*net.UDPConn); ok { // absorb bursts; the kernel caps at rmem_max
			_ = u.SetReadBuffer(4 << 20)
			_ = u.SetWriteBuffer(4 << 20)
		}
		e.tcp, err = net.Listen("tcp", e.udp.LocalAddr().String())
		if err == nil {
			break
		}
		e.udp.Close()
		e.udp = nil
		if _, port, _ := net.SplitHostPort(e.cfg.Addr); port != "0" {
			return fmt.Errorf("listen sip tcp %s: %w", e.cfg.Addr, err)
		}
	}
	if err != nil {
		return fmt.Errorf("listen sip tcp %s: %w", e.cfg.Addr, err)
	}
	if e.tls != nil {
		l, err := net.Listen("tcp", e.cfg.TLSAddr)
		if err != nil {
			e.udp.Close()
			e.tcp.Close()
			return fmt.Errorf("listen sip tls %s: %w", e.cfg.TLSAddr, err)
		}
		e.tlsL = tls.NewListener(l, e.tls)
		e.addrs.tls = l.Addr().String()
	}
	e.addrs.udp, e.addrs.tcp = e.udp.LocalAddr().String(), e.tcp.Addr().String()
	return nil
}

// UDPAddr, TCPAddr and TLSAddr are the listening addresses after Listen ("" when none).
func (e *Engine) UDPAddr() string { return e.addrs.udp }
func (e *Engine) TCPAddr() string { return e.addrs.tcp }
func (e *Engine) TLSAddr() string { return e.addrs.tls }

// Run listens (if Listen was not called) and serves until ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Listen(); err != nil {
		return err
	}
	e.log.Info("sip listening", "udp", e.UDPAddr(), "tcp", e.TCPAddr(), "tls", e.TLSAddr(), "realm", e.cfg.Realm)
	g, gctx := errgroup.WithContext(ctx)
	e.ctx = gctx
	for i := 0; i < e.cfg.Workers; i++ {
		g.Go(func() error { e.worker(gctx); return nil })
	}
	serve := func(f func() error) {
		g.Go(func() error {
			if err := f(); err != nil && !errors.Is(err, net.ErrClosed) && gctx.Err() == nil {
				return err
			}
			return nil
		})
	}
	// Several read loops on the one UDP socket: one loop (sipgo's default) tops out at what
	// a single core can read and filter, and the kernel then drops datagrams.
	for i := 0; i < max(2, runtime.GOMAXPROCS(0)); i++ {
		serve(func() error { return e.srv.ServeUDP(e.udp) })
	}
	serve(func() error { return e.srv.ServeTCP(e.tcp) })
	if e.tlsL != nil {
		serve(func() error { return e.srv.ServeTLS(e.tlsL) })
	}
	if e.calls != nil && e.busy != nil {
		g.Go(func() error { e.renewBusy(gctx); return nil })
	}
	if e.calls != nil && e.queues != nil {
		g.Go(func() error { e.queues.run(gctx); return nil })
	}
	g.Go(func() error {
		<-gctx.Done()
		e.closeCalls() // BYEs leave before the sockets close
		e.udp.Close()
		e.tcp.Close()
		if e.tlsL != nil {
			e.tlsL.Close()
		}
		return e.ua.Close()
	})
	err := g.Wait()
	e.log.Info("sip stopped")
	return err
}

// job is a request for the stateless workers.
type job struct {
	raw     []byte       // a UDP datagram still to parse, or nil
	req     *sip.Request // a request framed from a stream
	network string       // UDP, TCP, TLS as sipgo names them
	src     netip.AddrPort
	remote  net.Addr
}

func (e *Engine) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.work:
			e.handle(ctx, j)
		}
	}
}

func (e *Engine) handle(ctx context.Context, j job) {
	req := j.req
	if req == nil {
		msg, err := e.parser.ParseSIP(j.raw)
		if err != nil {
			e.m.drop("malformed")
			e.sendRaw(j, rawReply(j.raw, e.cfg.ServerHeader))
			return
		}
		var ok bool
		if req, ok = msg.(*sip.Request); !ok {
			e.m.drop("stray_response")
			return
		}
		req.SetSource(j.src.String())
		req.SetTransport(j.network)
	}
	if !e.admit(j, req) {
		return
	}
	switch req.Method {
	case sip.REGISTER:
		r := e.reg.Register(ctx, registrar.Request{Request: req, Source: j.src,
			Local: e.localAddr(j.network), Transport: lower(j.network)})
		e.send(j, req, e.response(req, j.src, r.Status, r.Reason, r.Headers...))
	case sip.OPTIONS:
		e.send(j, req, e.response(req, j.src, 200, "OK", e.allow, e.accept))
	case sip.INVITE:
		if to := req.To(); to != nil && to.Params.Has("tag") {
			e.send(j, req, e.response(req, j.src, 481, "Call/Transaction Does Not Exist"))
			return
		}
		e.invite(ctx, j, req)
	case sip.ACK:
	case sip.CANCEL, sip.BYE, sip.INFO, sip.PRACK, sip.UPDATE, sip.REFER:
		e.send(j, req, e.response(req, j.src, 481, "Call/Transaction Does Not Exist"))
	case sip.SUBSCRIBE, sip.NOTIFY, sip.MESSAGE, sip.PUBLISH:
		e.send(j, req, e.response(req, j.src, 405, "Method Not Allowed", e.allow))
	default:
		e.send(j, req, e.response(req, j.src, 501, "Not Implemented", e.allow))
	}
}

func (e *Engine) localAddr(network string) string {
	switch network {
	case "UDP":
		return e.addrs.udp
	case "TLS":
		return e.addrs.tls
	}
	return e.addrs.tcp
}

// response builds a stateless response to req (RFC 3261 section 8.2.6).
func (e *Engine) response(req *sip.Request, src netip.AddrPort, code int, reason string, hs ...sip.Header) *sip.Response {
	if to := req.To(); to != nil && code > 100 && !to.Params.Has("tag") {
		to.Params.Add("tag", statelessTag(req))
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if via := res.Via(); via != nil && !via.Params.Has("received") {
		if ip := src.Addr().String(); via.Host != ip {
			via.Params.Add("received", ip)
		}
	}
	for _, h := range hs {
		res.AppendHeader(h)
	}
	res.AppendHeader(e.server)
	return res
}

// send writes a stateless response back where the request came from (symmetric, as rport).
func (e *Engine) send(j job, req *sip.Request, res *sip.Response) {
	e.m.response(string(req.Method), res.StatusCode)
	if j.network == "UDP" {
		buf := e.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		res.StringWrite(buf)
		if _, err := e.udp.WriteTo(buf.Bytes(), j.remote); err != nil {
			e.log.Warn("send sip response", "call_id", callID(req), "error", err)
		}
		e.bufs.Put(buf)
		return
	}
	conn, err := e.ua.TransportLayer().GetConnection(j.network, j.remote.String())
	if err == nil {
		err = conn.WriteMsg(res)
		conn.TryClose()
	}
	if err != nil {
		e.log.Warn("send sip response", "call_id", callID(req), "error", err)
	}
}

// sendRaw writes bytes built without a parsed request (400 to an unparsable request).
func (e *Engine) sendRaw(j job, b []byte) {
	if b == nil {
		return
	}
	e.m.response("unparsable", statusOf(b))
	if j.network == "UDP" {
		_, _ = e.udp.WriteTo(b, j.remote)
		return
	}
	if conn, err := e.ua.TransportLayer().GetConnection(j.network, j.remote.String()); err == nil {
		if w, ok := conn.(interface{ Write([]byte) (int, error) }); ok {
			_, _ = w.Write(b)
		}
		conn.TryClose()
	}
}

func statusOf(b []byte) int {
	if len(b) >= 11 {
		n, _ := strconv.Atoi(string(b[8:11]))
		return n
	}
	return 0
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func lower(network string) string { return sip.NetworkToLower(network) }
