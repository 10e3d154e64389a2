package digest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Challenge is one Digest challenge received by a client (WWW-Authenticate or
// Proxy-Authenticate), for Centrala's own requests: REGISTER to a provider's trunk.
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm Algorithm // MD5 when absent
	QOP       []string  // offered qop values
	Stale     bool
}

// ParseChallenge parses a challenge value; ErrScheme for another scheme.
func ParseChallenge(v string) (Challenge, error) {
	var c Challenge
	v = strings.TrimLeft(v, " \t")
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "digest") {
		return c, ErrScheme
	}
	params, err := ParseParams(rest)
	if err != nil {
		return c, err
	}
	for _, p := range params {
		switch strings.ToLower(p.Name) {
		case "realm":
			c.Realm = p.Value
		case "nonce":
			c.Nonce = p.Value
		case "opaque":
			c.Opaque = p.Value
		case "algorithm":
			c.Algorithm = Algorithm(strings.ToUpper(p.Value))
		case "qop":
			for _, q := range strings.Split(p.Value, ",") {
				c.QOP = append(c.QOP, strings.TrimSpace(q))
			}
		case "stale":
			c.Stale = strings.EqualFold(p.Value, "true")
		}
	}
	if c.Nonce == "" {
		return c, ErrMalformed
	}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	return c, nil
}

// Supported reports whether Answer can answer c: MD5 or SHA-256, with qop auth or none.
func (c Challenge) Supported() bool {
	if c.Algorithm != MD5 && c.Algorithm != SHA256 {
		return false
	}
	if len(c.QOP) == 0 {
		return true
	}
	for _, q := range c.QOP {
		if strings.EqualFold(q, "auth") {
			return true
		}
	}
	return false
}

func (c Challenge) qopAuth() bool { return len(c.QOP) > 0 }

// Answer returns the Authorization (or Proxy-Authorization) value answering c for a request
// with method and uri, as nonce-count nc with client nonce cnonce (NewCNonce).
func (c Challenge) Answer(username, password, method, uri string, nc uint32, cnonce string) string {
	ha1 := HA1(c.Algorithm, username, c.Realm, password)
	ha2 := hexHash(c.Algorithm, method, ":", uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, quote(username), quote(c.Realm), quote(c.Nonce), quote(uri))
	if c.qopAuth() {
		ncs := fmt.Sprintf("%08x", nc)
		fmt.Fprintf(&b, `, response="%s", cnonce="%s", qop=auth, nc=%s`,
			hexHash(c.Algorithm, ha1, ":", c.Nonce, ":", ncs, ":", cnonce, ":auth:", ha2), cnonce, ncs)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, hexHash(c.Algorithm, ha1, ":", c.Nonce, ":", ha2))
	}
	fmt.Fprintf(&b, `, algorithm=%s`, c.Algorithm)
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, quote(c.Opaque))
	}
	return b.String()
}

// FirstSupported returns the first of the challenge header values (WWW-Authenticate or
// Proxy-Authenticate) whose algorithm and qop we can answer.
func FirstSupported(values ...string) (Challenge, bool) {
	for _, v := range values {
		if c, err := ParseChallenge(v); err == nil && c.Supported() {
			return c, true
		}
	}
	return Challenge{}, false
}

// NewCNonce returns a random client nonce.
func NewCNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func quote(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
