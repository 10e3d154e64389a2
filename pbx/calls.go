package pbx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// CallConfig is the `calls:` section of the configuration.
type CallConfig struct {
	RingTimeout     time.Duration `yaml:"ring_timeout"`       // an unanswered extension stops ringing (480) after this
	MaxCallsPerUser int           `yaml:"max_calls_per_user"` // calls a user may be in at once (placed or taken)
	// OutboundRingTimeout bounds how long a call through a trunk may ring.
	OutboundRingTimeout time.Duration `yaml:"outbound_ring_timeout"`
}

// Defaults fills zero fields.
func (c *CallConfig) Defaults() {
	if c.RingTimeout == 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.MaxCallsPerUser == 0 {
		c.MaxCallsPerUser = 4
	}
	if c.OutboundRingTimeout == 0 {
		c.OutboundRingTimeout = 3 * time.Minute
	}
}

// Validate reports the first bad setting.
func (c *CallConfig) Validate() error {
	if c.RingTimeout < time.Second || c.RingTimeout > 10*time.Minute {
		return errors.New("calls ring_timeout must be between 1s and 10m")
	}
	if c.OutboundRingTimeout < time.Second || c.OutboundRingTimeout > 10*time.Minute {
		return errors.New("calls outbound_ring_timeout must be between 1s and 10m")
	}
	if c.MaxCallsPerUser < 0 {
		return errors.New("calls max_calls_per_user must be positive")
	}
	return nil
}

// Party is a user of the project as the call engine needs them.
type Party struct {
	UserID    int64
	Name      string   // display name, for the From of calls they place
	Extension string   // internal number; "" when none
	Accounts  []string // SIP account usernames: every registered contact of each rings
}

// ErrNotFound is what a Dialplan answers for an unknown extension or account.
var ErrNotFound = errors.New("pbx: not found")

// Dialplan is what the call engine asks of the project's configuration (implemented over
// the store and the routing table in cmd/centrala).
type Dialplan interface {
	// Device is the user behind an authenticated SIP account (Accounts may be left empty:
	// a caller's devices are not rung).
	Device(ctx context.Context, acct registrar.Account) (Party, error)
	// Extension is the user an internal number belongs to; ErrNotFound when none.
	Extension(ctx context.Context, number string) (Party, error)
	// Outbound decides a call from a device to a number that is no extension: the outbound
	// rules' decision and, when allowed, the trunks to try in order. ErrNotFound means the
	// number looks like an extension that does not exist and no rule takes it (404).
	Outbound(ctx context.Context, acct registrar.Account, dialled string) (OutboundRoute, error)
	// TrunkAt identifies the trunk whose INVITEs come from src (its allowed sources, or
	// the addresses of its host).
	TrunkAt(src netip.Addr) (Trunk, bool)
	// Inbound finds the project number (DID) a trunk's INVITE is for, among the candidate
	// numbers (Request-URI user, To user) in the forms the trunk sends; ErrNotFound when none.
	Inbound(ctx context.Context, trunk Trunk, candidates ...string) (Inbound, error)
	// Forward decides the outside leg of an inbound call to project number did that its
	// inbound scheme sends to an external number.
	Forward(ctx context.Context, did, number string) (OutboundRoute, error)
}

// Trunk is a provider trunk as the call engine uses it.
type Trunk struct {
	ID         int64
	Name       string
	Kind       string // register, ip
	Host       string
	Port       int
	Transport  string // udp, tcp, tls
	Username   string // digest credentials toward the provider, when it challenges
	Password   string
	CLIPHeader string // from, pai, rpid: where the presented number goes
	MaxCalls   int    // concurrent calls in both directions; 0: no limit
}

// OutboundRoute is what the outbound rules decided for a call.
type OutboundRoute struct {
	Decision routing.Decision
	Trunks   []TrunkDial // in order; empty on deny
}

// TrunkDial is one trunk to try, with the numbers in the trunk's number format.
type TrunkDial struct {
	Trunk    Trunk
	Number   string // Request-URI user
	CLIP     string // presented number; "" when withheld
	Asserted string // P-Asserted-Identity (network-asserted) number; may be set when withheld
	// Diversion is the project number a forwarded call was for (RFC 5806 Diversion header),
	// when the call presents the original caller's number.
	Diversion string
}

// Inbound is where a trunk's call goes.
type Inbound struct {
	DID    string // the project number, E.164
	Type   string // destination type: extension, hangup (ivr, queue, ... come later)
	Target string
}

// Recorder writes call detail records; cdr.Recorder is one. The engine calls it from the
// goroutine of each call, synchronously, so no record is lost to a full queue.
//
// A call writes its record three times: at the start with the caller's leg, at the answer,
// and at the end with every leg.
type Recorder interface {
	Begin(ctx context.Context, s cdr.Start) (cdr.Record, error)
	Answer(ctx context.Context, id int64, at time.Time) error
	End(ctx context.Context, id int64, e cdr.End) error
}

// Calls turns the engine into a B2BUA: INVITEs from devices are authenticated, routed and
// bridged with anchored media. Without it the engine refuses INVITEs (a registrar only).
func WithCalls(cfg CallConfig, plan Dialplan, mm *media.Manager, rec Recorder) Option {
	return func(e *Engine) error {
		cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			return err
		}
		if plan == nil || mm == nil || rec == nil {
			return errors.New("pbx: calls need a dialplan, a media manager and a recorder")
		}
		e.calls = &callTable{cfg: cfg, plan: plan, media: mm, rec: rec,
			byID: map[string]*call{}, perUser: map[int64]int{}, perTrunk: map[int64]int{}}
		return nil
	}
}

// callTable holds the calls in progress, by the Call-ID of each of their legs.
type callTable struct {
	cfg   CallConfig
	plan  Dialplan
	media *media.Manager
	rec   Recorder

	mu        sync.Mutex
	byID      map[string]*call
	perUser   map[int64]int
	perTrunk  map[int64]int
	rr        map[int64]int             // ring group id -> index of the member rung last
	busyCalls map[string][]int64        // call id -> users reported busy (WithBusy), renewed
	onTrunk   func(id int64, inUse int) // metrics
	wg        sync.WaitGroup
	closing   bool
}

func (t *callTable) add(callID string, c *call) {
	t.mu.Lock()
	t.byID[callID] = c
	t.mu.Unlock()
}

func (t *callTable) remove(callID string) {
	t.mu.Lock()
	delete(t.byID, callID)
	t.mu.Unlock()
}

func (t *callTable) get(callID string) *call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[callID]
}

// reserve counts a call for each user; it fails when one of them is at the limit.
func (t *callTable) reserve(users ...int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	if max := t.cfg.MaxCallsPerUser; max > 0 {
		for _, u := range users {
			if u != 0 && t.perUser[u] >= max {
				return false
			}
		}
	}
	for _, u := range users {
		if u != 0 {
			t.perUser[u]++
		}
	}
	return true
}

func (t *callTable) release(users ...int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range users {
		if u == 0 {
			continue
		}
		if t.perUser[u]--; t.perUser[u] <= 0 {
			delete(t.perUser, u)
		}
	}
}

// reserveTrunk takes one of a trunk's channels; false when all are in use.
func (t *callTable) reserveTrunk(tr *Trunk) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr.MaxCalls > 0 && t.perTrunk[tr.ID] >= tr.MaxCalls {
		return false
	}
	t.perTrunk[tr.ID]++
	if t.onTrunk != nil {
		t.onTrunk(tr.ID, t.perTrunk[tr.ID])
	}
	return true
}

func (t *callTable) releaseTrunk(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.perTrunk[id] - 1
	if n <= 0 {
		delete(t.perTrunk, id)
		n = 0
	} else {
		t.perTrunk[id] = n
	}
	if t.onTrunk != nil {
		t.onTrunk(id, n)
	}
}

// TrunkChannels is the number of calls a trunk carries now (both directions).
func (e *Engine) TrunkChannels(id int64) int {
	if e.calls == nil {
		return 0
	}
	e.calls.mu.Lock()
	defer e.calls.mu.Unlock()
	return e.calls.perTrunk[id]
}

// active lists the calls in progress (each once).
func (t *callTable) active() []*call {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[*call]bool{}
	var out []*call
	for _, c := range t.byID {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// dialogMethods are handed to sipgo's transaction layer when calls are on.
var dialogMethods = []sip.RequestMethod{sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.INFO, sip.UPDATE, sip.PRACK, sip.REFER}

// enableCalls registers the dialog handlers; New calls it when WithCalls was given.
func (e *Engine) enableCalls() {
	e.calls.onTrunk = func(id int64, n int) { e.m.trunkChannels.WithLabelValues(strconv.FormatInt(id, 10)).Set(float64(n)) }
	for _, m := range dialogMethods {
		e.HandleStateful(m, e.onDialogRequest)
	}
}

// onDialogRequest runs in a goroutine of sipgo's per request. An initial INVITE becomes a
// call owned by this goroutine until it ends; a request inside a dialog is handed to the
// goroutine of its call, which answers it.
func (e *Engine) onDialogRequest(req *sip.Request, tx sip.ServerTransaction) {
	e.m.request(string(req.Method), req.Transport())
	to := req.To()
	inDialog := to != nil && to.Params.Has("tag")
	if req.Method == sip.INVITE && !inDialog && to != nil {
		// Our To tag goes into the request sipgo's transaction keeps: the 487 it sends by
		// itself on CANCEL (and its automatic 100) then carry the tag of our other responses.
		to.Params.Add("tag", sip.GenerateTagN(16))
		e.newCall(req, tx)
		return
	}
	c := e.calls.get(callID(req))
	if c == nil {
		if req.Method != sip.ACK {
			e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	m := &inRequest{req: req, tx: tx, done: make(chan struct{})}
	select {
	case c.in <- m:
	case <-c.done:
		if req.Method != sip.ACK {
			e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	if req.Method == sip.ACK {
		return
	}
	// sipgo ends the transaction when this handler returns: wait for the call's answer.
	select {
	case <-m.done:
	case <-c.done:
	case <-time.After(32 * time.Second):
	}
}

// respond answers a request on its server transaction.
func (e *Engine) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hs {
		res.AppendHeader(h)
	}
	res.AppendHeader(e.server)
	e.m.response(string(req.Method), code)
	if err := tx.Respond(res); err != nil {
		e.log.Debug("respond", "call_id", callID(req), "code", code, "error", err)
	}
}

// newCall identifies where an initial INVITE comes from (a trunk by its source address,
// else a device by digest authentication) and, when it may go on, runs the call.
func (e *Engine) newCall(req *sip.Request, tx sip.ServerTransaction) {
	ctx := e.ctx
	src, _ := netip.ParseAddrPort(req.Source())
	if e.guard != nil && e.guard.Banned(src.Addr(), e.now()) {
		return
	}
	t := e.calls
	trunk, fromTrunk := t.plan.TrunkAt(src.Addr().Unmap())
	var acct registrar.Account
	if !fromTrunk {
		if req.GetHeader("Proxy-Authorization") == nil && e.isProjectNumber(ctx, req) {
			// A call for one of our numbers from an address that is no trunk: a spoofed
			// provider or a scanner. Devices dial extensions; they are challenged.
			e.m.refused("unknown_source")
			e.log.Warn("call refused: INVITE for a project number from an unknown source", "call_id", callID(req), "source", src.String())
			e.respond(tx, req, 403, "Forbidden")
			return
		}
		var outcome registrar.AuthResult
		var hs []sip.Header
		acct, outcome, hs = e.reg.Authenticate(ctx, registrar.Request{Request: req, Source: src, Transport: lower(req.Transport())}, true)
		switch outcome {
		case registrar.AuthOK:
		case registrar.AuthForbidden:
			e.respond(tx, req, 403, "Forbidden")
			return
		case registrar.AuthError:
			e.respond(tx, req, 500, "Server Internal Error")
			return
		default:
			e.respond(tx, req, 407, "Proxy Authentication Required", hs...)
			return
		}
	}
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		e.respond(tx, req, 503, "Service Unavailable")
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	c := newCall(e, req, tx)
	if fromTrunk {
		c.trunk = &trunk
	} else {
		caller, err := t.plan.Device(ctx, acct)
		if err != nil {
			e.log.Error("call: caller's user", "call_id", callID(req), "account", acct.Username, "error", err)
			e.respond(tx, req, 500, "Server Internal Error")
			return
		}
		c.caller, c.account = caller, acct
	}
	c.run()
}

// isProjectNumber reports whether an INVITE is addressed to one of the project's numbers.
// The DID lookup comes first: a short number has no E.164 form and costs no query, so an
// ordinary extension call is challenged without touching the database.
func (e *Engine) isProjectNumber(ctx context.Context, req *sip.Request) bool {
	n := dialledNumber(req)
	if _, err := e.calls.plan.Inbound(ctx, Trunk{}, n); err != nil {
		return false
	}
	_, err := e.calls.plan.Extension(ctx, n)
	return err != nil
}

// closeCalls ends every call (BYE to both sides) and waits for their goroutines; new
// INVITEs get 503 from then on.
func (e *Engine) closeCalls() {
	if e.calls == nil {
		return
	}
	e.calls.mu.Lock()
	e.calls.closing = true
	e.calls.mu.Unlock()
	for _, c := range e.calls.active() {
		c.shutdown()
	}
	e.calls.wg.Wait()
}

// dialledNumber is the user part of the Request-URI, or the host when it has none.
func dialledNumber(req *sip.Request) string {
	if u := req.Recipient.User; u != "" {
		return strings.TrimSpace(u)
	}
	return req.Recipient.Host
}

// bestFinal picks the response for the caller when every branch failed (after RFC 3261
// section 16.7: a 6xx wins, then busy, then the lowest class).
func bestFinal(codes []int) (int, string) {
	if len(codes) == 0 {
		return 480, "Temporarily Unavailable"
	}
	best := 0
	for _, c := range codes {
		switch {
		case c >= 600:
			return c, reasonFor(c)
		case c == 486:
			best = 486
		case best != 486 && (best == 0 || c/100 < best/100 || (c/100 == best/100 && c < best)):
			best = c
		}
	}
	switch best {
	case 408, 487:
		return 480, "Temporarily Unavailable"
	}
	return best, reasonFor(best)
}

func reasonFor(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return fmt.Sprintf("Status %d", code)
}

// reasons are the phrases of RFC 3261 section 21 for the codes the engine passes on.
var reasons = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
	408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
	415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
	421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
	484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
