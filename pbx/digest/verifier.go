package digest

import (
	"crypto/subtle"
	"strconv"
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
	ttl    time.Duration
	nonces *nonces
	replay *replay
}

// NewVerifier returns a verifier for realm whose nonces live ttl and are signed with key
// (at least 16 random bytes; the same key on every node that must accept another's nonces).
func NewVerifier(realm string, key []byte, ttl time.Duration) *Verifier {
	return &Verifier{realm: realm, ttl: ttl, nonces: newNonces(key), replay: newReplay()}
}

// Realm is the realm challenges name.
func (v *Verifier) Realm() string { return v.realm }

// Challenges returns the two WWW-Authenticate (or Proxy-Authenticate) values to send, SHA-256
// first as RFC 8760 asks, sharing one fresh nonce.
func (v *Verifier) Challenges(now time.Time, stale bool) [2]string {
	nonce := v.nonces.issue(now)
	staleParam := ""
	if stale {
		staleParam = ", stale=true"
	}
	head := `Digest realm="` + v.realm + `", nonce="` + nonce
	return [2]string{
		head + `", algorithm=SHA-256, qop="auth"` + staleParam,
		head + `", algorithm=MD5, qop="auth"` + staleParam,
	}
}

// Check verifies credentials for a request with the given method. ha1 is the stored hash
// for c.Algorithm, or "" when the user is unknown: the same work is done either way, so the
// answer and its timing do not tell whether the user exists.
func (v *Verifier) Check(c Credentials, method, ha1 string, now time.Time) Outcome {
	alg := c.Algorithm
	if alg != MD5 && alg != SHA256 {
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
