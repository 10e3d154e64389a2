package registrar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/event"
)

// Config of the registrar.
type Config struct {
	Realm          string        `yaml:"-"`
	MinExpires     time.Duration `yaml:"min_expires"`       // shorter non-zero Expires gets 423
	MaxExpires     time.Duration `yaml:"max_expires"`       // longer Expires is lowered to this
	DefaultExpires time.Duration `yaml:"default_expires"`   // when the REGISTER names none
	NonceTTL       time.Duration `yaml:"nonce_ttl"`         // a nonce older than this is stale
	CacheTTL       time.Duration `yaml:"cache_ttl"`         // how long account credentials are cached
	Algorithms     []string      `yaml:"digest_algorithms"` // challenge order: MD5, SHA-256
	Node           string        `yaml:"-"`                 // this process, recorded in bindings
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Realm == "" {
		c.Realm = "centrala"
	}
	if c.MinExpires == 0 {
		c.MinExpires = 60 * time.Second
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = 7200 * time.Second
	}
	if c.DefaultExpires == 0 {
		c.DefaultExpires = 3600 * time.Second
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = time.Minute
	}
	if len(c.Algorithms) == 0 {
		for _, a := range digest.DefaultAlgorithms {
			c.Algorithms = append(c.Algorithms, string(a))
		}
	}
}

// DigestAlgorithms is the parsed challenge order.
func (c *Config) DigestAlgorithms() ([]digest.Algorithm, error) {
	var out []digest.Algorithm
	for _, s := range c.Algorithms {
		a, err := digest.ParseAlgorithm(s)
		if err != nil {
			return nil, fmt.Errorf("registrar: %w", err)
		}
		if slices.Contains(out, a) {
			return nil, fmt.Errorf("registrar: digest algorithm %s listed twice", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// Validate reports the first inconsistent setting.
func (c *Config) Validate() error {
	switch {
	case c.MinExpires < time.Second:
		return errors.New("registrar: min_expires must be at least 1s")
	case c.MaxExpires < c.MinExpires:
		return errors.New("registrar: max_expires must not be below min_expires")
	case c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires:
		return errors.New("registrar: default_expires must lie between min_expires and max_expires")
	case c.NonceTTL < 10*time.Second:
		return errors.New("registrar: nonce_ttl must be at least 10s")
	}
	_, err := c.DigestAlgorithms()
	return err
}

// Account is what the registrar knows of a SIP account.
type Account struct {
	ID          int64
	UserID      int64
	Username    string
	HA1MD5      string
	HA1SHA256   string
	MaxContacts int
	Disabled    bool // the user is archived: may not register
}

// ErrNoAccount is returned by Accounts for an unknown username.
var ErrNoAccount = errors.New("registrar: no such account")

// Accounts looks SIP accounts up (the SQL store, adapted in cmd).
type Accounts interface {
	Account(ctx context.Context, username string) (Account, error)
}

// Reply is the registrar's answer; the engine turns it into a SIP response.
type Reply struct {
	Status  int
	Reason  string
	Headers []sip.Header
	Outcome string // for metrics: ok, challenged, stale, auth_failed, ...
}

// Request is a REGISTER with what the transport knows of it.
type Request struct {
	*sip.Request
	Source    netip.AddrPort
	Local     string
	Transport string // lower case
}

// Registrar handles REGISTER requests.
type Registrar struct {
	cfg      Config
	store    Store
	accounts *accountCache
	verifier *digest.Verifier
	guard    *digest.Guard
	bus      *event.Bus
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time
}

// Option configures a Registrar.
type Option func(*Registrar) error

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registrar) error { r.log = l; return nil } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(r *Registrar) error { r.now = now; return nil }
}

// WithMetrics registers the registrar's collectors.
func WithMetrics(m Registerer) Option {
	return func(r *Registrar) error {
		var err error
		r.metrics, err = newMetrics(m)
		return err
	}
}

// New returns a registrar over a location store and an account source. The verifier and the
// guard are shared with the engine (INVITE authentication and source bans).
func New(cfg Config, store Store, accounts Accounts, verifier *digest.Verifier, guard *digest.Guard, bus *event.Bus, opts ...Option) (*Registrar, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Registrar{cfg: cfg, store: store, verifier: verifier, guard: guard, bus: bus,
		log: slog.New(slog.DiscardHandler), now: time.Now}
	r.accounts = newAccountCache(accounts, cfg.CacheTTL)
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	if r.metrics == nil {
		r.metrics, _ = newMetrics(nil)
	}
	return r, nil
}

// Store is the location service the registrar writes to.
func (r *Registrar) Store() Store { return r.store }

// Register handles one REGISTER (RFC 3261 section 10.3).
func (r *Registrar) Register(ctx context.Context, req Request) Reply {
	reply := r.register(ctx, req)
	r.metrics.outcome(reply.Outcome)
	return reply
}

func (r *Registrar) register(ctx context.Context, req Request) Reply {
	to := req.To()
	if to == nil || !isSIP(to.Address.Scheme) || to.Address.User == "" {
		return Reply{Status: 400, Reason: "Bad Request: To must be a SIP URI with a user", Outcome: "bad_request"}
	}
	aor := to.Address.User

	acct, res, hs := r.Authenticate(ctx, req, false)
	switch res {
	case AuthChallenge, AuthStale, AuthFailed:
		return Reply{Status: 401, Reason: "Unauthorized", Headers: hs, Outcome: res.outcome()}
	case AuthForbidden:
		return Reply{Status: 403, Reason: "Forbidden", Outcome: "forbidden"}
	case AuthError:
		return Reply{Status: 500, Reason: "Server Internal Error", Outcome: "error"}
	}
	if acct.Username != aor {
		r.log.Warn("authenticated user registers another address", "call_id", callID(req.Request),
			"username", acct.Username, "aor", aor, "source", req.Source.String())
		return Reply{Status: 403, Reason: "Forbidden: To does not match the authenticated user", Outcome: "forbidden"}
	}
	now := r.now()
	upd, reply, ok := r.update(req, aor, acct, now)
	if !ok {
		return reply
	}
	bindings, err := r.store.Apply(ctx, upd)
	switch {
	case errors.Is(err, ErrTooManyContacts):
		return Reply{Status: 403, Reason: "Forbidden: Too Many Contacts", Outcome: "too_many_contacts"}
	case errors.Is(err, ErrOutOfOrder):
		return Reply{Status: 500, Reason: "Server Internal Error: Out Of Order CSeq",
			Headers: []sip.Header{sip.NewHeader("Retry-After", "1")}, Outcome: "out_of_order"}
	case err != nil:
		r.log.Error("location store failed", "call_id", callID(req.Request), "aor", aor, "error", err)
		return Reply{Status: 500, Reason: "Server Internal Error", Outcome: "error"}
	}
	r.publish(upd, bindings)
	return r.ok(bindings, now)
}

// AuthResult is the outcome of Authenticate.
type AuthResult int

const (
	AuthOK        AuthResult = iota
	AuthChallenge            // no credentials for us: challenge
	AuthStale                // right credentials, stale nonce: challenge with stale=true
	AuthFailed               // wrong credentials or unknown user: challenge, counted
	AuthForbidden            // right credentials of a disabled (archived) account
	AuthError                // the account store failed
)

func (a AuthResult) outcome() string {
	return [...]string{"ok", "challenged", "stale", "auth_failed", "forbidden", "error"}[a]
}

// Authenticate checks the digest credentials of a request (Authorization, or
// Proxy-Authorization when proxy is true). Unless the result is AuthOK, AuthForbidden or
// AuthError, hs holds the challenge headers to send (WWW-Authenticate or Proxy-Authenticate,
// SHA-256 and MD5). Failures count towards the source's ban.
func (r *Registrar) Authenticate(ctx context.Context, req Request, proxy bool) (acct Account, res AuthResult, hs []sip.Header) {
	now := r.now()
	in, out := "Authorization", "WWW-Authenticate"
	if proxy {
		in, out = "Proxy-Authorization", "Proxy-Authenticate"
	}
	challenge := func(stale bool) []sip.Header {
		var hs []sip.Header
		for _, ch := range r.verifier.Challenges(now, stale) {
			hs = append(hs, sip.NewHeader(out, ch))
		}
		return hs
	}
	creds, found := r.credentials(req.Request, in)
	if !found {
		return acct, AuthChallenge, challenge(false)
	}
	acct, err := r.accounts.get(ctx, creds.Username, now)
	if err != nil && !errors.Is(err, ErrNoAccount) {
		r.log.Error("account lookup failed", "call_id", callID(req.Request), "error", err)
		return acct, AuthError, nil
	}
	ha1 := acct.HA1MD5
	if creds.Algorithm == digest.SHA256 {
		ha1 = acct.HA1SHA256
	}
	switch r.verifier.Check(creds, string(req.Method), ha1, now) {
	case digest.Stale:
		return acct, AuthStale, challenge(true)
	case digest.Failed:
		r.authFailed(req, creds.Username, now)
		return acct, AuthFailed, challenge(false)
	}
	if acct.Disabled {
		return acct, AuthForbidden, nil
	}
	return acct, AuthOK, nil
}

// credentials picks the digest answer naming our realm; failing that, any digest answer
// (which then fails and counts); none at all means the client has to be challenged.
func (r *Registrar) credentials(req *sip.Request, header string) (digest.Credentials, bool) {
	var first digest.Credentials
	found := false
	for _, h := range req.GetHeaders(header) {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			continue
		}
		if c.Realm == r.cfg.Realm {
			return c, true
		}
		if !found {
			first, found = c, true
		}
	}
	return first, found
}

func (r *Registrar) authFailed(req Request, username string, now time.Time) {
	r.metrics.authFailures.Inc()
	ip := req.Source.Addr()
	if r.guard != nil && r.guard.Fail(ip, now) {
		r.metrics.bans.Inc()
		r.metrics.bannedSources.Set(float64(r.guard.BannedCount(now)))
		r.log.Warn("source banned after repeated authentication failures", "source", ip.String(),
			"call_id", callID(req.Request))
		r.bus.Publish(event.Event{Type: "security.source_banned", Data: map[string]string{"source": ip.String()}})
	}
	r.log.Info("authentication failed", "call_id", callID(req.Request), "username", username,
		"source", req.Source.String())
}

// update turns the REGISTER's contacts into a store update, or a reply when they are wrong.
func (r *Registrar) update(req Request, aor string, acct Account, now time.Time) (Update, Reply, bool) {
	cseq := req.CSeq()
	upd := Update{AOR: strings.Clone(aor), CallID: strings.Clone(callID(req.Request)), CSeq: cseq.SeqNo, MaxContacts: acct.MaxContacts, Now: now}
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return upd, Reply{Status: 400, Reason: "Bad Request: Expires", Outcome: "bad_request"}, false
		}
		headerExpires = int(min(n, 1<<31))
	}
	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			contacts = append(contacts, c)
		}
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = strings.Clone(h.Value())
	}
	minExp := int(r.cfg.MinExpires / time.Second)
	for _, c := range contacts {
		if c.Address.Wildcard {
			if len(contacts) != 1 || headerExpires != 0 {
				return upd, Reply{Status: 400, Reason: "Bad Request: Contact * needs Expires: 0 and no other contact", Outcome: "bad_request"}, false
			}
			upd.RemoveAll = true
			return upd, Reply{}, true
		}
		if !isSIP(c.Address.Scheme) || c.Address.Host == "" {
			return upd, Reply{Status: 400, Reason: "Bad Request: Contact must be a SIP URI", Outcome: "bad_request"}, false
		}
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return upd, Reply{Status: 400, Reason: "Bad Request: Contact expires", Outcome: "bad_request"}, false
			}
			exp = int(min(n, 1<<31))
		}
		if exp < 0 {
			exp = int(r.cfg.DefaultExpires / time.Second)
		}
		if exp > 0 && exp < minExp {
			return upd, Reply{Status: 423, Reason: "Interval Too Brief", Outcome: "interval_too_brief",
				Headers: []sip.Header{sip.NewHeader("Min-Expires", strconv.Itoa(minExp))}}, false
		}
		d := min(time.Duration(exp)*time.Second, r.cfg.MaxExpires)
		q := 0.0
		if v, ok := c.Params.Get("q"); ok {
			q, _ = strconv.ParseFloat(v, 64)
		}
		inst, _ := c.Params.Get("+sip.instance")
		// Clones: parsed header values share the request's text, which a binding must not keep.
		upd.Changes = append(upd.Changes, Change{Expires: d, Binding: Binding{
			AOR: upd.AOR, Contact: c.Address.String(), Transport: req.Transport, Source: req.Source.String(),
			Local: req.Local, CallID: upd.CallID, CSeq: upd.CSeq, Q: q, InstanceID: strings.Clone(strings.Trim(inst, `"`)),
			UserAgent: ua, Node: r.cfg.Node, UpdatedAt: now,
		}})
	}
	return upd, Reply{}, true
}

// ok lists the current bindings in a 200 (RFC 3261 section 10.3 step 8).
func (r *Registrar) ok(bindings []Binding, now time.Time) Reply {
	sort.Slice(bindings, func(i, j int) bool { return bindings[i].Contact < bindings[j].Contact })
	hs := make([]sip.Header, 0, len(bindings)+1)
	for _, b := range bindings {
		secs := int(b.ExpiresAt.Sub(now).Round(time.Second) / time.Second)
		hs = append(hs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(max(secs, 0))))
	}
	hs = append(hs, sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	return Reply{Status: 200, Reason: "OK", Headers: hs, Outcome: "ok"}
}

func (r *Registrar) publish(u Update, after []Binding) {
	for _, c := range u.Changes {
		if c.Expires == 0 {
			r.bus.Publish(event.Event{Type: "registration.removed", CallID: u.CallID,
				Data: removal{AOR: u.AOR, Contact: c.Contact, Reason: "unregistered"}})
		}
	}
	if u.RemoveAll {
		r.bus.Publish(event.Event{Type: "registration.removed", CallID: u.CallID,
			Data: removal{AOR: u.AOR, Contact: "*", Reason: "unregistered"}})
	}
	for _, b := range after {
		if b.CallID == u.CallID && b.CSeq == u.CSeq {
			r.bus.Publish(event.Event{Type: "registration.updated", CallID: u.CallID, Data: b})
		}
	}
}

type removal struct {
	AOR     string `json:"username"`
	Contact string `json:"contact"`
	Reason  string `json:"reason"` // unregistered, expired, account_removed
}

// Bindings lists every live binding (the API's GET /api/v1/registrations).
func (r *Registrar) Bindings(ctx context.Context) ([]Binding, error) {
	bs, err := r.store.List(ctx, r.now())
	if bs == nil && err == nil {
		bs = []Binding{} // a JSON array, never null
	}
	return bs, err
}

// AccountChanged drops cached credentials of an account; gone (deleted, or its user archived)
// also removes its bindings so it can no longer be reached.
func (r *Registrar) AccountChanged(ctx context.Context, username string, gone bool) {
	r.accounts.forget(username)
	if !gone {
		return
	}
	removed, err := r.store.RemoveAOR(ctx, username)
	if err != nil {
		r.log.Error("remove bindings of a removed account", "username", username, "error", err)
		return
	}
	for _, b := range removed {
		r.bus.Publish(event.Event{Type: "registration.removed", Data: removal{AOR: b.AOR, Contact: b.Contact, Reason: "account_removed"}})
	}
}

// Run expires bindings on time and sweeps nonce and ban state until ctx is done.
func (r *Registrar) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	count := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := r.now()
		r.ExpireNow(ctx, now)
		if count++; count%10 == 1 {
			r.verifier.Sweep(now)
			if r.guard != nil {
				r.guard.Sweep(now)
				r.metrics.bannedSources.Set(float64(r.guard.BannedCount(now)))
			}
			r.metrics.recount(ctx, r.store, now)
		}
	}
}

// ExpireNow removes bindings lapsed at now and publishes them.
func (r *Registrar) ExpireNow(ctx context.Context, now time.Time) {
	gone, err := r.store.Expire(ctx, now)
	if err != nil {
		r.log.Error("expire bindings", "error", err)
		return
	}
	for _, b := range gone {
		r.log.Info("registration expired", "username", b.AOR, "contact", b.Contact)
		r.bus.Publish(event.Event{Type: "registration.removed", CallID: b.CallID,
			Data: removal{AOR: b.AOR, Contact: b.Contact, Reason: "expired"}})
	}
}

func isSIP(scheme string) bool {
	return strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
