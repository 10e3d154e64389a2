package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// A nonce is base64url(issued-ms[8] | serial[8] | HMAC-SHA256(key, issued|serial)[:16]): no
// server state is kept per challenge, a forged or altered nonce fails the MAC, and its age
// tells whether it is stale. Processes that share the key (through Redis) accept each
// other's nonces.
const (
	nonceRaw = 32
	nonceLen = 43 // base64.RawURLEncoding.EncodedLen(nonceRaw)
)

type nonceKey [16]byte // the issued|serial part: identifies a nonce for replay tracking

// nonces issues and checks signed nonces.
type nonces struct {
	key    []byte
	serial atomic.Uint64
	macs   sync.Pool // of hash.Hash from hmac.New
}

func newNonces(key []byte) *nonces {
	n := &nonces{key: append([]byte(nil), key...)}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	n.serial.Store(binary.BigEndian.Uint64(seed[:]))
	n.macs.New = func() any { return hmac.New(sha256.New, n.key) }
	return n
}

func (n *nonces) mac(dst, msg []byte) {
	h := n.macs.Get().(interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
		Reset()
	})
	h.Reset()
	h.Write(msg)
	var sum [32]byte
	copy(dst, h.Sum(sum[:0]))
	n.macs.Put(h)
}

func (n *nonces) issue(now time.Time) string {
	var raw [nonceRaw]byte
	binary.BigEndian.PutUint64(raw[0:8], uint64(now.UnixMilli()))
	binary.BigEndian.PutUint64(raw[8:16], n.serial.Add(1))
	n.mac(raw[16:32], raw[:16])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// check decodes a nonce and verifies its MAC; it returns the nonce's key and issue time.
func (n *nonces) check(s string) (nonceKey, time.Time, bool) {
	var k nonceKey
	if len(s) != nonceLen {
		return k, time.Time{}, false
	}
	var raw [nonceRaw]byte
	if _, err := base64.RawURLEncoding.Decode(raw[:], []byte(s)); err != nil {
		return k, time.Time{}, false
	}
	var want [16]byte
	n.mac(want[:], raw[:16])
	if !hmac.Equal(want[:], raw[16:32]) {
		return k, time.Time{}, false
	}
	copy(k[:], raw[:16])
	return k, time.UnixMilli(int64(binary.BigEndian.Uint64(raw[0:8]))), true
}

// replay remembers the highest nonce-count used with each live nonce.
type replay struct {
	shards [32]replayShard
}

type replayShard struct {
	mu   sync.Mutex
	seen map[nonceKey]replayEntry
}

type replayEntry struct {
	nc      uint32
	expires int64 // unix ms
}

func newReplay() *replay {
	r := &replay{}
	for i := range r.shards {
		r.shards[i].seen = make(map[nonceKey]replayEntry)
	}
	return r
}

// use records nc for the nonce and reports whether it is higher than any used before.
func (r *replay) use(k nonceKey, nc uint32, expires time.Time) bool {
	s := &r.shards[k[15]%uint8(len(r.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.seen[k]
	if ok && nc <= e.nc {
		return false
	}
	s.seen[k] = replayEntry{nc: nc, expires: expires.UnixMilli()}
	return true
}

// sweep forgets nonces that have expired: they are refused as stale anyway.
func (r *replay) sweep(now time.Time) {
	ms := now.UnixMilli()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for k, e := range s.seen {
			if e.expires <= ms {
				delete(s.seen, k)
			}
		}
		s.mu.Unlock()
	}
}
