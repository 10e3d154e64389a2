package digest

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome of checking credentials.
type Outcome int

const (
	// Failed: wrong password, unknown user, forged nonce, wrong realm or malformed answer.
	// Counts towards a ban.
	Failed Outcome = iota
	// OK: the credentials are right and fresh.
	OK
	// Stale: the credentials are right but the nonce expired or its count was reused; the
	// client gets a new challenge with stale=true and does not count as failing.
	Stale
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Stale:
		return "stale"
	}
	return "failed"
}

// Verifier issues challenges and checks answers for one realm.
type Verifier struct {
	realm  string
	algs   []Algorithm
	ttl    time.Duration
	nonces *nonces
	replay *replay
}

// DefaultAlgorithms is the default challenge order. MD5 comes first for clients that take
// the topmost challenge without checking its algorithm instead of the topmost one they
// support (RFC 8760 section 2.4); put SHA-256 first where every phone handles the list.
// Some clients fail on any SHA-256 challenge at all (baresip 1.0's libre): they need MD5 only.
var DefaultAlgorithms = []Algorithm{MD5, SHA256}

// NewVerifier returns a verifier for realm whose nonces live ttl and are signed with key
// (at least 16 random bytes; the same key on every node that must accept another's nonces).
// algs lists the algorithms to challenge with, in order of preference (nil: DefaultAlgorithms);
// answers in other algorithms fail.
func NewVerifier(realm string, key []byte, ttl time.Duration, algs []Algorithm) *Verifier {
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	return &Verifier{realm: realm, algs: algs, ttl: ttl, nonces: newNonces(key), replay: newReplay()}
}

// ParseAlgorithm accepts MD5 and SHA-256 (any case).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch {
	case strings.EqualFold(s, string(MD5)):
		return MD5, nil
	case strings.EqualFold(s, string(SHA256)):
		return SHA256, nil
	}
	return "", fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", s)
}

// Realm is the realm challenges name.
func (v *Verifier) Realm() string { return v.realm }

// Challenges returns the WWW-Authenticate (or Proxy-Authenticate) values to send, one per
// algorithm in order of preference, sharing one fresh nonce.
func (v *Verifier) Challenges(now time.Time, stale bool) []string {
	nonce := v.nonces.issue(now)
	staleParam := ""
	if stale {
		staleParam = ", stale=true"
	}
	out := make([]string, len(v.algs))
	for i, a := range v.algs {
		out[i] = `Digest realm="` + v.realm + `", nonce="` + nonce + `", algorithm=` + string(a) + `, qop="auth"` + staleParam
	}
	return out
}

// Check verifies credentials for a request with the given method. ha1 is the stored hash
// for c.Algorithm, or "" when the user is unknown: the same work is done either way, so the
// answer and its timing do not tell whether the user exists.
func (v *Verifier) Check(c Credentials, method, ha1 string, now time.Time) Outcome {
	alg := c.Algorithm
	if !slices.Contains(v.algs, alg) {
		return Failed
	}
	key, issued, signed := v.nonces.check(c.Nonce)
	var nc uint64
	var ncOK bool
	switch c.QOP {
	case "auth":
		n, err := strconv.ParseUint(c.NC, 16, 32)
		ncOK = err == nil && len(c.NC) == 8 && n > 0 && c.CNonce != ""
		nc = n
	case "":
		ncOK, nc = true, 1 // RFC 2069 style answer: the nonce is good for one use
	}
	if ha1 == "" {
		ha1 = dummyHA1(alg)
	}
	want := expectedResponse(alg, ha1, c, method)
	right := subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) == 1
	switch {
	case !right || !ncOK || c.Realm != v.realm || ha1 == dummyHA1(alg):
		return Failed
	case !signed:
		// The password is right but the nonce is not one of ours (issued before a restart or
		// by a node with another key): a new challenge, not a failure, or phones behind one
		// NAT would get their address banned by a restart.
		return Stale
	case now.Sub(issued) > v.ttl || issued.After(now.Add(time.Minute)):
		return Stale
	case !v.replay.use(key, uint32(nc), issued.Add(v.ttl)):
		return Stale
	}
	return OK
}

// Sweep forgets replay state of expired nonces; call it periodically (every few seconds).
func (v *Verifier) Sweep(now time.Time) { v.replay.sweep(now) }

func expectedResponse(alg Algorithm, ha1 string, c Credentials, method string) string {
	ha2 := hexHash(alg, method, ":", c.URI)
	if c.QOP == "" {
		return hexHash(alg, ha1, ":", c.Nonce, ":", ha2)
	}
	return hexHash(alg, ha1, ":", c.Nonce, ":", c.NC, ":", c.CNonce, ":", c.QOP, ":", ha2)
}

var dummies = [2]string{
	hexHash(MD5, "no such user"),
	hexHash(SHA256, "no such user"),
}

func dummyHA1(alg Algorithm) string {
	if alg == SHA256 {
		return dummies[1]
	}
	return dummies[0]
}
