package pbxtest

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
)

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Accounts is a fixed set of SIP accounts: the seam where the SQL store plugs in (tested
// for real in cmd/centrala's end-to-end tests).
type Accounts map[string]registrar.Account

// Account implements registrar.Accounts.
func (a Accounts) Account(_ context.Context, username string) (registrar.Account, error) {
	if acct, ok := a[username]; ok {
		return acct, nil
	}
	return registrar.Account{}, registrar.ErrNoAccount
}

// NewAccount returns an account with a secret, hashed for realm "centrala".
func NewAccount(username, secret string, maxContacts int) registrar.Account {
	return registrar.Account{Username: username, MaxContacts: maxContacts,
		HA1MD5:    digest.HA1(digest.MD5, username, "centrala", secret),
		HA1SHA256: digest.HA1(digest.SHA256, username, "centrala", secret)}
}

// Engine is a running engine on loopback.
type Engine struct {
	*pbx.Engine
	Registrar *registrar.Registrar
	Bus       *event.Bus
	Metrics   *prometheus.Registry
	Clock     *Clock
	Store     registrar.Store

	stop func() // cancels Run and waits for it
}

// Stop stops the engine before the end of the test (as a SIGTERM would): calls in progress
// are hung up. It is safe to call twice.
func (e *Engine) Stop() { e.stop() }

// EngineOptions tune StartEngine; zero values give defaults.
type EngineOptions struct {
	Accounts  registrar.Accounts // e.g. Accounts
	Store     registrar.Store    // default: a MemoryStore
	Guard     digest.GuardConfig
	Registrar registrar.Config
	SIP       pbx.Config
	Options   []pbx.Option // more engine options (pbx.WithCalls)
}

// StartEngine runs a registrar and an engine on 127.0.0.1 with free ports until the test ends.
func StartEngine(t testing.TB, o EngineOptions) *Engine {
	t.Helper()
	clock := NewClock(time.Now())
	if o.Store == nil {
		o.Store = registrar.NewMemoryStore()
	}
	if o.SIP.Addr == "" {
		o.SIP.Addr = "127.0.0.1:0"
	}
	o.SIP.Workers = max(o.SIP.Workers, 4)
	guard, err := digest.NewGuard(o.Guard)
	if err != nil {
		t.Fatal(err)
	}
	o.Registrar.Realm = "centrala"
	o.Registrar.Node = "test"
	o.Registrar.Defaults()
	algs, err := o.Registrar.DigestAlgorithms()
	if err != nil {
		t.Fatal(err)
	}
	verifier := digest.NewVerifier("centrala", []byte("test nonce key 0123456789"), o.Registrar.NonceTTL, algs)
	bus := event.NewBus()
	m := prometheus.NewRegistry()
	reg, err := registrar.New(o.Registrar, o.Store, o.Accounts, verifier, guard, bus,
		registrar.WithClock(clock.Now), registrar.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CENTRALA_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts := append([]pbx.Option{pbx.WithClock(clock.Now), pbx.WithMetrics(m), pbx.WithLogger(log)}, o.Options...)
	eng, err := pbx.New(o.SIP, reg, verifier, guard, bus, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("engine stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &Engine{Engine: eng, Registrar: reg, Bus: bus, Metrics: m, Clock: clock, Store: o.Store, stop: stop}
}
