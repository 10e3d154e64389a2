package pbxtest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// UA is a minimal SIP user agent for tests: it writes requests as text over a real UDP or TCP
// socket and parses what comes back with sipgo's parser. Digest answers are computed here
// with the standard library only, independently of pbx/digest.
type UA struct {
	t       testing.TB
	Network string // udp or tcp
	conn    net.Conn
	Local   string // ip:port of our socket
	stream  *sip.ParserStream
	pending []*sip.Response
	User    string
	Pass    string
	Realm   string
	CallID  string
	CSeq    int
	FromTag string
	NC      int
}

// Dial connects a UA to addr over network (udp or tcp); it is closed at the test's end.
func Dial(t testing.TB, network, addr, user, pass string) *UA {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	u := &UA{t: t, Network: network, conn: conn, Local: conn.LocalAddr().String(), User: user, Pass: pass,
		Realm: "centrala", CallID: Rand() + "@test", FromTag: Rand(), CSeq: 1}
	if network == "tcp" {
		u.stream = sip.NewParser().NewSIPStream()
	}
	return u
}

// Rand returns a random token.
func Rand() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Send writes raw bytes.
func (u *UA) Send(b []byte) {
	u.t.Helper()
	if _, err := u.conn.Write(b); err != nil {
		u.t.Fatalf("send: %v", err)
	}
}

// Recv waits for the next response; nil after timeout.
func (u *UA) Recv(timeout time.Duration) *sip.Response {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65535)
	for {
		if len(u.pending) > 0 {
			r := u.pending[0]
			u.pending = u.pending[1:]
			return r
		}
		_ = u.conn.SetReadDeadline(deadline)
		n, err := u.conn.Read(buf)
		if err != nil {
			return nil
		}
		if u.stream == nil {
			msg, err := sip.NewParser().ParseSIP(buf[:n])
			if err != nil {
				u.t.Fatalf("unparsable answer: %v\n%s", err, buf[:n])
			}
			if r, ok := msg.(*sip.Response); ok {
				return r
			}
			continue
		}
		err = u.stream.ParseSIPStream(buf[:n], func(m sip.Message) {
			if r, ok := m.(*sip.Response); ok {
				u.pending = append(u.pending, r)
			}
		})
		if err != nil && err != sip.ErrParseSipPartial {
			u.t.Fatalf("unparsable answer on stream: %v", err)
		}
	}
}

// Request builds a request from this UA with the given method, Request-URI and extra
// header lines, a new branch and the UA's Call-ID, tags and next CSeq.
func (u *UA) Request(method, ruri string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", strings.ToUpper(u.Network), u.Local, Rand())
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n", u.User, u.Realm, u.FromTag, u.User, u.Realm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", u.CallID, u.CSeq, method)
	u.CSeq++
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("User-Agent: pbxtest\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// Contact is the UA's own contact URI.
func (u *UA) Contact() string {
	return fmt.Sprintf("sip:%s@%s;transport=%s", u.User, u.Local, u.Network)
}

var challengeRe = regexp.MustCompile(`nonce="([^"]+)"`)

// Authorization answers a challenge value (WWW- or Proxy-Authenticate) for method and uri.
func (u *UA) Authorization(challenge, method, uri string) string {
	u.NC++
	nonce := challengeRe.FindStringSubmatch(challenge)
	if nonce == nil {
		u.t.Fatalf("challenge without nonce: %s", challenge)
	}
	alg := "MD5"
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	if strings.Contains(challenge, "algorithm=SHA-256") {
		alg = "SHA-256"
		h = func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
	}
	nc := fmt.Sprintf("%08x", u.NC)
	cnonce := Rand()
	ha1 := h(u.User + ":" + u.Realm + ":" + u.Pass)
	resp := h(ha1 + ":" + nonce[1] + ":" + nc + ":" + cnonce + ":auth:" + h(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s`,
		u.User, u.Realm, nonce[1], uri, resp, alg, cnonce, nc)
}

// Challenge returns the value of the response's WWW-Authenticate (or Proxy-Authenticate)
// header for algorithm alg ("MD5" or "SHA-256").
func Challenge(r *sip.Response, alg string) string {
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range r.GetHeaders(name) {
			if strings.Contains(h.Value(), "algorithm="+alg+",") || strings.HasSuffix(h.Value(), "algorithm="+alg) {
				return h.Value()
			}
		}
	}
	return ""
}

// Register sends a REGISTER with the given extra headers, answers the 401 with alg and
// returns the final response (nil on timeout).
func (u *UA) Register(alg string, headers ...string) *sip.Response {
	u.t.Helper()
	ruri := "sip:" + u.Realm
	u.Send(u.Request("REGISTER", ruri, headers...))
	r := u.Recv(3 * time.Second)
	if r == nil || r.StatusCode != 401 {
		return r
	}
	ch := Challenge(r, alg)
	if ch == "" {
		u.t.Fatalf("401 has no %s challenge:\n%s", alg, r)
	}
	u.Send(u.Request("REGISTER", ruri, append(headers, "Authorization: "+u.Authorization(ch, "REGISTER", ruri))...))
	return u.Recv(3 * time.Second)
}

// SetT attaches a test to a UA built without Dial (to compute answers only).
func (u *UA) SetT(t testing.TB) { u.t = t }
