package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/pbxtest"
)

func TestFirstStartPrintsAdminOnce(t *testing.T) {
	dir := t.TempDir()
	s := start(t, map[string]string{"CENTRALA_ADMIN_TOKEN": "", "CENTRALA_DATA_DIR": dir})
	out := s.Stdout()
	m := regexp.MustCompile(`admin user "admin" with password (\S+)`).FindStringSubmatch(out)
	if m == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("first start did not print the admin credentials once:\n%s", out)
	}
	if strings.Contains(s.Stderr(), m[1]) {
		t.Fatal("the admin password reached the log")
	}
	var login struct{ Token string }
	if code := s.api("POST", "/api/v1/auth/login", map[string]string{"login": "admin", "password": m[1]}, &login, ""); code != 200 || login.Token == "" {
		t.Fatalf("login with printed credentials: %d", code)
	}
	if code := s.api("GET", "/api/v1/users", nil, nil, login.Token); code != 200 {
		t.Fatalf("admin token from login: %d", code)
	}
	var cdrs []map[string]any
	if code := s.api("GET", "/api/v1/cdrs", nil, &cdrs, login.Token); code != 200 || cdrs == nil || len(cdrs) != 0 {
		t.Fatalf("cdrs on a new server: %d %v", code, cdrs)
	}
	if _, err := os.Stat(filepath.Join(dir, "centrala.db")); err != nil {
		t.Fatalf("no SQLite database in the data dir: %v", err)
	}
	s.stop()
	again := start(t, map[string]string{"CENTRALA_ADMIN_TOKEN": "", "CENTRALA_DATA_DIR": dir})
	if strings.Contains(again.Stdout(), "password") {
		t.Fatalf("second start printed credentials again:\n%s", again.Stdout())
	}
	again.stop()
}

func TestAccountFromAPIRegisters(t *testing.T) {
	s := start(t, nil)
	uid := s.account("101", "alice101", "alice-secret-1")
	for _, network := range []string{"udp", "tcp"} {
		ua := pbxtest.Dial(t, network, s.SIP, "alice101", "alice-secret-1")
		r := ua.Register("SHA-256", "Contact: <"+ua.Contact()+">", "Expires: 300")
		if r == nil || r.StatusCode != 200 {
			t.Fatalf("%s register: %v", network, r)
		}
	}
	bs := s.registrations()
	if len(bs) != 2 {
		t.Fatalf("registrations: %+v", bs)
	}
	for _, b := range bs {
		if b.Username != "alice101" || !strings.HasPrefix(b.Contact, "sip:alice101@127.0.0.1:") || b.Source == "" ||
			(b.Transport != "udp" && b.Transport != "tcp") || b.ExpiresAt.Before(time.Now().Add(290*time.Second)) || b.UserAgent != "pbxtest" {
			t.Fatalf("binding %+v", b)
		}
	}
	// wrong password and unknown user look the same from outside
	wrong := pbxtest.Dial(t, "udp", s.SIP, "alice101", "nope-nope")
	unknown := pbxtest.Dial(t, "udp", s.SIP, "nobody", "nope-nope")
	r1, r2 := wrong.Register("MD5", "Contact: <"+wrong.Contact()+">"), unknown.Register("MD5", "Contact: <"+unknown.Contact()+">")
	if r1 == nil || r2 == nil || r1.StatusCode != 401 || r2.StatusCode != 401 || r1.Reason != r2.Reason ||
		len(r1.GetHeaders("WWW-Authenticate")) != len(r2.GetHeaders("WWW-Authenticate")) {
		t.Fatalf("wrong password %v / unknown user %v", r1, r2)
	}

	// an agent's own token cannot manage users
	var login struct{ Token string }
	if code := s.api("POST", "/api/v1/auth/login", map[string]string{"login": "user101", "password": "user-password-101"}, &login, ""); code != 200 {
		t.Fatalf("agent login: %d", code)
	}
	if code := s.api("POST", "/api/v1/users", map[string]any{"login": "x", "password": "xxxxxxxxxx", "role": "admin",
		"first_name": "X", "last_name": "Y", "extension": "999"}, nil, login.Token); code != 403 {
		t.Fatalf("agent creating a user: %d, want 403", code)
	}
	if code := s.api("POST", "/api/v1/users", map[string]any{"login": "dup", "password": "dup-password", "role": "agent",
		"first_name": "D", "last_name": "U", "extension": "101"}, nil); code != 409 {
		t.Fatalf("duplicate extension: %d, want 409", code)
	}

	// archiving removes the bindings and the phone can no longer register
	if code := s.api("POST", fmt.Sprintf("/api/v1/users/%d/archive", uid), nil, nil); code != 200 {
		t.Fatalf("archive: %d", code)
	}
	if bs := s.registrations(); len(bs) != 0 {
		t.Fatalf("archived user still registered: %+v", bs)
	}
	ua := pbxtest.Dial(t, "udp", s.SIP, "alice101", "alice-secret-1")
	if r := ua.Register("MD5", "Contact: <"+ua.Contact()+">"); r == nil || r.StatusCode != 403 {
		t.Fatalf("archived account registering: %v", r)
	}
	var metrics string
	func() {
		res, err := httpGet(s.HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics = res
	}()
	for _, want := range []string{`centrala_register_requests_total{outcome="ok"}`, `centrala_sip_auth_failures_total 2`,
		`centrala_sip_requests_total{method="REGISTER",transport="udp"}`, `centrala_sip_responses_total{code="401",method="REGISTER"}`,
		`centrala_registrations{transport="udp"}`, `centrala_sip_blocked_sources`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	s.stop()
}

func TestTLSTransport(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := start(t, map[string]string{"CENTRALA_SIP_TLS_ADDR": tlsAddr, "CENTRALA_TLS_CERT": cert, "CENTRALA_TLS_KEY": key})
	s.account("102", "bob102", "bob-secret-12")

	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake accepted")
	}
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2+ handshake: %v", err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	send := func(extra ...string) *sip.Response {
		msg := "REGISTER sip:centrala SIP/2.0\r\nVia: SIP/2.0/TLS " + local + ";branch=z9hG4bK" + pbxtest.Rand() + ";rport\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:bob102@centrala>;tag=t1\r\nTo: <sip:bob102@centrala>\r\nCall-ID: tls-" + local + "\r\n" +
			"CSeq: " + fmt.Sprint(len(extra)+1) + " REGISTER\r\nContact: <sip:bob102@" + local + ";transport=tls>\r\n"
		for _, h := range extra {
			msg += h + "\r\n"
		}
		msg += "Content-Length: 0\r\n\r\n"
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		var got *sip.Response
		st := sip.NewParser().NewSIPStream()
		buf := make([]byte, 8192)
		for got == nil {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("read over tls: %v", err)
			}
			_ = st.ParseSIPStream(buf[:n], func(m sip.Message) { got, _ = m.(*sip.Response) })
		}
		return got
	}
	ch := send()
	if ch.StatusCode != 401 {
		t.Fatalf("TLS REGISTER: %d", ch.StatusCode)
	}
	ua := &pbxtest.UA{User: "bob102", Pass: "bob-secret-12", Realm: "centrala"}
	ua.SetT(t)
	auth := ua.Authorization(pbxtest.Challenge(ch, "SHA-256"), "REGISTER", "sip:centrala")
	if r := send("Authorization: " + auth); r.StatusCode != 200 {
		t.Fatalf("TLS REGISTER with credentials: %d %s", r.StatusCode, r.Reason)
	}
	bs := s.registrations()
	if len(bs) != 1 || bs[0].Transport != "tls" {
		t.Fatalf("tls binding: %+v", bs)
	}
	s.stop()
}

func TestRedisSharedBetweenProcesses(t *testing.T) {
	redis := pbxtest.StartRedis(t)
	a := start(t, map[string]string{"CENTRALA_REDIS_URL": redis.URL})
	b := start(t, map[string]string{"CENTRALA_REDIS_URL": redis.URL})
	// each process has its own SQLite here; the same account is provisioned on both
	a.account("103", "carol103", "carol-secret-3")
	b.account("103", "carol103", "carol-secret-3")

	ua := pbxtest.Dial(t, "udp", a.SIP, "carol103", "carol-secret-3")
	ua.Send(ua.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">"))
	ch := ua.Recv(3 * time.Second)
	if ch == nil || ch.StatusCode != 401 {
		t.Fatalf("challenge from A: %v", ch)
	}
	// answer A's challenge to B: the nonce key is shared through Redis
	toB := pbxtest.Dial(t, "udp", b.SIP, "carol103", "carol-secret-3")
	toB.CallID, toB.CSeq, toB.FromTag = ua.CallID, ua.CSeq, ua.FromTag
	toB.Send(toB.Request("REGISTER", "sip:centrala", "Contact: <"+ua.Contact()+">",
		"Authorization: "+toB.Authorization(pbxtest.Challenge(ch, "MD5"), "REGISTER", "sip:centrala")))
	if r := toB.Recv(3 * time.Second); r == nil || r.StatusCode != 200 {
		t.Fatalf("B accepting A's nonce: %v", r)
	}
	if bs := a.registrations(); len(bs) != 1 || bs[0].Username != "carol103" {
		t.Fatalf("A does not see the registration made through B: %+v", bs)
	}
	if r := ua.Register("MD5", "Contact: *", "Expires: 0"); r == nil || r.StatusCode != 200 {
		t.Fatalf("unregister through A: %v", r)
	}
	if bs := b.registrations(); len(bs) != 0 {
		t.Fatalf("B still sees %+v", bs)
	}
	a.stop()
	b.stop()
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "centrala.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}
