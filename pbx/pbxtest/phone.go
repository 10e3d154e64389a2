package pbxtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/media"
)

// AnswerMode says what a Phone does with a new incoming call.
type AnswerMode int

const (
	// AutoAnswer rings (180, or 183 with Answer.EarlyMedia) and answers 200 after Answer.Delay.
	AutoAnswer AnswerMode = iota
	// Reject answers at once with the final status Answer.Code (default 486 Busy Here).
	Reject
	// NeverAnswer rings until the caller cancels (200 to the CANCEL, 487 to the INVITE), or
	// until the test calls PhoneCall.Answer or PhoneCall.Reject.
	NeverAnswer
)

// Answer is a Phone's answering policy for incoming calls.
type Answer struct {
	Mode       AnswerMode
	Delay      time.Duration // AutoAnswer: time between the 180 and the 200
	Code       int           // Reject: the final status (default 486)
	EarlyMedia bool          // ring with 183 Session Progress carrying the SDP answer, and send RTP at once
}

// PhoneOptions configure NewPhone. Only Server is needed to call out or register.
type PhoneOptions struct {
	Server      string // host:port of the PBX; every request outside a dialog goes there
	Domain      string // host[:port] of our address of record and of dialled numbers (default Server)
	Username    string // user part of our URI and digest username (default "phone")
	Password    string
	DisplayName string
	// Transport is "udp" (default) or "tcp". Over TCP with a Server the phone connects to the
	// server once and sends and receives everything on that connection, like a phone behind
	// NAT: its Contact is the connection's local address and nothing listens there. Over TCP
	// without a Server it listens on 127.0.0.1 (a callee for tests without a PBX).
	Transport string
	Codecs    []media.Codec    // in order of preference; default PCMU, PCMA
	NoDTMF    bool             // neither offer nor accept telephone-event
	Algorithm digest.Algorithm // answer only challenges of this algorithm; default: the first one offered we support
	Answer    Answer
	Silent    bool          // calls start muted: no audio until PhoneCall.Mute(false) (DTMF still goes)
	Timeout   time.Duration // wait for a response to a non-INVITE request, or for an ACK (default 5 s)
	UserAgent string        // User-Agent header (default "pbxtest-phone")
}

// EndReason says how a call ended.
type EndReason string

const (
	EndNone         EndReason = ""              // not ended
	EndLocalHangup  EndReason = "local-bye"     // we sent BYE
	EndRemoteHangup EndReason = "remote-bye"    // the other side sent BYE
	EndLocalCancel  EndReason = "local-cancel"  // we cancelled our INVITE
	EndRemoteCancel EndReason = "remote-cancel" // the caller cancelled the INVITE it sent us
	EndRejected     EndReason = "rejected"      // a final non-2xx response to the INVITE, received or sent
	EndError        EndReason = "error"         // no final response (timeout, transport error)
	EndClosed       EndReason = "closed"        // the phone stopped while the call was ringing
)

// Phone is a SIP phone for tests: a sipgo user agent on 127.0.0.1 that registers with digest
// authentication, places and receives calls (SDP offer/answer with media.Local), sends and
// counts RTP, sends and detects RFC 4733 DTMF and holds. It is stopped at the end of the test.
type Phone struct {
	t       testing.TB
	o       PhoneOptions
	network string         // "UDP" or "TCP"
	laddr   netip.AddrPort // our SIP address: where we listen, or our end of the TCP connection
	domain  sip.Uri        // host and port of our AOR
	traceOn atomic.Bool    // log SIP messages with t.Logf (CENTRALA_TEST_LOG set)
	deaf    atomic.Bool    // Close began to stop sipgo: drop what it reads

	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	pconn net.PacketConn
	ln    net.Listener

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // our goroutines and handlers that block
	incoming chan *PhoneCall

	mu        sync.Mutex
	closed    bool
	answer    Answer
	calls     map[string]*PhoneCall // Call-ID + "\x00" + local tag
	order     []*PhoneCall
	regCallID string
	regTag    string
	regCSeq   uint32
}

// NewPhone starts a phone; t.Cleanup stops it (hanging up its calls first).
func NewPhone(t testing.TB, o PhoneOptions) *Phone {
	t.Helper()
	if o.Username == "" {
		o.Username = "phone"
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "pbxtest-phone"
	}
	if o.Answer.Code == 0 {
		o.Answer.Code = 486
	}
	p := &Phone{t: t, o: o, answer: o.Answer, calls: map[string]*PhoneCall{}, incoming: make(chan *PhoneCall, 64),
		regCallID: Rand() + "@pbxtest", regTag: sip.GenerateTagN(16)}
	trace := os.Getenv("CENTRALA_TEST_LOG") != ""
	p.traceOn.Store(trace)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	switch strings.ToLower(o.Transport) {
	case "", "udp":
		p.network = "UDP"
	case "tcp":
		p.network = "TCP"
	default:
		t.Fatalf("pbxtest: phone transport %q: want udp or tcp", o.Transport)
	}

	log := slog.New(slog.DiscardHandler)
	if trace {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("phone", o.Username)
	}
	var err error
	p.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(o.UserAgent),
		sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log), sip.WithTransportLayerReadFilter(p.traceRead)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(p.onStrayResponse)),
	)
	if err != nil {
		t.Fatalf("pbxtest: phone user agent: %v", err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(log)); err != nil {
		t.Fatalf("pbxtest: phone server: %v", err)
	}
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnCancel(p.onCancel)
	p.srv.OnOptions(p.onOK)
	p.srv.OnInfo(p.onOK)
	p.srv.OnNotify(p.onOK)

	serveDone := make(chan struct{})
	switch {
	case p.network == "UDP":
		p.pconn, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pbxtest: phone socket: %v", err)
		}
		p.laddr = p.pconn.LocalAddr().(*net.UDPAddr).AddrPort()
		go func() { defer close(serveDone); _ = p.srv.ServeUDP(p.pconn) }()
	case o.Server != "":
		conn, err := net.DialTimeout("tcp4", o.Server, o.Timeout)
		if err != nil {
			t.Fatalf("pbxtest: phone connect to %s: %v", o.Server, err)
		}
		p.laddr = conn.LocalAddr().(*net.TCPAddr).AddrPort()
		p.ln = newConnListener(conn)
		go func() { defer close(serveDone); _ = p.srv.ServeTCP(p.ln) }()
	default:
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pbxtest: phone listener: %v", err)
		}
		p.ln = &trackingListener{Listener: ln}
		p.laddr = ln.Addr().(*net.TCPAddr).AddrPort()
		go func() { defer close(serveDone); _ = p.srv.ServeTCP(p.ln) }()
	}
	t.Cleanup(func() {
		p.Close()
		select {
		case <-serveDone:
		case <-time.After(5 * time.Second):
			t.Errorf("pbxtest: phone %s: sipgo did not stop serving", o.Username)
		}
	})
	p.cli, err = sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.laddr.String()), sipgo.WithClientNAT(),
		sipgo.WithClientLogger(log))
	if err != nil {
		t.Fatalf("pbxtest: phone client: %v", err)
	}
	domain := o.Domain
	if domain == "" {
		domain = o.Server
	}
	if domain == "" {
		domain = p.laddr.String()
	}
	if err := sip.ParseUri("sip:"+domain, &p.domain); err != nil {
		t.Fatalf("pbxtest: phone domain %q: %v", domain, err)
	}
	// sipgo registers the socket in its connection pool in the serving goroutine; a request
	// sent before that would try to bind the port again.
	pool := p.ua.TransportLayer().Pool(p.network)
	if p.network == "TCP" && o.Server == "" {
		return p // the pool fills when someone connects
	}
	for deadline := time.Now().Add(5 * time.Second); pool.Size() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pbxtest: phone %s: sipgo did not start serving", o.Username)
		}
	}
	return p
}

// connListener is a net.Listener that yields one connection we dialled, so that sipgo reads
// it and answers on it like on an accepted one, then blocks until closed.
type connListener struct {
	conn   net.Conn
	given  chan net.Conn
	closed chan struct{}
	close  sync.Once
}

func newConnListener(c net.Conn) *connListener {
	l := &connListener{conn: c, given: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.given <- c
	return l
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.given:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.close.Do(func() { close(l.closed); l.conn.Close() })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.conn.LocalAddr() }

// trackingListener closes the connections it accepted when it is closed.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	return err
}

// Addr is the phone's SIP address (host:port): where it listens (UDP, or TCP without a
// Server), or its end of the TCP connection to the Server.
func (p *Phone) Addr() string { return p.laddr.String() }

// URI is the phone's address of record, sip:user@domain.
func (p *Phone) URI() string { u := p.aor(); return u.String() }

// Contact is the URI the phone puts in Contact headers.
func (p *Phone) Contact() string { c := p.contact(); return c.Address.String() }

// SetAnswer changes how the phone answers the next incoming calls.
func (p *Phone) SetAnswer(a Answer) {
	if a.Code == 0 {
		a.Code = 486
	}
	p.mu.Lock()
	p.answer = a
	p.mu.Unlock()
}

// Incoming delivers the phone's incoming calls (new INVITEs) as they arrive, before the
// phone answers them. It queues up to 64 calls nobody took; later ones are not queued.
func (p *Phone) Incoming() <-chan *PhoneCall { return p.incoming }

// WaitIncoming returns the next incoming call.
func (p *Phone) WaitIncoming(timeout time.Duration) (*PhoneCall, error) {
	select {
	case c := <-p.incoming:
		return c, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("pbxtest: phone %s: no incoming call within %v", p.o.Username, timeout)
	}
}

// Calls returns the phone's calls, oldest first.
func (p *Phone) Calls() []*PhoneCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.order)
}

// Close hangs up established calls, cancels the ones it is placing, rejects ringing incoming
// calls with 480 and stops the phone. It is safe to call twice; t.Cleanup calls it.
func (p *Phone) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	calls := slices.Clone(p.order)
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); c.shutdown() }()
	}
	wg.Wait()
	p.cancel() // ringing incoming calls get their 480 now
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("pbxtest: phone %s: goroutines did not stop", p.o.Username)
	}
	for _, c := range p.Calls() {
		c.rtp.close()
	}
	// sipgo handles each message it reads in a goroutine of its own. One that runs after our
	// socket is closed and finds no connection for its answer opens a new one (a UDP socket,
	// or a TCP connection back to the sender) that nobody closes. So: stop passing messages
	// up, let those already passed up finish while the socket is open, close it, and clear
	// sipgo's connections once more after a straggler could have added one.
	p.deaf.Store(true)
	time.Sleep(20 * time.Millisecond)
	// Our sockets before sipgo's user agent: its readers drop their connections from the
	// pool and release their references, so that closing the user agent finds nothing left
	// (sipgo warns about connection references going negative otherwise).
	if p.pconn != nil {
		p.pconn.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
	pool := p.ua.TransportLayer().Pool(p.network)
	for deadline := time.Now().Add(time.Second); pool.Size() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	_ = p.ua.Close()
	time.Sleep(20 * time.Millisecond)
	_ = p.ua.TransportLayer().Close()
	p.traceOn.Store(false)
}

// track registers a goroutine that Close waits for; false once the phone is closed.
func (p *Phone) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

func (p *Phone) logf(format string, args ...any) {
	if p.traceOn.Load() {
		p.t.Logf("%s phone %s: "+format, append([]any{time.Now().Format("15:04:05.000"), p.o.Username}, args...)...)
	}
}

func (p *Phone) traceRead(info sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.deaf.Load() {
		return nil, nil
	}
	if p.traceOn.Load() {
		p.t.Logf("%s phone %s: %s received from %s:\n%s", time.Now().Format("15:04:05.000"), p.o.Username, info.Transport, info.RemoteAddr, data)
	}
	return data, nil
}

func (p *Phone) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: p.o.Username, Host: p.domain.Host, Port: p.domain.Port}
}

func (p *Phone) contact() *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: p.o.Username, Host: p.laddr.Addr().String(), Port: int(p.laddr.Port())}
	if p.network == "TCP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// targetURI is sip:target@domain, or target itself when it is a SIP URI or user@host.
func (p *Phone) targetURI(target string) (sip.Uri, error) {
	var u sip.Uri
	s := target
	switch {
	case strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:"):
	case strings.Contains(target, "@"):
		s = "sip:" + target
	default:
		d := p.domain.Host
		if p.domain.Port > 0 {
			d += ":" + strconv.Itoa(p.domain.Port)
		}
		s = "sip:" + target + "@" + d
	}
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("pbxtest: target %q: %w", target, err)
	}
	return u, nil
}

// prepare sets what sipgo needs to send req from our socket: transport, local address and,
// outside a dialog, the server as destination (an outbound proxy).
func (p *Phone) prepare(req *sip.Request, dest string) {
	req.SetTransport(p.network)
	if dest != "" {
		req.SetDestination(dest)
	}
	a := p.laddr.Addr()
	req.Laddr = sip.Addr{IP: net.IP(a.AsSlice()), Port: int(p.laddr.Port()), Hostname: a.String()}
	if req.GetHeader("User-Agent") == nil {
		req.AppendHeader(sip.NewHeader("User-Agent", p.o.UserAgent))
	}
	if req.Body() == nil {
		req.SetBody(nil) // Content-Length: 0
	}
}

// viaOnly is the request option for requests we build whole: sipgo adds a Via (with a new
// branch and rport) unless the request has one, and nothing else.
func viaOnly(c *sipgo.Client, r *sip.Request) error {
	if r.Via() == nil {
		return sipgo.ClientRequestAddVia(c, r)
	}
	return nil
}

func (p *Phone) transact(req *sip.Request) (sip.ClientTransaction, error) {
	tx, err := p.cli.TransactionRequest(p.ctx, req, viaOnly)
	if err == nil {
		p.logf("sent %s", req.StartLine())
	}
	return tx, err
}

// do sends a non-INVITE request and returns its final response.
func (p *Phone) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := p.transact(req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("pbxtest: %s: %w", req.Method, tx.Err())
		case <-ctx.Done():
			return nil, fmt.Errorf("pbxtest: %s: no final response: %w", req.Method, ctx.Err())
		}
	}
}

// withAuth returns a copy of req answering the 401 or 407 res: a new CSeq, a new branch
// and an Authorization (Proxy-Authorization) header made with pbx/digest.
func (p *Phone) withAuth(req *sip.Request, res *sip.Response) (*sip.Request, error) {
	chName, authName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		chName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var ch digest.Challenge
	found := false
	for _, h := range res.GetHeaders(chName) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil || !c.Supported() || (p.o.Algorithm != "" && c.Algorithm != p.o.Algorithm) {
			continue
		}
		ch, found = c, true
		break
	}
	if !found {
		return nil, fmt.Errorf("pbxtest: %d has no %s challenge we can answer", res.StatusCode, chName)
	}
	r := req.Clone()
	r.RemoveHeader("Via")
	r.CSeq().SeqNo++
	for r.GetHeader(authName) != nil {
		r.RemoveHeader(authName)
	}
	r.AppendHeader(sip.NewHeader(authName,
		ch.Answer(p.o.Username, p.o.Password, string(r.Method), r.Recipient.String(), 1, digest.NewCNonce())))
	return r, nil
}

// Register sends REGISTER (Expires: expires) for the phone's contact to the Server,
// answers a 401 or 407 challenge once and returns the final response. expires 0 removes
// the binding.
func (p *Phone) Register(expires int, hs ...sip.Header) (*sip.Response, error) {
	if p.o.Server == "" {
		return nil, errors.New("pbxtest: phone has no Server to register with")
	}
	p.mu.Lock()
	p.regCSeq++
	cseq := p.regCSeq
	p.mu.Unlock()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.domain.Host, Port: p.domain.Port})
	from := &sip.FromHeader{DisplayName: p.o.DisplayName, Address: p.aor(), Params: sip.NewParams()}
	from.Params.Add("tag", p.regTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{DisplayName: p.o.DisplayName, Address: p.aor()})
	callID := sip.CallIDHeader(p.regCallID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(p.contact())
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.AppendHeader(sip.NewHeader("Allow", phoneAllow))
	for _, h := range hs {
		req.AppendHeader(h)
	}
	p.prepare(req, p.o.Server)
	ctx, cancel := context.WithTimeout(p.ctx, 2*p.o.Timeout)
	defer cancel()
	res, err := p.do(ctx, req)
	if err != nil || (res.StatusCode != 401 && res.StatusCode != 407) {
		return res, err
	}
	req, err = p.withAuth(req, res)
	if err != nil {
		return res, err
	}
	p.mu.Lock()
	p.regCSeq = req.CSeq().SeqNo
	p.mu.Unlock()
	return p.do(ctx, req)
}

const phoneAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"

// Call places a call to target (a number, user@host or a SIP URI) and waits for the final
// response, for at most 35 s. A call that was not answered is no error: see
// PhoneCall.Status. The error is for no final response at all.
func (p *Phone) Call(target string, hs ...sip.Header) (*PhoneCall, error) {
	c, err := p.Dial(target, hs...)
	if err != nil {
		return c, err
	}
	_, err = c.WaitFinal(35 * time.Second)
	return c, err
}

// Dial sends an INVITE to target (a number, user@host or a SIP URI) through the Server with
// an SDP offer and returns at once; extra headers go into the INVITE. The call answers one
// 401 or 407 challenge, collects provisional responses, ACKs a 2xx and starts media.
func (p *Phone) Dial(target string, hs ...sip.Header) (*PhoneCall, error) {
	ruri, err := p.targetURI(target)
	if err != nil {
		return nil, err
	}
	dest := p.o.Server
	if dest == "" {
		dest = ruri.HostPort()
		if ruri.Port == 0 {
			dest = net.JoinHostPort(ruri.Host, "5060")
		}
	}
	if !p.track() {
		return nil, errors.New("pbxtest: phone closed")
	}
	c, err := p.newCall(false, Rand()+Rand()+"@pbxtest", sip.GenerateTagN(16))
	if err != nil {
		p.wg.Done()
		return nil, err
	}
	to := *ruri.Clone()
	to.UriParams, to.Headers = nil, nil
	c.mu.Lock()
	c.dlg = phoneDialog{localURI: p.aor(), localName: p.o.DisplayName, remoteURI: to, target: ruri, localCSeq: 1}
	offer := c.newSDPLocked(media.SendRecv, nil)
	req := c.newRequestLocked(sip.INVITE, 1)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", phoneAllow))
	for _, h := range hs {
		req.AppendHeader(h)
	}
	req.SetBody(offer.Marshal())
	p.prepare(req, dest)
	c.mu.Unlock()
	p.addCall(c)
	tx, err := p.transact(req) // sipgo adds the Via: c.invite is set after
	c.mu.Lock()
	c.invite = req
	c.mu.Unlock()
	if err != nil {
		p.wg.Done()
		c.fail(err)
		return c, err
	}
	go c.runInvite(tx)
	return c, nil
}

// newCall makes a call with its RTP socket.
func (p *Phone) newCall(incoming bool, callID, localTag string) (*PhoneCall, error) {
	r, err := newRTPStream(p.o.Silent)
	if err != nil {
		return nil, err
	}
	return &PhoneCall{p: p, incoming: incoming, callID: callID, localTag: localTag, rtp: r,
		progress: make(chan struct{}), ringing: make(chan struct{}), final: make(chan struct{}),
		established: make(chan struct{}), ended: make(chan struct{}), canceled: make(chan struct{}),
		acks: make(chan uint32, 16), answerCmd: make(chan int, 1),
		sessionID: rand.Uint64N(1 << 40), sendDTMF: media.NoDTMF, acksSent: map[uint32]*sip.Request{}}, nil
}

func callKey(callID, localTag string) string { return callID + "\x00" + localTag }

func (p *Phone) addCall(c *PhoneCall) {
	p.mu.Lock()
	p.calls[callKey(c.callID, c.localTag)] = c
	p.order = append(p.order, c)
	p.mu.Unlock()
}

func (p *Phone) findCall(callID, localTag string) *PhoneCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[callKey(callID, localTag)]
}

// findRequestCall finds the call of an in-dialog request (our tag is in To).
func (p *Phone) findRequestCall(req *sip.Request) *PhoneCall {
	if req.CallID() == nil || req.To() == nil {
		return nil
	}
	tag, _ := req.To().Params.Get("tag")
	return p.findCall(req.CallID().Value(), tag)
}

func (p *Phone) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code == 405 || (req.Method == sip.OPTIONS && code == 200) {
		res.AppendHeader(sip.NewHeader("Allow", phoneAllow))
	}
	p.logf("sent %d %s to %s", code, reason, req.Method)
	_ = tx.Respond(res)
}

func (p *Phone) onOK(req *sip.Request, tx sip.ServerTransaction) { p.respond(tx, req, 200, "OK") }

func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// sipgo answers a CANCEL that matches a pending INVITE itself (200, then 487 to the
	// INVITE); what reaches us matches nothing.
	p.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func (p *Phone) onAck(req *sip.Request, _ sip.ServerTransaction) {
	c := p.findRequestCall(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	c.onAck(req)
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findRequestCall(req)
	if c == nil {
		p.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	if cs := req.CSeq(); cs != nil && cs.SeqNo > c.dlg.remoteCSeq {
		c.dlg.remoteCSeq = cs.SeqNo
	}
	c.mu.Unlock()
	c.end(EndRemoteHangup) // before the 200: whoever sees the 200 sees the call ended
	p.respond(tx, req, 200, "OK")
}

// onStrayResponse gets responses no transaction matches: a retransmitted 2xx whose INVITE
// transaction is gone still needs its ACK.
func (p *Phone) onStrayResponse(res *sip.Response) {
	if !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.From() == nil || res.CallID() == nil {
		return
	}
	tag, _ := res.From().Params.Get("tag")
	if c := p.findCall(res.CallID().Value(), tag); c != nil {
		c.onRetransmitted2xx(res)
	}
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		p.respond(tx, req, 400, "Bad Request")
		return
	}
	if !p.track() {
		p.respond(tx, req, 480, "Temporarily Unavailable")
		return
	}
	defer p.wg.Done()
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		c := p.findCall(req.CallID().Value(), tag)
		if c == nil {
			p.respond(tx, req, 481, "Call/Transaction Does Not Exist")
			return
		}
		c.onReinvite(req, tx)
		return
	}
	tag := sip.GenerateTagN(16)
	// Our tag goes into the INVITE itself: on CANCEL sipgo builds the 487 from it and would
	// otherwise give it a random tag of its own. Our 100 Trying, right after, stops sipgo's
	// timer that would build one from the INVITE concurrently.
	req.To().Params.Add("tag", tag)
	_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))
	c, err := p.newCall(true, req.CallID().Value(), tag)
	if err != nil {
		p.respond(tx, req, 500, "Server Internal Error")
		return
	}
	c.invite = req
	c.dlg = phoneDialog{localURI: req.To().Address, localName: req.To().DisplayName,
		remoteURI: req.From().Address, remoteName: req.From().DisplayName, target: req.From().Address,
		remoteCSeq: req.CSeq().SeqNo}
	c.dlg.remoteTag, _ = req.From().Params.Get("tag")
	if ct := req.Contact(); ct != nil {
		c.dlg.target = ct.Address
	}
	for _, h := range req.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			c.dlg.routes = append(c.dlg.routes, *rr.Address.Clone())
		}
	}
	p.addCall(c)
	select {
	case p.incoming <- c:
	default:
	}
	c.serveInvite(req, tx)
}

// phoneDialog is our side of a dialog (RFC 3261 section 12).
type phoneDialog struct {
	localURI   sip.Uri
	localName  string
	remoteURI  sip.Uri
	remoteName string
	remoteTag  string
	target     sip.Uri   // remote target: the peer's Contact
	routes     []sip.Uri // route set, in the order requests carry it
	localCSeq  uint32
	remoteCSeq uint32
}

type callState int

const (
	stateRinging  callState = iota // no final response yet
	stateAnswered                  // 2xx sent or received
	stateEnded
)

// PhoneCall is one call of a Phone, placed (Dial, Call) or received (Incoming).
type PhoneCall struct {
	p        *Phone
	incoming bool
	callID   string
	localTag string
	rtp      *rtpStream

	progress    chan struct{} // any provisional response (outgoing) or our 180/183 (incoming)
	ringing     chan struct{} // a provisional response above 100
	final       chan struct{} // the INVITE has its final response
	established chan struct{} // 2xx ACKed: ACK sent (outgoing) or received (incoming)
	ended       chan struct{}
	canceled    chan struct{} // incoming: the caller sent CANCEL
	acks        chan uint32   // incoming: CSeq of the ACKs received
	answerCmd   chan int      // incoming: 200 from Answer, a code from Reject

	ackMu sync.Mutex // one ACK (re)transmission at a time

	mu          sync.Mutex
	state       callState
	invite      *sip.Request    // outgoing: the INVITE last sent; incoming: the INVITE received
	responses   []*sip.Response // outgoing: every response to the INVITE
	finalRes    *sip.Response   // the final response, received or sent
	status      int
	err         error
	reason      EndReason
	dlg         phoneDialog
	acksSent    map[uint32]*sip.Request // our ACKs by CSeq, sent again for 2xx retransmissions
	cancelling  bool
	reinviting  bool
	sessionID   uint64
	sdpVersion  uint64
	localSDP    *media.Session
	remoteSDP   *media.Session
	offerInAck  bool // our 2xx carried the offer: the answer comes in the ACK
	earlyMedia  bool // incoming: we sent 183 with SDP and send media before the 200
	codec       media.Codec
	sendDTMF    int
	localDir    media.Direction
	remoteDir   media.Direction
	remoteRTP   netip.AddrPort
	reinvitesIn []media.Direction
}

// CallID is the call's Call-ID.
func (c *PhoneCall) CallID() string { return c.callID }

// Incoming reports whether the call was received rather than placed.
func (c *PhoneCall) Incoming() bool { return c.incoming }

// Invite is the INVITE: as received for an incoming call (read From, To,
// P-Asserted-Identity, Privacy, the Request-URI...), as last sent for an outgoing one.
func (c *PhoneCall) Invite() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invite
}

// Header is the value of the first header name of the INVITE ("" when absent).
func (c *PhoneCall) Header(name string) string {
	if inv := c.Invite(); inv != nil {
		if h := inv.GetHeader(name); h != nil {
			return h.Value()
		}
	}
	return ""
}

// Responses are the responses received to an outgoing INVITE, provisional and final.
func (c *PhoneCall) Responses() []*sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.responses)
}

// Provisional lists the status codes of the provisional responses received.
func (c *PhoneCall) Provisional() []int {
	var codes []int
	for _, r := range c.Responses() {
		if r.IsProvisional() {
			codes = append(codes, r.StatusCode)
		}
	}
	return codes
}

// Status is the final status of the INVITE, received or sent; 0 while ringing or when
// none came.
func (c *PhoneCall) Status() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// FinalResponse is the final response to the INVITE, received or sent (nil while ringing).
func (c *PhoneCall) FinalResponse() *sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finalRes
}

// Err is what went wrong with an outgoing call: no final response (timeout, transport
// error), or an SDP answer it could not use.
func (c *PhoneCall) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// EndReason says how the call ended (EndNone while it goes on).
func (c *PhoneCall) EndReason() EndReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Ended is closed when the call ends.
func (c *PhoneCall) Ended() <-chan struct{} { return c.ended }

// Established is closed when the call is answered and the 2xx ACKed.
func (c *PhoneCall) Established() <-chan struct{} { return c.established }

func waitChan(ch <-chan struct{}, timeout time.Duration, what string) error {
	select {
	case <-ch:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pbxtest: %s within %v", what, timeout)
	}
}

// WaitRinging waits for the first provisional response above 100 (outgoing calls) and
// returns it; for an incoming call it waits until we rang (and returns nil).
func (c *PhoneCall) WaitRinging(timeout time.Duration) (*sip.Response, error) {
	select {
	case <-c.ringing:
	case <-c.final:
		if !isClosed(c.ringing) {
			return nil, fmt.Errorf("pbxtest: call %s got its final response %d without ringing", c.callID, c.Status())
		}
	case <-time.After(timeout):
		return nil, fmt.Errorf("pbxtest: call %s: no ringing within %v", c.callID, timeout)
	}
	for _, r := range c.Responses() {
		if r.StatusCode > 100 && r.IsProvisional() {
			return r, nil
		}
	}
	return nil, nil
}

// WaitFinal waits for the final status of the INVITE (received or sent).
func (c *PhoneCall) WaitFinal(timeout time.Duration) (int, error) {
	if err := waitChan(c.final, timeout, "call "+c.callID+": no final response"); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == 0 {
		return 0, c.err
	}
	return c.status, nil
}

// WaitEstablished waits until the call is answered and ACKed.
func (c *PhoneCall) WaitEstablished(timeout time.Duration) error {
	select {
	case <-c.established:
		return nil
	case <-c.ended:
		if isClosed(c.established) {
			return nil
		}
		return fmt.Errorf("pbxtest: call %s ended (%s, status %d) instead", c.callID, c.EndReason(), c.Status())
	case <-time.After(timeout):
		return fmt.Errorf("pbxtest: call %s not established within %v", c.callID, timeout)
	}
}

// WaitEnded waits until the call ends and returns how.
func (c *PhoneCall) WaitEnded(timeout time.Duration) (EndReason, error) {
	if err := waitChan(c.ended, timeout, "call "+c.callID+" did not end"); err != nil {
		return EndNone, err
	}
	return c.EndReason(), nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// closeLocked closes a signal channel once; c.mu is held.
func closeLocked(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// end marks the call ended (once) and stops sending media; the RTP socket keeps counting
// until the phone stops.
func (c *PhoneCall) end(reason EndReason) {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return
	}
	c.state, c.reason = stateEnded, reason
	closeLocked(c.final)
	closeLocked(c.ended)
	c.mu.Unlock()
	c.rtp.setActive(false)
	c.p.logf("call %s ended: %s", c.callID, reason)
}

// fail ends an outgoing call that got no final response.
func (c *PhoneCall) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.end(EndError)
}

// newRequestLocked builds a request inside the dialog (RFC 3261 section 12.2.1.1): remote
// target as Request-URI, route set as Route (a strict first route becomes the
// Request-URI), tags, Call-ID, CSeq and, for INVITE, our Contact.
func (c *PhoneCall) newRequestLocked(method sip.RequestMethod, cseq uint32) *sip.Request {
	d := &c.dlg
	ruri, routes := d.target, d.routes
	if len(routes) > 0 && !routes[0].UriParams.Has("lr") {
		ruri = routes[0]
		routes = append(slices.Clone(routes[1:]), d.target)
	}
	req := sip.NewRequest(method, *ruri.Clone())
	for _, r := range routes {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sip.FromHeader{DisplayName: d.localName, Address: *d.localURI.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", c.localTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{DisplayName: d.remoteName, Address: *d.remoteURI.Clone(), Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	req.AppendHeader(to)
	callID := sip.CallIDHeader(c.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	if method == sip.INVITE {
		req.AppendHeader(c.p.contact())
	}
	c.p.prepare(req, "")
	return req
}

// newSDPLocked builds our next SDP (a new version): an offer with our codecs when offer is
// nil, else the answer to offer with the first of our codecs it carries.
func (c *PhoneCall) newSDPLocked(dir media.Direction, offer *media.Session) *media.Session {
	c.sdpVersion++
	l := media.Local{Addr: c.rtp.local, Codecs: c.p.o.Codecs, DTMF: !c.p.o.NoDTMF, Direction: dir, Ptime: 20,
		SessionID: c.sessionID, SessionVersion: c.sdpVersion}
	var s *media.Session
	if offer == nil {
		s = media.NewOffer(l)
	} else {
		codec, ok := preferred(offer, c.p.o.Codecs)
		if !ok {
			c.sdpVersion--
			return nil
		}
		l.Codecs = []media.Codec{codec}
		var err error
		if s, err = media.NewAnswer(offer, l); err != nil {
			c.sdpVersion--
			return nil
		}
	}
	c.localSDP = s
	c.rtp.learnFormats(s)
	if m := s.Audio(); m != nil {
		c.localDir = m.Direction
	}
	return s
}

// preferred is the first of our codecs that the offer's audio stream carries.
func preferred(offer *media.Session, ours []media.Codec) (media.Codec, bool) {
	m := offer.Audio()
	if m == nil {
		return media.Codec{}, false
	}
	for _, c := range ours {
		for _, f := range m.Formats {
			if strings.EqualFold(f.Name, c.Name) && f.ClockRate == c.ClockRate && f.Channels <= 1 {
				return c, true
			}
		}
	}
	return media.Codec{}, false
}

func sends(d media.Direction) bool    { return d == media.SendRecv || d == media.SendOnly }
func receives(d media.Direction) bool { return d == media.SendRecv || d == media.RecvOnly }

// remoteDirection is what the writer of s does, counting c=0.0.0.0 as not receiving.
func remoteDirection(s *media.Session) media.Direction {
	m := s.Audio()
	if m == nil {
		return media.Inactive
	}
	d := m.Direction
	if a := s.Addr(m).Addr(); !a.IsValid() || a.IsUnspecified() {
		if sends(d) {
			return media.SendOnly
		}
		return media.Inactive
	}
	return d
}

// setRemoteLocked takes the remote SDP (an answer to ours, or an offer we answered): what
// codec and telephone-event type we send, where, and its direction. For an offer the codec
// is the one our answer chose: the first of ours that the offer carries.
func (c *PhoneCall) setRemoteLocked(s *media.Session, isOffer bool) error {
	codecs := c.p.o.Codecs
	if isOffer {
		if pc, ok := preferred(s, codecs); ok {
			codecs = []media.Codec{pc}
		}
	}
	codec, dtmf, err := media.Negotiate(s, codecs)
	if err != nil {
		return err
	}
	if c.p.o.NoDTMF {
		dtmf = media.NoDTMF
	}
	c.remoteSDP, c.codec, c.sendDTMF = s, codec, dtmf
	c.remoteDir = remoteDirection(s)
	c.remoteRTP = s.AudioAddr()
	c.rtp.learnFormats(s)
	return nil
}

// applyMediaLocked tells the RTP sender what the call allows now.
func (c *PhoneCall) applyMediaLocked() {
	live := c.state == stateAnswered || (c.state == stateRinging && c.earlyMedia)
	a := c.remoteRTP.Addr()
	active := live && c.remoteSDP != nil && sends(c.localDir) && receives(c.remoteDir) && a.IsValid() && !a.IsUnspecified()
	c.rtp.configure(c.remoteRTP, c.codec, c.sendDTMF, active)
}

// runInvite follows the INVITE transaction of an outgoing call to its final response.
func (c *PhoneCall) runInvite(tx sip.ClientTransaction) {
	defer c.p.wg.Done()
	authed := false
	tx.OnRetransmission(c.onRetransmitted2xx)
	for { // runInvite
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				c.onProvisional(res)
				continue
			}
			if (res.StatusCode == 401 || res.StatusCode == 407) && !authed {
				authed = true
				c.mu.Lock()
				req, err := c.p.withAuth(c.invite, res)
				cancelling := c.cancelling
				c.mu.Unlock()
				if err == nil && !cancelling {
					if ntx, err := c.p.transact(req); err == nil {
						c.mu.Lock()
						c.invite, c.dlg.localCSeq = req, req.CSeq().SeqNo
						c.responses = append(c.responses, res)
						c.mu.Unlock()
						tx = ntx
						tx.OnRetransmission(c.onRetransmitted2xx)
						continue
					}
				}
			}
			if res.IsSuccess() {
				c.on2xx(res)
				// Retransmissions of the 2xx now reach onStrayResponse, which ACKs them
				// again; a live transaction would hold a reference to a TCP connection.
				tx.Terminate()
			} else {
				c.onFailure(res)
			}
			return
		case <-tx.Done():
			c.fail(fmt.Errorf("pbxtest: INVITE: %w", tx.Err()))
			return
		case <-c.p.ctx.Done():
			c.fail(errors.New("pbxtest: phone closed"))
			return
		}
	}
}

func (c *PhoneCall) onProvisional(res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.responses = append(c.responses, res)
	closeLocked(c.progress)
	if res.StatusCode == 100 {
		return
	}
	closeLocked(c.ringing)
	if len(res.Body()) > 0 && c.remoteSDP == nil {
		if s, err := media.Parse(res.Body()); err == nil {
			_ = c.setRemoteLocked(s, false) // early media: we listen, a desk phone sends only once answered
		}
	}
}

func (c *PhoneCall) onFailure(res *sip.Response) {
	c.mu.Lock()
	c.responses = append(c.responses, res)
	c.finalRes, c.status = res, res.StatusCode
	reason := EndRejected
	if c.cancelling {
		reason = EndLocalCancel
	}
	c.mu.Unlock()
	c.end(reason)
}

// on2xx completes the dialog from the 2xx, sends the ACK and starts media; a call we were
// cancelling is hung up at once (the 200 crossed our CANCEL).
func (c *PhoneCall) on2xx(res *sip.Response) {
	c.mu.Lock()
	c.responses = append(c.responses, res)
	c.finalRes, c.status = res, res.StatusCode
	d := &c.dlg
	d.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.routes = nil
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*sip.RecordRouteHeader); ok {
			d.routes = append(d.routes, *rr.Address.Clone())
		}
	}
	if len(res.Body()) > 0 {
		if s, err := media.Parse(res.Body()); err != nil {
			c.err = fmt.Errorf("pbxtest: SDP answer: %w", err)
		} else if err := c.setRemoteLocked(s, false); err != nil {
			c.err = fmt.Errorf("pbxtest: SDP answer: %w", err)
		}
	}
	cseq := c.invite.CSeq().SeqNo
	ack := c.newRequestLocked(sip.ACK, cseq)
	c.acksSent[cseq] = ack
	cancelling := c.cancelling
	if c.state == stateRinging {
		c.state = stateAnswered
	}
	c.applyMediaLocked()
	closeLocked(c.final)
	c.mu.Unlock()
	c.sendAck(ack)
	c.mu.Lock()
	closeLocked(c.established)
	c.mu.Unlock()
	if cancelling {
		_ = c.bye(EndLocalCancel, c.p.o.Timeout)
	}
}

func (c *PhoneCall) sendAck(ack *sip.Request) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if err := c.p.cli.WriteRequest(ack, viaOnly); err != nil {
		c.p.logf("ACK failed: %v", err)
		return
	}
	c.p.logf("sent %s", ack.StartLine())
}

// onRetransmitted2xx ACKs a 2xx again.
func (c *PhoneCall) onRetransmitted2xx(res *sip.Response) {
	if res.CSeq() == nil || !res.IsSuccess() {
		return
	}
	c.mu.Lock()
	ack := c.acksSent[res.CSeq().SeqNo]
	c.mu.Unlock()
	if ack != nil {
		c.sendAck(ack)
	}
}

// response builds a response to req with our tag (already in its To), Contact on 18x
// and 2xx, and an SDP body when s is not nil.
func (c *PhoneCall) response(req *sip.Request, code int, reason string, s *media.Session) *sip.Response {
	var body []byte
	if s != nil {
		body = s.Marshal()
	}
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil {
		to.Params.Add("tag", c.localTag)
	}
	if code > 100 && code < 300 {
		res.AppendHeader(c.p.contact())
		res.AppendHeader(sip.NewHeader("Allow", phoneAllow))
	}
	if s != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(sip.NewHeader("User-Agent", c.p.o.UserAgent))
	return res
}

func (c *PhoneCall) send(tx sip.ServerTransaction, res *sip.Response) error {
	err := tx.Respond(res)
	c.p.logf("sent %d %s to %s (%v)", res.StatusCode, res.Reason, res.CSeq().MethodName, err)
	return err
}

var reasonPhrases = map[int]string{180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request",
	403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
	500: "Server Internal Error", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline"}

func reasonPhrase(code int) string {
	if r, ok := reasonPhrases[code]; ok {
		return r
	}
	return "Status " + strconv.Itoa(code)
}

// serveInvite answers a new incoming INVITE by the phone's Answer policy. It runs in the
// sipgo handler and returns once the INVITE has its final response (and its ACK, for 2xx).
func (c *PhoneCall) serveInvite(req *sip.Request, tx sip.ServerTransaction) {
	p := c.p
	p.mu.Lock()
	policy := p.answer
	p.mu.Unlock()
	reject := func(code int, reason EndReason) {
		c.mu.Lock()
		res := c.response(req, code, reasonPhrase(code), nil)
		c.finalRes, c.status = res, code
		c.mu.Unlock()
		c.end(reason) // before sending: whoever sees the response sees the call ended
		_ = c.send(tx, res)
	}
	if policy.Mode == Reject {
		reject(policy.Code, EndRejected)
		return
	}
	var offer *media.Session
	if len(req.Body()) > 0 {
		s, err := media.Parse(req.Body())
		if err != nil {
			reject(400, EndRejected)
			return
		}
		if _, ok := preferred(s, p.o.Codecs); !ok {
			reject(488, EndRejected)
			return
		}
		offer = s
	}
	if !tx.OnCancel(func(*sip.Request) {
		c.mu.Lock()
		closeLocked(c.canceled)
		c.mu.Unlock()
	}) {
		c.end(EndRemoteCancel)
		return
	}

	c.mu.Lock()
	var ring *sip.Response
	if policy.EarlyMedia && offer != nil {
		answer := c.newSDPLocked(media.SendRecv, offer)
		_ = c.setRemoteLocked(offer, true)
		c.earlyMedia = true
		c.applyMediaLocked()
		ring = c.response(req, 183, "Session Progress", answer)
	} else {
		ring = c.response(req, 180, "Ringing", nil)
	}
	closeLocked(c.progress)
	closeLocked(c.ringing)
	c.mu.Unlock()
	if err := c.send(tx, ring); err != nil {
		c.end(EndError)
		return
	}

	var timer <-chan time.Time
	if policy.Mode == AutoAnswer {
		t := time.NewTimer(policy.Delay)
		defer t.Stop()
		timer = t.C
	}
	code := 200
	select {
	case <-timer:
	case code = <-c.answerCmd:
	case <-c.canceled:
		c.cancelledByCaller(req)
		return
	case <-tx.Done(): // over TCP the cancelled transaction may be gone already
		if isClosed(c.canceled) {
			c.cancelledByCaller(req)
		} else {
			c.end(EndError)
		}
		return
	case <-p.ctx.Done():
		reject(480, EndClosed)
		return
	}
	if code != 200 {
		reject(code, EndRejected)
		return
	}

	c.mu.Lock()
	s := c.localSDP
	if !c.earlyMedia {
		if offer != nil {
			s = c.newSDPLocked(media.SendRecv, offer)
			_ = c.setRemoteLocked(offer, true)
		} else {
			s = c.newSDPLocked(media.SendRecv, nil)
			c.offerInAck = true
		}
	}
	res := c.response(req, 200, "OK", s)
	c.finalRes, c.status = res, 200
	c.state = stateAnswered
	c.applyMediaLocked()
	c.mu.Unlock()
	if err := c.send(tx, res); err != nil {
		if isClosed(c.canceled) {
			c.cancelledByCaller(req)
		} else {
			c.end(EndError)
		}
		return
	}
	c.mu.Lock()
	closeLocked(c.final)
	c.mu.Unlock()
	if c.awaitAck(tx, res, req.CSeq().SeqNo) {
		c.mu.Lock()
		closeLocked(c.established)
		c.mu.Unlock()
	}
}

// cancelledByCaller records the CANCEL that sipgo answered (200, and 487 to the INVITE).
func (c *PhoneCall) cancelledByCaller(req *sip.Request) {
	c.mu.Lock()
	c.finalRes, c.status = sip.NewResponseFromRequest(req, 487, "Request Terminated", nil), 487
	c.mu.Unlock()
	c.end(EndRemoteCancel)
}

// awaitAck waits for the ACK of a 2xx we sent, retransmitting the 2xx over UDP (the
// transaction layer leaves that to the UA, RFC 6026). False when none came in time.
func (c *PhoneCall) awaitAck(tx sip.ServerTransaction, res *sip.Response, cseq uint32) bool {
	deadline := time.NewTimer(c.p.o.Timeout)
	defer deadline.Stop()
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	if c.p.network != "UDP" {
		retransmit.Stop()
	}
	for {
		select {
		case n := <-c.acks:
			if n == cseq {
				return true
			}
		case <-tx.Acks(): // a peer that reuses the INVITE's branch for the ACK
			return true
		case <-retransmit.C:
			_ = tx.Respond(res)
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-deadline.C:
			c.p.logf("call %s: no ACK for CSeq %d", c.callID, cseq)
			return false
		case <-c.ended: // a BYE may overtake the ACK: sipgo handles each message in a goroutine
			for {
				select {
				case n := <-c.acks:
					if n == cseq {
						return true
					}
				default:
					return false
				}
			}
		case <-c.p.ctx.Done():
			return false
		}
	}
}

// onAck takes an ACK; it carries the SDP answer when our 2xx carried the offer.
func (c *PhoneCall) onAck(req *sip.Request) {
	if len(req.Body()) > 0 {
		if s, err := media.Parse(req.Body()); err == nil {
			c.mu.Lock()
			if c.offerInAck {
				c.offerInAck = false
				if c.setRemoteLocked(s, false) == nil {
					c.applyMediaLocked()
				}
			}
			c.mu.Unlock()
		}
	}
	select {
	case c.acks <- req.CSeq().SeqNo:
	default:
	}
}

// onReinvite answers a re-INVITE: 200 with our SDP answer (recording the direction the
// other side asks for), 491 while our own re-INVITE is pending, 488 without a common codec.
func (c *PhoneCall) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	reply := func(code int) {
		res := c.response(req, code, reasonPhrase(code), nil)
		c.mu.Unlock()
		_ = c.send(tx, res)
	}
	switch {
	case c.state == stateEnded:
		reply(481)
		return
	case c.state != stateAnswered:
		reply(491)
		return
	case c.reinviting:
		reply(491)
		return
	case req.CSeq().SeqNo <= c.dlg.remoteCSeq:
		reply(500)
		return
	}
	c.dlg.remoteCSeq = req.CSeq().SeqNo
	if ct := req.Contact(); ct != nil {
		c.dlg.target = ct.Address
	}
	var s *media.Session
	if len(req.Body()) > 0 {
		offer, err := media.Parse(req.Body())
		if err != nil {
			reply(400)
			return
		}
		if s = c.newSDPLocked(media.SendRecv, offer); s == nil {
			reply(488)
			return
		}
		_ = c.setRemoteLocked(offer, true)
		c.reinvitesIn = append(c.reinvitesIn, remoteDirection(offer))
	} else {
		s = c.newSDPLocked(media.SendRecv, nil)
		c.offerInAck = true
	}
	res := c.response(req, 200, "OK", s)
	c.applyMediaLocked()
	c.mu.Unlock()
	if c.send(tx, res) == nil {
		c.awaitAck(tx, res, req.CSeq().SeqNo)
	}
}

// Answer answers an incoming call that is ringing (NeverAnswer, or AutoAnswer before its
// delay) with 200 OK.
func (c *PhoneCall) Answer() error { return c.command(200) }

// Reject answers an incoming call that is ringing with a final status code (300-699).
func (c *PhoneCall) Reject(code int) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("pbxtest: reject with %d: want 300-699", code)
	}
	return c.command(code)
}

func (c *PhoneCall) command(code int) error {
	if !c.incoming {
		return errors.New("pbxtest: not an incoming call")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateRinging {
		return fmt.Errorf("pbxtest: call %s is not ringing", c.callID)
	}
	select {
	case c.answerCmd <- code:
		return nil
	default:
		return fmt.Errorf("pbxtest: call %s is already being answered", c.callID)
	}
}

// Cancel cancels an outgoing call that is ringing: it waits for a provisional response
// (RFC 3261 section 9.1), sends CANCEL and returns once the CANCEL is answered. The INVITE
// then gets its 487 (WaitFinal).
func (c *PhoneCall) Cancel() error { return c.cancel(c.p.o.Timeout) }

func (c *PhoneCall) cancel(timeout time.Duration) error {
	if c.incoming {
		return errors.New("pbxtest: Cancel is for outgoing calls (Reject an incoming one)")
	}
	select {
	case <-c.progress:
	case <-c.final:
	case <-time.After(timeout):
		return fmt.Errorf("pbxtest: call %s: no provisional response within %v to cancel", c.callID, timeout)
	}
	c.mu.Lock()
	if c.state != stateRinging {
		c.mu.Unlock()
		return fmt.Errorf("pbxtest: call %s already has its final response %d", c.callID, c.status)
	}
	c.cancelling = true
	inv := c.invite
	req := pbx.NewCancel(inv)
	c.p.prepare(req, inv.Destination())
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.p.ctx, timeout)
	defer cancel()
	res, err := c.p.do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("pbxtest: CANCEL answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// Hangup ends an established call with BYE and waits for the answer. A callee waits for
// the ACK of its 200 first (RFC 3261 section 15). An outgoing call still ringing is
// cancelled instead.
func (c *PhoneCall) Hangup() error {
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	switch {
	case state == stateEnded:
		return fmt.Errorf("pbxtest: call %s already ended (%s)", c.callID, c.EndReason())
	case state == stateRinging && !c.incoming:
		return c.Cancel()
	case state == stateRinging:
		return fmt.Errorf("pbxtest: call %s is ringing: Reject it", c.callID)
	}
	if c.incoming {
		select {
		case <-c.established:
		case <-c.ended:
		case <-time.After(c.p.o.Timeout):
		}
	}
	return c.bye(EndLocalHangup, c.p.o.Timeout)
}

// bye sends BYE in the dialog and ends the call.
func (c *PhoneCall) bye(reason EndReason, timeout time.Duration) error {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return fmt.Errorf("pbxtest: call %s already ended (%s)", c.callID, c.reason)
	}
	c.dlg.localCSeq++
	req := c.newRequestLocked(sip.BYE, c.dlg.localCSeq)
	c.mu.Unlock()
	c.end(reason)
	res, err := c.inDialog(req, timeout)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("pbxtest: BYE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// inDialog sends a non-INVITE request of the dialog, answering one challenge.
func (c *PhoneCall) inDialog(req *sip.Request, timeout time.Duration) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(c.p.ctx, timeout)
	defer cancel()
	res, err := c.p.do(ctx, req)
	if err != nil || (res.StatusCode != 401 && res.StatusCode != 407) {
		return res, err
	}
	if req, err = c.p.withAuth(req, res); err != nil {
		return res, err
	}
	c.mu.Lock()
	c.dlg.localCSeq = max(c.dlg.localCSeq, req.CSeq().SeqNo)
	c.mu.Unlock()
	return c.p.do(ctx, req)
}

// SendInfo sends a SIP INFO in the call's dialog (DTMF as application/dtmf-relay, say) and
// returns the final response.
func (c *PhoneCall) SendInfo(contentType, body string) (*sip.Response, error) {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return nil, fmt.Errorf("pbxtest: call %s already ended (%s)", c.callID, c.reason)
	}
	c.dlg.localCSeq++
	req := c.newRequestLocked(sip.INFO, c.dlg.localCSeq)
	c.mu.Unlock()
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return c.inDialog(req, c.p.o.Timeout)
}

// Heard is the audio received on the call so far, decoded to 8 kHz linear samples (G.711
// packets only, in arrival order, up to two minutes).
func (c *PhoneCall) Heard() []int16 { return c.rtp.heardAudio() }

// Hold puts the call on hold (re-INVITE with a=sendonly) or takes it off hold (a=sendrecv)
// and returns the final status of the re-INVITE.
func (c *PhoneCall) Hold(on bool) (int, error) {
	if on {
		return c.Reinvite(media.SendOnly)
	}
	return c.Reinvite(media.SendRecv)
}

// Reinvite sends a re-INVITE offering our audio with direction dir (media.Inactive holds
// without music), ACKs a 2xx, applies the answer and returns the final status.
func (c *PhoneCall) Reinvite(dir media.Direction) (int, error) {
	c.mu.Lock()
	if c.state != stateAnswered {
		c.mu.Unlock()
		return 0, fmt.Errorf("pbxtest: call %s is not established", c.callID)
	}
	if c.reinviting {
		c.mu.Unlock()
		return 0, fmt.Errorf("pbxtest: call %s: a re-INVITE is pending", c.callID)
	}
	c.reinviting = true
	prevSDP, prevDir := c.localSDP, c.localDir
	c.dlg.localCSeq++
	offer := c.newSDPLocked(dir, nil)
	req := c.newRequestLocked(sip.INVITE, c.dlg.localCSeq)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer.Marshal())
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.reinviting = false
		c.mu.Unlock()
	}()

	res, err := c.reinvite(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || !res.IsSuccess() {
		c.localSDP, c.localDir = prevSDP, prevDir // the offer was not taken
		if err != nil {
			return 0, err
		}
		return res.StatusCode, nil
	}
	if ct := res.Contact(); ct != nil {
		c.dlg.target = ct.Address
	}
	if len(res.Body()) > 0 {
		s, err := media.Parse(res.Body())
		if err != nil {
			return res.StatusCode, fmt.Errorf("pbxtest: SDP answer to re-INVITE: %w", err)
		}
		if err := c.setRemoteLocked(s, false); err != nil {
			return res.StatusCode, fmt.Errorf("pbxtest: SDP answer to re-INVITE: %w", err)
		}
	}
	c.applyMediaLocked()
	return res.StatusCode, nil
}

// reinvite runs a re-INVITE transaction to its final response, answering one challenge,
// and ACKs a 2xx.
func (c *PhoneCall) reinvite(req *sip.Request) (*sip.Response, error) {
	tx, err := c.p.transact(req)
	if err != nil {
		return nil, err
	}
	tx.OnRetransmission(c.onRetransmitted2xx)
	authed := false
	timeout := time.NewTimer(35 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if (res.StatusCode == 401 || res.StatusCode == 407) && !authed {
				authed = true
				if r, err := c.p.withAuth(req, res); err == nil {
					if ntx, err := c.p.transact(r); err == nil {
						req, tx = r, ntx
						tx.OnRetransmission(c.onRetransmitted2xx)
						c.mu.Lock()
						c.dlg.localCSeq = max(c.dlg.localCSeq, r.CSeq().SeqNo)
						c.mu.Unlock()
						continue
					}
				}
			}
			if res.IsSuccess() {
				c.mu.Lock()
				if ct := res.Contact(); ct != nil {
					c.dlg.target = ct.Address
				}
				ack := c.newRequestLocked(sip.ACK, req.CSeq().SeqNo)
				c.acksSent[req.CSeq().SeqNo] = ack
				c.mu.Unlock()
				c.sendAck(ack)
				tx.Terminate() // see runInvite
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("pbxtest: re-INVITE: %w", tx.Err())
		case <-timeout.C:
			tx.Terminate()
			return nil, errors.New("pbxtest: re-INVITE: no final response")
		case <-c.p.ctx.Done():
			return nil, errors.New("pbxtest: phone closed")
		}
	}
}

// SendDTMF sends digits (0-9 * # A-D) as RFC 4733 events with the negotiated
// telephone-event payload type, 100 ms each, and returns when the last end packet went out.
func (c *PhoneCall) SendDTMF(digits string) error { return c.rtp.sendDTMF(digits) }

// Mute stops (true) or resumes (false) sending audio; DTMF still goes.
func (c *PhoneCall) Mute(on bool) { c.rtp.setMuted(on) }

// WaitRTP waits until n audio packets (any payload type but telephone-event) arrived.
func (c *PhoneCall) WaitRTP(n int, timeout time.Duration) error {
	return pollUntil(timeout, func() bool { return c.rtp.audioReceived() >= n },
		func() string { return fmt.Sprintf("%d audio packets", c.rtp.audioReceived()) })
}

// WaitDTMF waits until the digits received so far contain digits.
func (c *PhoneCall) WaitDTMF(digits string, timeout time.Duration) error {
	return pollUntil(timeout, func() bool { return strings.Contains(c.rtp.stats().DTMFReceived, digits) },
		func() string { return fmt.Sprintf("digits %q", c.rtp.stats().DTMFReceived) })
}

func pollUntil(timeout time.Duration, ok func() bool, got func() string) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("pbxtest: not within %v, got %s", timeout, got())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// CallStats is a snapshot of a call.
type CallStats struct {
	CallID          string
	Incoming        bool
	Status          int // final status of the INVITE, received or sent
	EndReason       EndReason
	Codec           media.Codec     // the codec we send, with the remote SDP's payload type
	DTMFPayloadType int             // telephone-event payload type we send, media.NoDTMF when none
	LocalDirection  media.Direction // in the last SDP we sent
	RemoteDirection media.Direction // in the last SDP we received (c=0.0.0.0 counts as not receiving)
	RemoteRTP       netip.AddrPort  // the address of the remote SDP
	HeldByRemote    bool            // the last remote SDP does not receive (sendonly, inactive, 0.0.0.0)
	ReinvitesIn     []media.Direction
	RTP             RTPStats
}

// Stats returns the call's state and media counters.
func (c *PhoneCall) Stats() CallStats {
	c.mu.Lock()
	st := CallStats{CallID: c.callID, Incoming: c.incoming, Status: c.status, EndReason: c.reason,
		Codec: c.codec, DTMFPayloadType: c.sendDTMF, LocalDirection: c.localDir, RemoteDirection: c.remoteDir,
		RemoteRTP: c.remoteRTP, HeldByRemote: c.remoteSDP != nil && !receives(c.remoteDir),
		ReinvitesIn: slices.Clone(c.reinvitesIn)}
	c.mu.Unlock()
	st.RTP = c.rtp.stats()
	return st
}

// shutdown is Close's part for one call.
func (c *PhoneCall) shutdown() {
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	timeout := min(c.p.o.Timeout, time.Second) // the other side may be gone already
	switch {
	case state == stateAnswered:
		_ = c.bye(EndLocalHangup, timeout)
	case state == stateRinging && !c.incoming:
		if c.cancel(timeout) == nil {
			_ = waitChan(c.final, timeout, "")
		}
	}
}
