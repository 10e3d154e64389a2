// Package trunk registers Centrala to telephony providers (outbound REGISTER with digest
// authentication, refreshed before expiry) and keeps one registration per trunk.
package trunk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/digest"
)

// States of a registration.
const (
	StateRegistering = "registering"
	StateRegistered  = "registered"
	StateFailed      = "failed"
	StateStopped     = "stopped"
)

// Config of one provider registration.
type Config struct {
	ID          int64
	Host        string // provider host (IP or name)
	Port        int    // default 5060
	Transport   string // udp (default), tcp
	Username    string
	Password    string
	Domain      string        // AOR domain and Request-URI; default Host
	Expires     time.Duration // requested; default 3600s
	ContactHost string        // our address in the Contact (and, for UDP, the socket we send from)
	ContactPort int
}

// Status is what is known of a registration.
type Status struct {
	State       string    `json:"state"`
	LastCode    int       `json:"last_code"`
	LastReason  string    `json:"last_reason"`
	ExpiresAt   time.Time `json:"expires_at"`
	LastAttempt time.Time `json:"last_attempt"`
}

// Option tunes a Registration.
type Option func(*Registration)

// WithLogger sets the logger (the password is never logged).
func WithLogger(l *slog.Logger) Option { return func(r *Registration) { r.log = l } }

// WithBackoff sets the retry delays after a failure: first, doubling up to max.
func WithBackoff(first, max time.Duration) Option {
	return func(r *Registration) { r.backoffMin, r.backoffMax = first, max }
}

// WithMinRefresh sets the shortest delay between refreshes (default 5s).
func WithMinRefresh(d time.Duration) Option { return func(r *Registration) { r.minRefresh = d } }

// WithTimeout bounds one REGISTER transaction (default 32s, timer F) and the final
// unREGISTER (default 3s).
func WithTimeout(register, unregister time.Duration) Option {
	return func(r *Registration) { r.txTimeout, r.unregTimeout = register, unregister }
}

// withHooks reports state changes (registered or not) and each failed attempt.
func withHooks(onRegistered func(bool), onFailure func()) Option {
	return func(r *Registration) { r.onRegistered, r.onFailure = onRegistered, onFailure }
}

// Registration keeps one trunk registered while Run runs.
type Registration struct {
	ua     *sipgo.UserAgent
	cfg    Config
	log    *slog.Logger
	client *sipgo.Client
	laddr  string // UDP listener we send from ("" for a connection of our own)

	backoffMin, backoffMax  time.Duration
	minRefresh              time.Duration
	txTimeout, unregTimeout time.Duration
	onRegistered            func(bool)
	onFailure               func()

	// used by the Run goroutine only
	callID, fromTag string
	cseq            uint32
	chal            *digest.Challenge
	chalProxy       bool
	nc              uint32

	mu sync.RWMutex
	st Status
}

// New prepares a registration; Run starts it.
func New(ua *sipgo.UserAgent, cfg Config, opts ...Option) (*Registration, error) {
	if cfg.Host == "" || cfg.Username == "" {
		return nil, errors.New("trunk: host and username are required")
	}
	if cfg.Port == 0 {
		cfg.Port = 5060
	}
	cfg.Transport = strings.ToLower(cfg.Transport)
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.Transport != "udp" && cfg.Transport != "tcp" && cfg.Transport != "tls" {
		return nil, fmt.Errorf("trunk %d: transport %q not supported", cfg.ID, cfg.Transport)
	}
	if cfg.Domain == "" {
		cfg.Domain = cfg.Host
	}
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	r := &Registration{ua: ua, cfg: cfg, log: slog.Default(),
		backoffMin: 5 * time.Second, backoffMax: 5 * time.Minute, minRefresh: 5 * time.Second,
		txTimeout: 32 * time.Second, unregTimeout: 3 * time.Second,
		callID: digest.NewCNonce() + "@centrala", fromTag: sip.GenerateTagN(16), cseq: 1,
		st: Status{State: StateRegistering}}
	for _, o := range opts {
		o(r)
	}
	r.log = r.log.With("trunk_id", cfg.ID)
	var copts []sipgo.ClientOption
	if cfg.Transport == "udp" && cfg.ContactHost != "" && cfg.ContactPort > 0 {
		// send from our listening socket: the provider answers (and later sends INVITEs) there
		r.laddr = net.JoinHostPort(cfg.ContactHost, strconv.Itoa(cfg.ContactPort))
		copts = append(copts, sipgo.WithClientConnectionAddr(r.laddr))
	}
	copts = append(copts, sipgo.WithClientLogger(r.log))
	var err error
	if r.client, err = sipgo.NewClient(ua, copts...); err != nil {
		return nil, err
	}
	return r, nil
}

// Status is safe for concurrent use.
func (r *Registration) Status() Status {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.st
}

func (r *Registration) setStatus(f func(*Status)) {
	r.mu.Lock()
	was := r.st.State == StateRegistered
	f(&r.st)
	is := r.st.State == StateRegistered
	r.mu.Unlock()
	if was != is && r.onRegistered != nil {
		r.onRegistered(is)
	}
}

// result of one REGISTER exchange (with its challenge answered).
type result struct {
	code       int
	reason     string
	granted    time.Duration
	minExpires time.Duration
}

// Run registers and refreshes until ctx ends, then unregisters and returns nil.
func (r *Registration) Run(ctx context.Context) error {
	expires := r.cfg.Expires
	backoff := r.backoffMin
	registered := false
	for ctx.Err() == nil {
		now := time.Now()
		res, err := r.exchange(ctx, expires)
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		switch {
		case err == nil && res.code == 200:
			registered = true
			backoff = r.backoffMin
			wait = max(res.granted*8/10, r.minRefresh)
			r.setStatus(func(s *Status) {
				*s = Status{State: StateRegistered, LastCode: 200, LastReason: res.reason,
					ExpiresAt: now.Add(res.granted), LastAttempt: now}
			})
			r.log.Debug("trunk registered", "expires", res.granted, "refresh_in", wait)
		case err == nil && res.code == 423 && res.minExpires > expires:
			r.log.Info("trunk registration interval too brief", "min_expires", res.minExpires)
			expires = res.minExpires
			continue
		default:
			code, reason := res.code, res.reason
			if err != nil {
				code, reason = 0, err.Error()
			}
			wait = backoff
			backoff = min(backoff*2, r.backoffMax)
			r.setStatus(func(s *Status) {
				*s = Status{State: StateFailed, LastCode: code, LastReason: reason, LastAttempt: now}
			})
			if r.onFailure != nil {
				r.onFailure()
			}
			r.log.Warn("trunk registration failed", "code", code, "reason", reason, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if registered {
		uctx, cancel := context.WithTimeout(context.Background(), r.unregTimeout)
		res, err := r.exchange(uctx, 0)
		cancel()
		if err != nil {
			r.log.Warn("trunk unregister failed", "error", err)
		} else {
			r.log.Debug("trunk unregistered", "code", res.code)
		}
	}
	r.setStatus(func(s *Status) { s.State = StateStopped; s.ExpiresAt = time.Time{} })
	return nil
}

// exchange sends a REGISTER and, when challenged, answers the challenge once.
func (r *Registration) exchange(ctx context.Context, expires time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.txTimeout)
	defer cancel()
	if err := r.waitListener(ctx); err != nil {
		return result{}, err
	}
	// reuse a known challenge (next nc) so refreshes need one round trip
	res, err := r.send(ctx, expires, r.chal != nil)
	if err != nil {
		return result{}, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		hdr := "WWW-Authenticate"
		if res.StatusCode == 407 {
			hdr = "Proxy-Authenticate"
		}
		c, ok := pickChallenge(res.GetHeaders(hdr))
		if !ok {
			return result{code: res.StatusCode, reason: res.Reason + " (no supported challenge)"}, nil
		}
		r.chal, r.chalProxy, r.nc = &c, res.StatusCode == 407, 0
		if res, err = r.send(ctx, expires, true); err != nil {
			return result{}, err
		}
	}
	out := result{code: res.StatusCode, reason: res.Reason}
	switch res.StatusCode {
	case 200:
		out.granted = r.granted(res, expires)
	case 423:
		if h := res.GetHeader("Min-Expires"); h != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
				out.minExpires = time.Duration(n) * time.Second
			}
		}
	case 401, 407:
		r.chal = nil // credentials rejected: start over next time
	}
	return out, nil
}

func (r *Registration) contactURI() sip.Uri {
	u := sip.Uri{Scheme: "sip", User: r.cfg.Username, Host: r.cfg.ContactHost, Port: r.cfg.ContactPort}
	if u.Host == "" {
		u.Host = "127.0.0.1"
	}
	if r.cfg.Transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", r.cfg.Transport)
	}
	return u
}

func (r *Registration) send(ctx context.Context, expires time.Duration, auth bool) (*sip.Response, error) {
	ruri := sip.Uri{Scheme: "sip", Host: r.cfg.Domain}
	req := sip.NewRequest(sip.REGISTER, ruri)
	req.SetDestination(net.JoinHostPort(r.cfg.Host, strconv.Itoa(r.cfg.Port)))
	req.SetTransport(strings.ToUpper(r.cfg.Transport))
	aor := sip.Uri{Scheme: "sip", User: r.cfg.Username, Host: r.cfg.Domain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", r.fromTag)
	callID := sip.CallIDHeader(r.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	r.cseq++
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&maxFwd)
	req.AppendHeader(&sip.ContactHeader{Address: r.contactURI(), Params: sip.NewParams()})
	req.AppendHeader(&exp)
	if auth && r.chal != nil {
		r.nc++
		name := "Authorization"
		if r.chalProxy {
			name = "Proxy-Authorization"
		}
		req.AppendHeader(sip.NewHeader(name, r.chal.Answer(r.cfg.Username, r.cfg.Password,
			string(sip.REGISTER), ruri.String(), r.nc, digest.NewCNonce())))
	}
	req.SetBody(nil)
	return r.client.Do(ctx, req)
}

// granted is the expiry the registrar gave our contact: its expires parameter, else the
// Expires header, else what we asked for.
func (r *Registration) granted(res *sip.Response, asked time.Duration) time.Duration {
	ours := r.contactURI()
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.Host != ours.Host || c.Address.Port != ours.Port || c.Address.User != ours.User {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// waitListener waits until sipgo serves the UDP listener we send from (the engine starts
// serving asynchronously), so the transport layer does not try to bind it a second time.
func (r *Registration) waitListener(ctx context.Context) error {
	if r.laddr == "" {
		return nil
	}
	for {
		if c, err := r.ua.TransportLayer().GetConnection("udp", r.laddr); err == nil && c != nil {
			c.Ref(-1) // the lookup took a reference
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("udp listener %s not serving: %w", r.laddr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pickChallenge returns the first challenge whose algorithm and qop we can answer.
func pickChallenge(hs []sip.Header) (digest.Challenge, bool) {
	vs := make([]string, len(hs))
	for i, h := range hs {
		vs[i] = h.Value()
	}
	return digest.FirstSupported(vs...)
}
