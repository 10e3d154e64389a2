package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Vectors from RFC 2617 section 3.5 (MD5) and RFC 7616 section 3.9.1 (SHA-256).
func TestExpectedResponseRFCVectors(t *testing.T) {
	for _, tc := range []struct {
		name, realm, password, nonce, cnonce, want string
		alg                                        Algorithm
	}{
		{"rfc2617 md5", "testrealm@host.com", "Circle Of Life", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b",
			"6629fae49393a05397450978507c4ef1", MD5},
		{"rfc7616 sha-256", "http-auth@example.org", "Circle of Life", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Credentials{Username: "Mufasa", Realm: tc.realm, Nonce: tc.nonce, URI: "/dir/index.html",
				QOP: "auth", NC: "00000001", CNonce: tc.cnonce, Algorithm: tc.alg}
			got := expectedResponse(tc.alg, HA1(tc.alg, "Mufasa", tc.realm, tc.password), c, "GET")
			if got != tc.want {
				t.Fatalf("response %s, want %s", got, tc.want)
			}
		})
	}
}

var nonceRe = regexp.MustCompile(`nonce="([^"]+)"`)

// answer computes a client's response with the standard library only, as a phone would.
func answer(alg Algorithm, challenge, user, pass, method, uri, nc, cnonce string) Credentials {
	h := func(s string) string {
		if alg == SHA256 {
			s := sha256.Sum256([]byte(s))
			return hex.EncodeToString(s[:])
		}
		s5 := md5.Sum([]byte(s))
		return hex.EncodeToString(s5[:])
	}
	nonce := nonceRe.FindStringSubmatch(challenge)[1]
	ha1 := h(user + ":centrala:" + pass)
	resp := h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + h(method+":"+uri))
	return Credentials{Username: user, Realm: "centrala", Nonce: nonce, URI: uri, Response: resp,
		Algorithm: alg, CNonce: cnonce, QOP: "auth", NC: nc}
}

func TestVerifierFlow(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	v := NewVerifier("centrala", []byte("0123456789abcdef0123456789abcdef"), 5*time.Minute, []Algorithm{SHA256, MD5})
	stored := map[Algorithm]string{MD5: HA1(MD5, "alice", "centrala", "s3cret-pass"), SHA256: HA1(SHA256, "alice", "centrala", "s3cret-pass")}
	ch := v.Challenges(now, false)
	if want := `Digest realm="centrala", nonce="`; ch[0][:len(want)] != want || !regexp.MustCompile(`algorithm=SHA-256, qop="auth"$`).MatchString(ch[0]) ||
		!regexp.MustCompile(`algorithm=MD5, qop="auth"$`).MatchString(ch[1]) {
		t.Fatalf("challenges: %q", ch)
	}
	for i, alg := range []Algorithm{SHA256, MD5} {
		t.Run(string(alg), func(t *testing.T) {
			ch := v.Challenges(now, false) // one nonce per client
			c := answer(alg, ch[i], "alice", "s3cret-pass", "REGISTER", "sip:centrala", "00000001", "abc")
			if got := v.Check(c, "REGISTER", stored[alg], now); got != OK {
				t.Fatalf("right answer: %v", got)
			}
			if got := v.Check(c, "REGISTER", stored[alg], now); got != Stale {
				t.Fatalf("replayed nc: %v, want stale", got)
			}
			c2 := answer(alg, ch[i], "alice", "s3cret-pass", "REGISTER", "sip:centrala", "00000002", "abd")
			if got := v.Check(c2, "REGISTER", stored[alg], now.Add(time.Minute)); got != OK {
				t.Fatalf("next nc: %v", got)
			}
			c3 := answer(alg, ch[i], "alice", "s3cret-pass", "REGISTER", "sip:centrala", "00000003", "abe")
			if got := v.Check(c3, "REGISTER", stored[alg], now.Add(6*time.Minute)); got != Stale {
				t.Fatalf("expired nonce: %v, want stale", got)
			}
			wrong := answer(alg, ch[i], "alice", "wrong-pass", "REGISTER", "sip:centrala", "00000004", "abf")
			if got := v.Check(wrong, "REGISTER", stored[alg], now.Add(6*time.Minute)); got != Failed {
				t.Fatalf("wrong password on an expired nonce: %v, want failed (never stale)", got)
			}
		})
	}
	fresh := v.Challenges(now, false)
	for _, tc := range []struct {
		name string
		mod  func(*Credentials)
		ha1  string
	}{
		{"unknown user", func(c *Credentials) {}, ""},
		{"wrong method", func(c *Credentials) {}, "method"},
		{"other realm", func(c *Credentials) { c.Realm = "evil" }, ""},
		{"unsupported algorithm", func(c *Credentials) { c.Algorithm = "MD5-sess" }, ""},
		{"bad nc", func(c *Credentials) { c.NC = "zz" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := answer(MD5, fresh[1], "alice", "s3cret-pass", "REGISTER", "sip:centrala", "00000001", "x")
			tc.mod(&c)
			ha1, method := stored[MD5], "REGISTER"
			switch tc.ha1 {
			case "":
				if tc.name == "unknown user" {
					ha1 = ""
				}
			case "method":
				method = "INVITE"
			}
			if got := v.Check(c, method, ha1, now); got != Failed {
				t.Fatalf("got %v, want failed", got)
			}
		})
	}
}

func TestStaleOnlyAfterRightAnswer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier("centrala", []byte("k-k-k-k-k-k-k-k-k-k-k-k"), time.Minute, nil)
	ch := v.Challenges(now, true)
	if !regexp.MustCompile(`stale=true$`).MatchString(ch[0]) {
		t.Fatalf("stale challenge lacks stale=true: %s", ch[0])
	}
	other := NewVerifier("centrala", []byte("another key entirely...."), time.Minute, nil)
	shared := NewVerifier("centrala", []byte("k-k-k-k-k-k-k-k-k-k-k-k"), time.Minute, nil)
	c := answer(MD5, ch[0], "bob", "pw-pw-pw-pw", "REGISTER", "sip:centrala", "00000001", "c")
	if got := other.Check(c, "REGISTER", HA1(MD5, "bob", "centrala", "pw-pw-pw-pw"), now); got != Stale {
		t.Fatalf("right answer on a nonce of another key: %v, want stale (new challenge, no failure)", got)
	}
	forged := c
	forged.Nonce = c.Nonce[:20] + flip(c.Nonce[20]) + c.Nonce[21:]
	if got := shared.Check(forged, "REGISTER", HA1(MD5, "bob", "centrala", "pw-pw-pw-pw"), now); got != Failed {
		t.Fatalf("altered nonce: %v, want failed (the response no longer matches)", got)
	}
	if got := shared.Check(c, "REGISTER", HA1(MD5, "bob", "centrala", "pw-pw-pw-pw"), now); got != OK {
		t.Fatalf("nonce of a node sharing the key: %v", got)
	}
}

func TestParseCredentials(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Credentials
		err  error
	}{
		{`Digest username="alice", realm="centrala", nonce="n1", uri="sip:centrala", response="r", algorithm=SHA-256, cnonce="c", qop=auth, nc=00000001`,
			Credentials{Username: "alice", Realm: "centrala", Nonce: "n1", URI: "sip:centrala", Response: "r", Algorithm: SHA256, CNonce: "c", QOP: "auth", NC: "00000001"}, nil},
		{"digest   username = \"a\\\"b\" ,realm=\"r\",\r\n nonce=\"n\",response=\"x\"",
			Credentials{Username: `a"b`, Realm: "r", Nonce: "n", Response: "x", Algorithm: MD5}, nil},
		{`Basic YWxhZGRpbjpvcGVuc2VzYW1l`, Credentials{}, ErrScheme},
		{`NewAuth realm="x"`, Credentials{}, ErrScheme},
		{`Digest`, Credentials{}, ErrMalformed},
		{`Digest username="unterminated`, Credentials{}, ErrMalformed},
		{`Digest username="a" realm="r"`, Credentials{}, ErrMalformed},
		{`Digest realm="r", nonce="n", response="x"`, Credentials{}, ErrMalformed},
		{`Digest =x`, Credentials{}, ErrMalformed},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCredentials(tc.in)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="alice", realm="centrala", nonce="n1", uri="sip:c", response="r", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="a\"b", nonce=n, response=x`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err == nil && (c.Username == "" || c.Nonce == "" || c.Response == "") {
			t.Fatalf("accepted without required fields: %q", s)
		}
	})
}

func TestGuardBansAfterMaxFailures(t *testing.T) {
	g, err := NewGuard(GuardConfig{MaxFailures: 3, Window: time.Minute, BanTime: 5 * time.Minute, Allow: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.9")
	now := time.Unix(1_800_000_000, 0)
	g.Fail(ip, now)
	g.Fail(ip, now.Add(61*time.Second)) // first one left the window
	if g.Fail(ip, now.Add(62*time.Second)) || g.Banned(ip, now.Add(62*time.Second)) {
		t.Fatal("banned with 2 failures in the window")
	}
	if !g.Fail(ip, now.Add(63*time.Second)) || !g.Banned(ip, now.Add(64*time.Second)) {
		t.Fatal("not banned at the third failure in the window")
	}
	if g.BannedCount(now.Add(64*time.Second)) != 1 {
		t.Fatal("banned count")
	}
	if g.Banned(ip, now.Add(63*time.Second+5*time.Minute)) {
		t.Fatal("ban outlived its time")
	}
	for i := 0; i < 10; i++ {
		g.Fail(netip.MustParseAddr("10.1.2.3"), now)
	}
	if g.Banned(netip.MustParseAddr("10.1.2.3"), now) {
		t.Fatal("allow-listed source banned")
	}
	g.Sweep(now.Add(time.Hour))
	if n := len(g.srcs); n != 0 {
		t.Fatalf("sweep kept %d sources", n)
	}
	if _, err := NewGuard(GuardConfig{Allow: []string{"nonsense"}}); err == nil {
		t.Fatal("bad allow entry accepted")
	}
}

func BenchmarkCheck(b *testing.B) {
	now := time.Now()
	v := NewVerifier("centrala", []byte("0123456789abcdef"), time.Hour, nil)
	ha1 := HA1(MD5, "alice", "centrala", "pw")
	chs := make([]Credentials, b.N)
	for i := range chs {
		chs[i] = answer(MD5, v.Challenges(now, false)[0], "alice", "pw", "REGISTER", "sip:centrala", "00000001", fmt.Sprint(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v.Check(chs[i], "REGISTER", ha1, now) != OK {
			b.Fatal("not ok")
		}
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestOnlyOfferedAlgorithmsAccepted(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier("centrala", []byte("0123456789abcdef"), time.Minute, []Algorithm{SHA256})
	ch := v.Challenges(now, false)
	if len(ch) != 1 || !regexp.MustCompile(`algorithm=SHA-256`).MatchString(ch[0]) {
		t.Fatalf("challenges %q", ch)
	}
	md5 := answer(MD5, ch[0], "al", "pw", "REGISTER", "sip:centrala", "00000001", "c")
	if got := v.Check(md5, "REGISTER", HA1(MD5, "al", "centrala", "pw"), now); got != Failed {
		t.Fatalf("MD5 answer when only SHA-256 is offered: %v", got)
	}
	if def := NewVerifier("centrala", []byte("0123456789abcdef"), time.Minute, nil).Challenges(now, false); len(def) != 2 ||
		!regexp.MustCompile(`algorithm=MD5`).MatchString(def[0]) {
		t.Fatalf("default order %q, want MD5 first", def)
	}
	for in, want := range map[string]Algorithm{"md5": MD5, "SHA-256": SHA256, "sha-256": SHA256} {
		if a, err := ParseAlgorithm(in); err != nil || a != want {
			t.Fatalf("ParseAlgorithm(%q) = %v, %v", in, a, err)
		}
	}
	if _, err := ParseAlgorithm("SHA-512-256"); err == nil {
		t.Fatal("unsupported algorithm parsed")
	}
}

// The client side answers what the server side accepts, and matches RFC 2617's example.
func TestClientAnswer(t *testing.T) {
	c, err := ParseChallenge(`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if err != nil || !c.Supported() || c.Algorithm != MD5 || len(c.QOP) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	got := c.Answer("Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b")
	if !strings.Contains(got, `response="6629fae49393a05397450978507c4ef1"`) || !strings.Contains(got, `opaque="5ccc069c403ebaf9f0171e9517f40e41"`) {
		t.Fatalf("answer %s", got)
	}
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier("centrala", []byte("0123456789abcdef"), time.Minute, []Algorithm{SHA256, MD5})
	for i, ch := range v.Challenges(now, false) { // one nonce for both: the next count each time
		c, err := ParseChallenge(ch)
		if err != nil {
			t.Fatal(err)
		}
		creds, err := ParseCredentials(c.Answer("al", "pw", "REGISTER", "sip:centrala", uint32(i+1), NewCNonce()))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Check(creds, "REGISTER", HA1(c.Algorithm, "al", "centrala", "pw"), now); got != OK {
			t.Fatalf("%s answer: %v", c.Algorithm, got)
		}
	}
	for _, bad := range []string{`Basic realm="x"`, `Digest realm="x"`, `Digest nonce="n", algorithm=SHA-512-256`, `Digest nonce="n", qop="auth-int"`} {
		c, err := ParseChallenge(bad)
		if err == nil && c.Supported() {
			t.Fatalf("%q accepted", bad)
		}
	}
}
