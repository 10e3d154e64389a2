package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// Algorithm is a digest algorithm token as it appears in WWW-Authenticate.
type Algorithm string

const (
	MD5    Algorithm = "MD5"
	SHA256 Algorithm = "SHA-256"
)

func (a Algorithm) newHash() hash.Hash {
	if a == SHA256 {
		return sha256.New()
	}
	return md5.New()
}

// HA1 returns hex(H(username:realm:password)) for the algorithm: what we store instead of a
// SIP secret.
func HA1(alg Algorithm, username, realm, password string) string {
	return hexHash(alg, username, ":", realm, ":", password)
}

func hexHash(alg Algorithm, parts ...string) string {
	h := alg.newHash()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
