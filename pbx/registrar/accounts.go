package registrar

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// accountCache keeps credentials read from the store for a while, so a REGISTER costs no SQL
// query in the steady state. Unknown usernames are cached too (a scanner guessing names must
// not reach the database at its own rate). The API calls forget on every change; the TTL
// bounds staleness when another process made the change.
type accountCache struct {
	src    Accounts
	ttl    time.Duration
	seed   maphash.Seed
	shards [64]accountShard
}

type accountShard struct {
	mu sync.RWMutex
	m  map[string]cachedAccount
}

type cachedAccount struct {
	acct    Account
	missing bool
	until   time.Time
}

const maxCachedPerShard = 4096

func newAccountCache(src Accounts, ttl time.Duration) *accountCache {
	c := &accountCache{src: src, ttl: ttl, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]cachedAccount{}
	}
	return c
}

func (c *accountCache) shard(username string) *accountShard {
	return &c.shards[maphash.String(c.seed, username)%uint64(len(c.shards))]
}

func (c *accountCache) get(ctx context.Context, username string, now time.Time) (Account, error) {
	s := c.shard(username)
	s.mu.RLock()
	e, ok := s.m[username]
	s.mu.RUnlock()
	if ok && now.Before(e.until) {
		if e.missing {
			return Account{}, ErrNoAccount
		}
		return e.acct, nil
	}
	a, err := c.src.Account(ctx, username)
	missing := errors.Is(err, ErrNoAccount)
	if err != nil && !missing {
		return Account{}, err
	}
	s.mu.Lock()
	if len(s.m) >= maxCachedPerShard {
		for k, v := range s.m { // make room: drop what has lapsed, else anything
			if !now.Before(v.until) || len(s.m) >= maxCachedPerShard {
				delete(s.m, k)
			}
			if len(s.m) < maxCachedPerShard*3/4 {
				break
			}
		}
	}
	// the name comes from a parsed header: a clone does not keep the request's text alive
	s.m[strings.Clone(username)] = cachedAccount{acct: a, missing: missing, until: now.Add(c.ttl)}
	s.mu.Unlock()
	return a, err
}

func (c *accountCache) forget(username string) {
	s := c.shard(username)
	s.mu.Lock()
	delete(s.m, username)
	s.mu.Unlock()
}
