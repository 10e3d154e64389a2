package pbx_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
)

func accounts() pbxtest.Accounts {
	return pbxtest.Accounts{
		"alice": pbxtest.NewAccount("alice", "alice-secret", 3),
		"bob":   pbxtest.NewAccount("bob", "bob-secret", 1),
	}
}

func contacts(r *sip.Response) []string {
	var out []string
	for _, h := range r.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

func requireStatus(t *testing.T, r *sip.Response, code int) {
	t.Helper()
	if r == nil {
		t.Fatalf("no response, want %d", code)
	}
	if r.StatusCode != code {
		t.Fatalf("status %d %s, want %d\n%s", r.StatusCode, r.Reason, code, r)
	}
}

func TestRegisterDigestBothAlgorithmsBothTransports(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	for _, network := range []string{"udp", "tcp"} {
		for _, alg := range []string{"SHA-256", "MD5"} {
			t.Run(network+"/"+alg, func(t *testing.T) {
				addr := e.UDPAddr()
				if network == "tcp" {
					addr = e.TCPAddr()
				}
				ua := pbxtest.Dial(t, network, addr, "alice", "alice-secret")
				ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">"))
				ch := ua.Recv(2 * time.Second)
				requireStatus(t, ch, 401)
				www := ch.GetHeaders("WWW-Authenticate")
				if len(www) != 2 || !strings.Contains(www[0].Value(), "algorithm=MD5") ||
					!strings.Contains(www[1].Value(), "algorithm=SHA-256") || !strings.Contains(www[0].Value(), `qop="auth"`) ||
					!strings.Contains(www[0].Value(), `realm="centrala"`) {
					t.Fatalf("challenges: %v", www)
				}
				r := ua.Register(alg, "Contact: <"+ua.Contact()+">", "Expires: 600")
				requireStatus(t, r, 200)
				cs := contacts(r)
				if len(cs) != 1 || !strings.Contains(cs[0], ua.Contact()) || !regexp.MustCompile(`expires=(600|599)`).MatchString(cs[0]) {
					t.Fatalf("200 contacts %v", cs)
				}
				if r.GetHeader("Date") == nil {
					t.Fatal("200 without Date")
				}
				bs, _ := e.Store.Lookup(context.Background(), "alice", e.Clock.Now())
				found := false
				for _, b := range bs {
					if b.Contact == ua.Contact() {
						found = true
						if b.Transport != network || b.Source != ua.Local {
							t.Fatalf("binding transport %q source %q, want %s from %s", b.Transport, b.Source, network, ua.Local)
						}
					}
				}
				if !found {
					t.Fatalf("binding for %s not stored: %+v", ua.Contact(), bs)
				}
				// unregister
				r = ua.Register(alg, "Contact: <"+ua.Contact()+">", "Expires: 0")
				requireStatus(t, r, 200)
				for _, c := range contacts(r) {
					if strings.Contains(c, ua.Contact()) {
						t.Fatalf("removed contact still listed: %v", contacts(r))
					}
				}
			})
		}
	}
}

// An unknown user and a known user with a wrong password must get the same answer.
func TestNoUserEnumeration(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	shape := func(user, pass string) string {
		ua := pbxtest.Dial(t, "udp", e.UDPAddr(), user, pass)
		r := ua.Register("MD5", "Contact: <"+ua.Contact()+">")
		requireStatus(t, r, 401)
		var b strings.Builder
		b.WriteString(r.StartLine())
		for _, h := range r.Headers() {
			v := h.Value()
			v = regexp.MustCompile(`nonce="[^"]+"`).ReplaceAllString(v, `nonce=X`)
			v = regexp.MustCompile(`tag=[^;>]+`).ReplaceAllString(v, `tag=X`)
			v = regexp.MustCompile(`127\.0\.0\.1:\d+|branch=[^;]+|received=[^;]+|rport=\d+|sip:[a-z]+@[0-9.:]+|[0-9a-f]{16}@test|<sip:[a-z]+@centrala>`).ReplaceAllString(v, "X")
			b.WriteString(h.Name() + ": " + v + "\n")
		}
		return b.String()
	}
	unknown := shape("mallory", "whatever-pass")
	wrong := shape("alice", "wrong-password")
	if unknown != wrong {
		t.Fatalf("answers differ:\nunknown user:\n%s\nwrong password:\n%s", unknown, wrong)
	}
	if got := metricValue(t, e, "centrala_sip_auth_failures_total"); got != 2 {
		t.Fatalf("auth failures counted %v, want 2", got)
	}
}

// metricValue sums every series of a counter or gauge.
func metricValue(t *testing.T, e *pbxtest.Engine, name string) float64 {
	t.Helper()
	mfs, err := e.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := 0.0
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestStaleNonceAndReplay(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "alice-secret")
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">"))
	ch := pbxtest.Challenge(ua.Recv(2*time.Second), "MD5")
	auth := ua.Authorization(ch, "REGISTER", "sip:centrala")
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">", "Authorization: "+auth))
	requireStatus(t, ua.Recv(2*time.Second), 200)

	// the same nonce-count again is a replay: new challenge, stale=true, not a failure
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">", "Authorization: "+auth))
	r := ua.Recv(2 * time.Second)
	requireStatus(t, r, 401)
	if !strings.Contains(r.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("replay not answered stale: %s", r)
	}
	// the next nonce-count on the same nonce is fine
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">", "Authorization: "+ua.Authorization(ch, "REGISTER", "sip:centrala")))
	requireStatus(t, ua.Recv(2*time.Second), 200)

	// after the nonce lifetime the right answer gets stale=true
	e.Clock.Advance(6 * time.Minute)
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">", "Authorization: "+ua.Authorization(ch, "REGISTER", "sip:centrala")))
	r = ua.Recv(2 * time.Second)
	requireStatus(t, r, 401)
	if !strings.Contains(r.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("expired nonce not stale: %s", r)
	}
	if v := metricValue(t, e, "centrala_sip_auth_failures_total"); v != 0 {
		t.Fatalf("stale answers counted as failures: %v", v)
	}
}

func TestExpiresLimitsContactsAndRemoval(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts(),
		Registrar: registrar.Config{MinExpires: 60 * time.Second, MaxExpires: 3600 * time.Second, DefaultExpires: 1800 * time.Second}})
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "alice-secret")

	r := ua.Register("MD5", "Contact: <"+ua.Contact()+">", "Expires: 30")
	requireStatus(t, r, 423)
	if h := r.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
		t.Fatalf("423 Min-Expires: %v", h)
	}
	r = ua.Register("MD5", "Contact: <"+ua.Contact()+">;expires=99999")
	requireStatus(t, r, 200)
	if c := contacts(r); len(c) != 1 || !strings.HasSuffix(c[0], "expires=3600") {
		t.Fatalf("max expires not applied: %v", c)
	}
	r = ua.Register("MD5", "Contact: <sip:alice@127.0.0.1:5999>", "Contact: <sip:alice@127.0.0.1:5998>;expires=120, <sip:alice@127.0.0.1:5997>")
	requireStatus(t, r, 403) // 4 contacts, max 3: nothing changes
	r = ua.Register("MD5", "Contact: <sip:alice@127.0.0.1:5999>", "Contact: <sip:alice@127.0.0.1:5998>;expires=120")
	requireStatus(t, r, 200)
	got := strings.Join(contacts(r), "\n")
	for _, want := range []string{ua.Contact() + ">;expires=3600", "sip:alice@127.0.0.1:5999>;expires=1800", "sip:alice@127.0.0.1:5998>;expires=120"} {
		if !strings.Contains(got, want) {
			t.Fatalf("missing %s in\n%s", want, got)
		}
	}
	// a REGISTER without Contact lists the bindings and changes nothing
	r = ua.Register("SHA-256")
	requireStatus(t, r, 200)
	if len(contacts(r)) != 3 {
		t.Fatalf("listing: %v", contacts(r))
	}
	// * needs Expires: 0
	requireStatus(t, ua.Register("MD5", "Contact: *", "Expires: 10"), 400)
	r = ua.Register("MD5", "Contact: *", "Expires: 0")
	requireStatus(t, r, 200)
	if len(contacts(r)) != 0 {
		t.Fatalf("* left %v", contacts(r))
	}
	// another user's AOR cannot be registered with alice's credentials
	other := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "alice-secret")
	other.Send([]byte(strings.Replace(string(other.Request("REGISTER", "sip:centrala")), "To: <sip:alice@centrala>", "To: <sip:bob@centrala>", 1)))
	ch := other.Recv(2 * time.Second)
	requireStatus(t, ch, 401)
	req := strings.Replace(string(other.Request("REGISTER", "sip:centrala", "Authorization: "+other.Authorization(pbxtest.Challenge(ch, "MD5"), "REGISTER", "sip:centrala"))),
		"To: <sip:alice@centrala>", "To: <sip:bob@centrala>", 1)
	other.Send([]byte(req))
	requireStatus(t, other.Recv(2*time.Second), 403)
}

func TestBindingsExpireOnTimeAndAreEvents(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	sub := e.Bus.Subscribe(16, func(ev event.Event) bool { return strings.HasPrefix(ev.Type, "registration.") })
	defer sub.Close()
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "bob", "bob-secret")
	requireStatus(t, ua.Register("MD5", "Contact: <"+ua.Contact()+">", "Expires: 60"), 200)
	ev := <-sub.C
	if b, ok := ev.Data.(registrar.Binding); ev.Type != "registration.updated" || !ok || b.AOR != "bob" || b.Contact != ua.Contact() {
		t.Fatalf("event %+v", ev)
	}
	e.Clock.Advance(59 * time.Second)
	e.Registrar.ExpireNow(context.Background(), e.Clock.Now())
	if bs, _ := e.Registrar.Bindings(context.Background()); len(bs) != 1 {
		t.Fatalf("expired early: %v", bs)
	}
	e.Clock.Advance(2 * time.Second)
	e.Registrar.ExpireNow(context.Background(), e.Clock.Now())
	if bs, _ := e.Registrar.Bindings(context.Background()); len(bs) != 0 {
		t.Fatalf("not expired: %v", bs)
	}
	select {
	case ev := <-sub.C:
		if ev.Type != "registration.removed" || !strings.Contains(fmt.Sprintf("%+v", ev.Data), "expired") {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no expiry event")
	}
}

func TestBanAfterRepeatedFailures(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts(),
		Guard: digest.GuardConfig{MaxFailures: 5, Window: time.Minute, BanTime: time.Minute}})
	attacker := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "guess")
	for i := 0; i < 5; i++ {
		requireStatus(t, attacker.Register("MD5", "Contact: <"+attacker.Contact()+">"), 401)
	}
	attacker.Send(attacker.Request("OPTIONS", "sip:centrala"))
	if r := attacker.Recv(500 * time.Millisecond); r != nil {
		t.Fatalf("banned source answered: %d", r.StatusCode)
	}
	tcp := pbxtest.Dial(t, "tcp", e.TCPAddr(), "alice", "alice-secret")
	tcp.Send(tcp.Request("OPTIONS", "sip:centrala"))
	if r := tcp.Recv(500 * time.Millisecond); r != nil {
		t.Fatalf("banned source answered over tcp: %d", r.StatusCode)
	}
	if v := metricValue(t, e, "centrala_sip_source_bans_total"); v != 1 {
		t.Fatalf("bans counted %v", v)
	}
	e.Clock.Advance(61 * time.Second)
	attacker.Send(attacker.Request("OPTIONS", "sip:centrala"))
	requireStatus(t, attacker.Recv(2*time.Second), 200)
}

func TestOptionsUnknownMethodRequireAndServerHeader(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "x")
	ua.Send(ua.Request("OPTIONS", "sip:centrala"))
	r := ua.Recv(2 * time.Second)
	requireStatus(t, r, 200)
	for _, h := range []string{"Allow", "Accept", "Server"} {
		if r.GetHeader(h) == nil {
			t.Fatalf("OPTIONS 200 lacks %s:\n%s", h, r)
		}
	}
	if s := r.GetHeader("Server").Value(); regexp.MustCompile(`\d`).MatchString(s) {
		t.Fatalf("Server header reveals a version: %q", s)
	}
	via := r.Via()
	if v, _ := via.Params.Get("rport"); v == "" {
		t.Fatalf("rport not filled: %s", via)
	}
	if v, _ := via.Params.Get("received"); v != "127.0.0.1" {
		t.Fatalf("received %q", v)
	}
	ua.Send(ua.Request("FOOBAR", "sip:centrala"))
	r = ua.Recv(2 * time.Second)
	requireStatus(t, r, 501)
	if r.GetHeader("Allow") == nil {
		t.Fatal("501 without Allow")
	}
	ua.Send(ua.Request("OPTIONS", "sip:centrala", "Require: nothing-we-know, 100rel"))
	r = ua.Recv(2 * time.Second)
	requireStatus(t, r, 420)
	if h := r.GetHeader("Unsupported"); h == nil || h.Value() != "nothing-we-know, 100rel" {
		t.Fatalf("Unsupported: %v", h)
	}
	ua.Send(ua.Request("INVITE", "sip:100@centrala"))
	r = ua.Recv(2 * time.Second)
	if r != nil && r.StatusCode == 100 {
		r = ua.Recv(2 * time.Second)
	}
	requireStatus(t, r, 407)
	if len(r.GetHeaders("Proxy-Authenticate")) != 2 {
		t.Fatalf("407 challenges: %s", r)
	}
}

func TestOversizedMessageRefused(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "x")
	big := ua.Request("OPTIONS", "sip:centrala", "X-Padding: "+strings.Repeat("a", 20000))
	ua.Send(big)
	if r := ua.Recv(time.Second); r != nil && r.StatusCode != 513 {
		t.Fatalf("oversized message answered %d", r.StatusCode)
	}
	tcp := pbxtest.Dial(t, "tcp", e.TCPAddr(), "alice", "x")
	tcp.Send(tcp.Request("OPTIONS", "sip:centrala", "X-Padding: "+strings.Repeat("a", 70000)))
	if r := tcp.Recv(time.Second); r != nil && r.StatusCode != 513 {
		t.Fatalf("oversized stream message answered %d", r.StatusCode)
	}
	ua.Send(ua.Request("OPTIONS", "sip:centrala"))
	requireStatus(t, ua.Recv(2*time.Second), 200)
	if v := metricValue(t, e, "centrala_sip_dropped_total"); v < 2 {
		t.Fatalf("oversized messages not counted: %v", v)
	}
}

func TestSHA256OnlyConfiguration(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts(),
		Registrar: registrar.Config{Algorithms: []string{"SHA-256"}}})
	ua := pbxtest.Dial(t, "udp", e.UDPAddr(), "alice", "alice-secret")
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">"))
	ch := ua.Recv(2 * time.Second)
	requireStatus(t, ch, 401)
	if www := ch.GetHeaders("WWW-Authenticate"); len(www) != 1 || !strings.Contains(www[0].Value(), "algorithm=SHA-256") {
		t.Fatalf("challenges %v", www)
	}
	requireStatus(t, ua.Register("SHA-256", "Contact: <"+ua.Contact()+">"), 200)
}
