package registrar

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// memShards is the number of independently locked partitions of a MemoryStore.
const memShards = 64

var (
	errEmptyAOR     = errors.New("registrar: empty AOR")
	errEmptyContact = errors.New("registrar: empty contact")
)

// MemoryStore is the in-process location service. It is safe for concurrent use.
//
// The AORs are spread over 64 shards by hash, each with its own lock, so REGISTERs of
// different accounts rarely contend. Bindings of one AOR are kept sorted by contact, so
// Lookup, Apply and List return them in that order. Times are stored in UTC at millisecond
// precision, as redisstore.Store does, so that both implementations answer the same.
//
// Apply drops the AOR's expired bindings without reporting them (as the Store contract
// says); everything else that lapses is returned once by Expire or RemoveAOR.
type MemoryStore struct {
	seed   maphash.Seed
	shards [memShards]memShard
}

type memShard struct {
	mu   sync.RWMutex
	aors map[string][]Binding // sorted by Contact, never empty
	// minExp is a lower bound (unix ns) of the expiry of every binding in the shard, so
	// Expire skips shards where nothing is due. math.MaxInt64 when known to be empty.
	minExp int64
	_      [64]byte // keep hot shards on separate cache lines
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].aors = make(map[string][]Binding)
		s.shards[i].minExp = math.MaxInt64
	}
	return s
}

func (s *MemoryStore) shard(aor string) *memShard {
	return &s.shards[maphash.String(s.seed, aor)&(memShards-1)]
}

// msUTC normalises a time as both stores keep it: UTC, millisecond precision, and no
// monotonic clock reading.
func msUTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// findContact returns the index of contact in bs (sorted by Contact) and whether it is there.
func findContact(bs []Binding, contact string) (int, bool) {
	return slices.BinarySearchFunc(bs, contact, func(b Binding, c string) int {
		return strings.Compare(b.Contact, c)
	})
}

// lastChange reports whether changes[i] is the last change of its contact in the update:
// when a REGISTER names a contact twice, the last one wins.
func lastChange(changes []Change, i int) bool {
	for j := i + 1; j < len(changes); j++ {
		if changes[j].Contact == changes[i].Contact {
			return false
		}
	}
	return true
}

// Apply implements Store. A stored binding takes its AOR, Call-ID and CSeq from the Update
// and its UpdatedAt from u.Now (the Change's own values of those fields are ignored). A
// Change whose Expires is under a millisecond removes the contact; when a contact appears
// twice, the last Change wins. With RemoveAll, Changes are ignored (RFC 3261 allows
// "Contact: *" only alone; the registrar rejects anything else with 400 before this).
func (s *MemoryStore) Apply(ctx context.Context, u Update) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if u.AOR == "" {
		return nil, errEmptyAOR
	}
	if !u.RemoveAll {
		for i := range u.Changes {
			if u.Changes[i].Contact == "" {
				return nil, errEmptyContact
			}
		}
	}
	now := u.Now
	nowMs := now.UnixMilli()
	outOfOrder := func(b *Binding) bool { return b.CallID == u.CallID && b.CSeq >= u.CSeq }

	sh := s.shard(u.AOR)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	bs := sh.aors[u.AOR]

	// Validate against the live bindings before touching anything.
	live := 0
	for i := range bs {
		if !bs[i].Expired(now) {
			live++
		}
	}
	after := live
	if u.RemoveAll {
		for i := range bs {
			if !bs[i].Expired(now) && outOfOrder(&bs[i]) {
				return nil, ErrOutOfOrder
			}
		}
		after = 0
	} else {
		added := false
		for i := range u.Changes {
			c := &u.Changes[i]
			j, found := findContact(bs, c.Contact)
			found = found && !bs[j].Expired(now)
			if found && outOfOrder(&bs[j]) {
				return nil, ErrOutOfOrder
			}
			if !lastChange(u.Changes, i) {
				continue
			}
			switch {
			case c.Expires.Milliseconds() > 0 && !found:
				after++
				added = true
			case c.Expires.Milliseconds() <= 0 && found:
				after--
			}
		}
		if u.MaxContacts > 0 && added && after > u.MaxContacts {
			return nil, ErrTooManyContacts
		}
	}

	// Mutate: drop the expired (or, for RemoveAll, every) binding, then apply the changes.
	if u.RemoveAll {
		bs = bs[:0]
	} else if live < len(bs) {
		bs = slices.DeleteFunc(bs, func(b Binding) bool { return b.Expired(now) })
	}
	if !u.RemoveAll {
		updated := msUTC(now)
		for i := range u.Changes {
			if !lastChange(u.Changes, i) {
				continue
			}
			c := &u.Changes[i]
			j, found := findContact(bs, c.Contact)
			if c.Expires.Milliseconds() <= 0 {
				if found {
					bs = slices.Delete(bs, j, j+1)
				}
				continue
			}
			b := c.Binding
			b.AOR = u.AOR
			b.CallID = u.CallID
			b.CSeq = u.CSeq
			b.ExpiresAt = time.UnixMilli(nowMs + c.Expires.Milliseconds()).UTC()
			b.UpdatedAt = updated
			if exp := b.ExpiresAt.UnixNano(); exp < sh.minExp {
				sh.minExp = exp
			}
			if found {
				bs[j] = b
			} else {
				bs = slices.Insert(bs, j, b)
			}
		}
	}
	if len(bs) == 0 {
		delete(sh.aors, u.AOR)
		return nil, nil
	}
	sh.aors[u.AOR] = bs
	return slices.Clone(bs), nil
}

// Lookup implements Store.
func (s *MemoryStore) Lookup(ctx context.Context, aor string, now time.Time) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shard(aor)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return appendLive(nil, sh.aors[aor], now), nil
}

func appendLive(dst, bs []Binding, now time.Time) []Binding {
	for i := range bs {
		if !bs[i].Expired(now) {
			dst = append(dst, bs[i])
		}
	}
	return dst
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, now time.Time) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Binding
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, bs := range sh.aors {
			out = appendLive(out, bs, now)
		}
		sh.mu.RUnlock()
	}
	// Bindings of one AOR are already sorted by contact; a stable sort by AOR keeps that.
	slices.SortStableFunc(out, func(a, b Binding) int { return strings.Compare(a.AOR, b.AOR) })
	return out, nil
}

// Expire implements Store. It scans only the shards holding a binding that may be due.
func (s *MemoryStore) Expire(ctx context.Context, now time.Time) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Binding
	nowNs := now.UnixNano()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if nowNs < sh.minExp {
			sh.mu.Unlock()
			continue
		}
		minExp := int64(math.MaxInt64)
		for aor, bs := range sh.aors {
			n := 0
			for _, b := range bs {
				if b.Expired(now) {
					out = append(out, b)
					continue
				}
				if exp := b.ExpiresAt.UnixNano(); exp < minExp {
					minExp = exp
				}
				bs[n] = b
				n++
			}
			switch {
			case n == 0:
				delete(sh.aors, aor)
			case n < len(bs):
				clear(bs[n:]) // let the strings of removed bindings be collected
				sh.aors[aor] = bs[:n]
			}
		}
		sh.minExp = minExp
		sh.mu.Unlock()
	}
	return out, nil
}

// RemoveAOR implements Store. It returns every binding it removed, including lapsed ones
// Expire has not collected yet (so each binding is reported once, by one or the other).
func (s *MemoryStore) RemoveAOR(ctx context.Context, aor string) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	bs := sh.aors[aor]
	delete(sh.aors, aor)
	return bs, nil
}
