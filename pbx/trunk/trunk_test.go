package trunk

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type peers struct {
	provider, ours *pbxtest.Engine
}

func startPeers(t *testing.T) peers {
	t.Helper()
	provider := pbxtest.StartEngine(t, pbxtest.EngineOptions{
		Accounts:  pbxtest.Accounts{"acme": pbxtest.NewAccount("acme", "provider-secret", 3)},
		Registrar: registrar.Config{MinExpires: time.Second, MaxExpires: time.Hour, DefaultExpires: time.Minute},
	})
	ours := pbxtest.StartEngine(t, pbxtest.EngineOptions{})
	return peers{provider: provider, ours: ours}
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func (p peers) config(t *testing.T, transport, password string, expires time.Duration) Config {
	ph, pp := hostPort(t, p.provider.UDPAddr())
	oh, op := hostPort(t, p.ours.UDPAddr())
	return Config{ID: 7, Host: ph, Port: pp, Transport: transport, Username: "acme", Password: password,
		Expires: expires, ContactHost: oh, ContactPort: op}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bindings(t *testing.T, e *pbxtest.Engine) []registrar.Binding {
	t.Helper()
	bs, err := e.Store.Lookup(context.Background(), "acme", e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func runReg(t *testing.T, r *Registration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestRegisterRefreshUnregister(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			p := startPeers(t)
			cfg := p.config(t, transport, "provider-secret", 2*time.Second)
			r, err := New(p.ours.UserAgent(), cfg, WithLogger(testLog(t)), WithMinRefresh(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			stop := runReg(t, r)
			waitFor(t, "registered", 5*time.Second, func() bool { return r.Status().State == StateRegistered })
			st := r.Status()
			if st.LastCode != 200 || st.ExpiresAt.Sub(st.LastAttempt) != 2*time.Second {
				t.Fatalf("status %+v", st)
			}
			bs := bindings(t, p.provider)
			if len(bs) != 1 {
				t.Fatalf("provider bindings %+v", bs)
			}
			b := bs[0]
			if b.Transport != transport {
				t.Errorf("binding transport %q", b.Transport)
			}
			if transport == "udp" && b.Source != p.ours.UDPAddr() {
				t.Errorf("REGISTER came from %s, want our listener %s", b.Source, p.ours.UDPAddr())
			}
			wantContact := "sip:acme@" + p.ours.UDPAddr()
			if transport != "udp" {
				wantContact += ";transport=" + transport
			}
			if b.Contact != wantContact {
				t.Errorf("contact %q, want %q", b.Contact, wantContact)
			}
			first := b
			// refresh at 80% of 2s: same Call-ID, higher CSeq, later expiry
			waitFor(t, "refresh", 5*time.Second, func() bool {
				bs := bindings(t, p.provider)
				return len(bs) == 1 && bs[0].CSeq > first.CSeq
			})
			second := bindings(t, p.provider)[0]
			if second.CallID != first.CallID {
				t.Errorf("Call-ID changed: %s -> %s", first.CallID, second.CallID)
			}
			// The provider stores the refresh before we read its 200: wait for our status.
			waitFor(t, "expiry advanced by the refresh", 5*time.Second, func() bool {
				return r.Status().ExpiresAt.After(st.ExpiresAt)
			})
			stop()
			if got := bindings(t, p.provider); len(got) != 0 {
				t.Fatalf("binding left after unREGISTER: %+v", got)
			}
			if r.Status().State != StateStopped {
				t.Errorf("state %q", r.Status().State)
			}
		})
	}
}

func TestMinExpires(t *testing.T) {
	provider := pbxtest.StartEngine(t, pbxtest.EngineOptions{
		Accounts:  pbxtest.Accounts{"acme": pbxtest.NewAccount("acme", "provider-secret", 3)},
		Registrar: registrar.Config{MinExpires: 120 * time.Second, MaxExpires: time.Hour, DefaultExpires: time.Hour},
	})
	p := peers{provider: provider, ours: pbxtest.StartEngine(t, pbxtest.EngineOptions{})}
	r, err := New(p.ours.UserAgent(), p.config(t, "udp", "provider-secret", 30*time.Second), WithLogger(testLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	runReg(t, r)
	waitFor(t, "registered", 5*time.Second, func() bool { return r.Status().State == StateRegistered })
	if st := r.Status(); st.ExpiresAt.Sub(st.LastAttempt) != 120*time.Second {
		t.Fatalf("status %+v, want 120s granted", st)
	}
}

func TestWrongPassword(t *testing.T) {
	p := startPeers(t)
	reg := prometheus.NewRegistry()
	m, err := NewManager(p.ours.UserAgent(), testLog(t), reg, WithBackoff(time.Minute, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := p.config(t, "udp", "wrong", time.Minute)
	if err := m.Reconcile(context.Background(), []Spec{{Kind: "register", Enabled: true, Config: cfg}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failure", 5*time.Second, func() bool { return m.Statuses()[7].State == StateFailed })
	st := m.Statuses()[7]
	if st.LastCode != 401 && st.LastCode != 403 {
		t.Fatalf("status %+v", st)
	}
	if n := metricValue(t, reg, "centrala_trunk_register_failures_total", "7"); n != 1 {
		t.Errorf("failures %v", n)
	}
	if n := metricValue(t, reg, "centrala_trunk_registered", "7"); n != 0 {
		t.Errorf("registered gauge %v", n)
	}
	if len(bindings(t, p.provider)) != 0 {
		t.Error("provider bound a contact with a wrong password")
	}
}

func TestManagerReconcile(t *testing.T) {
	p := startPeers(t)
	reg := prometheus.NewRegistry()
	m, err := NewManager(p.ours.UserAgent(), testLog(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	cfg := p.config(t, "udp", "provider-secret", time.Minute)
	ipTrunk := Spec{Kind: "ip", Enabled: true, Config: Config{ID: 8, Host: "127.0.0.1", Username: "x"}}
	if err := m.Reconcile(ctx, []Spec{{Kind: "register", Enabled: true, Config: cfg}, ipTrunk}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "registered", 5*time.Second, func() bool { return m.Statuses()[7].State == StateRegistered })
	if len(m.Statuses()) != 1 {
		t.Errorf("statuses %+v", m.Statuses())
	}
	if n := metricValue(t, reg, "centrala_trunk_registered", "7"); n != 1 {
		t.Errorf("registered gauge %v", n)
	}
	if len(bindings(t, p.provider)) != 1 {
		t.Fatal("no binding at provider")
	}
	// changed: restarted with the new expiry
	cfg.Expires = 90 * time.Second
	if err := m.Reconcile(ctx, []Spec{{Kind: "register", Enabled: true, Config: cfg}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "re-registered", 5*time.Second, func() bool { return m.Statuses()[7].State == StateRegistered })
	if st := m.Statuses()[7]; st.ExpiresAt.Sub(st.LastAttempt) != 90*time.Second {
		t.Errorf("status after change %+v", st)
	}
	// disabled: stopped and unregistered
	if err := m.Reconcile(ctx, []Spec{{Kind: "register", Enabled: false, Config: cfg}}); err != nil {
		t.Fatal(err)
	}
	if len(m.Statuses()) != 0 {
		t.Errorf("statuses %+v", m.Statuses())
	}
	if bs := bindings(t, p.provider); len(bs) != 0 {
		t.Errorf("binding left: %+v", bs)
	}
}

func TestPickChallenge(t *testing.T) {
	hs := []sip.Header{
		sip.NewHeader("WWW-Authenticate", `Digest realm="x", nonce="n", algorithm=SHA-512-256, qop="auth"`),
		sip.NewHeader("WWW-Authenticate", `Digest realm="centrala", nonce="abc,def", qop="auth,auth-int", algorithm=SHA-256, opaque="o"`),
	}
	c, ok := pickChallenge(hs)
	if !ok || c.Algorithm != digest.SHA256 || c.Nonce != "abc,def" || c.Opaque != "o" || c.Realm != "centrala" {
		t.Fatalf("%+v %v", c, ok)
	}
}

// metricValue is the value of the series of metric name with label trunk_id (counter or gauge).
func metricValue(t *testing.T, reg *prometheus.Registry, name, trunkID string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "trunk_id" && l.GetValue() == trunkID {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
