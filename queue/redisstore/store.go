package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/centrala/centrala/queue"
)

const (
	// DefaultPrefix is the key prefix New uses when given "".
	DefaultPrefix = "centrala:"
	// busyGrace is how long a busy set outlives its latest entry's until before Redis drops
	// the key on its own (a safety net; lapsed entries are ignored anyway).
	busyGrace = time.Hour
)

// Store is the queue.Store in Redis. It is safe for concurrent use, and several processes
// may share one: see the package documentation.
type Store struct {
	client redis.UniversalClient
	prefix string

	// Decoded records, so that a dispatcher reading every member and waiting caller each
	// cycle decodes only what changed: the last record read of each agent, and the callers
	// the last Waiting of each queue returned, each with the JSON it was decoded from.
	mu      sync.Mutex
	agents  map[int64]decodedAgent
	callers map[int64]map[string]queue.Caller
}

type decodedAgent struct {
	raw string
	a   queue.Agent
}

var _ queue.Store = (*Store)(nil)

// New returns a Store keeping its keys under prefix (DefaultPrefix when empty). Stores
// with the same prefix on the same server share their state.
func New(client redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix, agents: map[int64]decodedAgent{}, callers: map[int64]map[string]queue.Caller{}}
}

func (s *Store) agentKey(userID int64) string {
	return s.prefix + "queue:agent:" + strconv.FormatInt(userID, 10)
}

func (s *Store) busyKey(userID int64) string {
	return s.prefix + "queue:busy:" + strconv.FormatInt(userID, 10)
}

func (s *Store) queueKey(queueID int64, what string) string {
	return s.prefix + "queue:q:" + strconv.FormatInt(queueID, 10) + ":" + what
}

// Replies of casScript.
const (
	casConflict = -1 // the version changed since the read
	casBusy     = -2 // the user is on a call
)

// casScript writes an agent record if its version is still the one read.
//
// KEYS: agent hash, busy set. ARGV: version read, record JSON, check busy ("1"/"0"), now ms.
// Reply: the new version, casConflict or casBusy.
var casScript = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
if ARGV[3] == '1' and redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[4], '+inf') > 0 then return -2 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'a', ARGV[2])
return v + 1
`)

// read returns the stored record of a user and its version (NewAgent and 0 when none).
func (s *Store) read(ctx context.Context, userID int64) (queue.Agent, int64, error) {
	vals, err := s.client.HMGet(ctx, s.agentKey(userID), "v", "a").Result()
	if err != nil {
		return queue.Agent{}, 0, fmt.Errorf("redisstore: read agent %d: %w", userID, err)
	}
	return s.decodeAgent(userID, vals)
}

// decodeAgent decodes an agent hash's v and a fields (the record from the cache when it is
// the one decoded last for the user).
func (s *Store) decodeAgent(userID int64, vals []any) (queue.Agent, int64, error) {
	vs, _ := vals[0].(string)
	raw, _ := vals[1].(string)
	if vs == "" || raw == "" {
		return queue.NewAgent(userID), 0, nil
	}
	v, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return queue.Agent{}, 0, fmt.Errorf("redisstore: agent %d: bad version %q", userID, vs)
	}
	s.mu.Lock()
	d, ok := s.agents[userID]
	s.mu.Unlock()
	if ok && d.raw == raw {
		return d.a.Clone(), v, nil
	}
	var a queue.Agent
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return queue.Agent{}, 0, fmt.Errorf("redisstore: agent %d: bad record %.80q: %w", userID, raw, err)
	}
	s.mu.Lock()
	s.agents[userID] = decodedAgent{raw: raw, a: a.Clone()}
	s.mu.Unlock()
	return a, v, nil
}

// cas runs casScript and returns its reply (positive: written).
func (s *Store) cas(ctx context.Context, userID int64, version int64, a queue.Agent, checkBusy bool, now time.Time) (status int64, err error) {
	a.UserID = userID
	rec, err := json.Marshal(a)
	if err != nil {
		return 0, fmt.Errorf("redisstore: encode agent %d: %w", userID, err)
	}
	check := "0"
	if checkBusy {
		check = "1"
	}
	status, err = casScript.Run(ctx, s.client, []string{s.agentKey(userID), s.busyKey(userID)},
		version, rec, check, now.UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: write agent %d: %w", userID, err)
	}
	return status, nil
}

// Agent implements queue.Store.
func (s *Store) Agent(ctx context.Context, userID int64, now time.Time) (queue.Agent, error) {
	a, _, err := s.read(ctx, userID)
	if err != nil {
		return queue.Agent{}, err
	}
	return a.Settle(now), nil
}

// Agents implements queue.Store, in one pipeline.
func (s *Store) Agents(ctx context.Context, userIDs []int64, now time.Time) ([]queue.Agent, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.SliceCmd, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = pipe.HMGet(ctx, s.agentKey(id), "v", "a")
	}
	if len(userIDs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: read agents: %w", err)
		}
	}
	out := make([]queue.Agent, len(userIDs))
	var errs []error
	for i, id := range userIDs {
		a, _, err := s.decodeAgent(id, cmds[i].Val())
		if err != nil {
			errs = append(errs, err)
			a = queue.NewAgent(id)
		}
		out[i] = a.Settle(now)
	}
	return out, errors.Join(errs...)
}

// Update implements queue.Store.
func (s *Store) Update(ctx context.Context, userID int64, now time.Time, fn func(queue.Agent) (queue.Agent, error)) (queue.Agent, error) {
	for range queue.MaxAttempts {
		a, v, err := s.read(ctx, userID)
		if err != nil {
			return queue.Agent{}, err
		}
		settled := a.Settle(now)
		next, err := fn(settled)
		if err != nil {
			return settled, err
		}
		next.UserID = userID
		status, err := s.cas(ctx, userID, v, next, false, now)
		if err != nil {
			return queue.Agent{}, err
		}
		if status > 0 {
			return next, nil
		}
	}
	return queue.Agent{}, fmt.Errorf("redisstore: update agent %d: %w", userID, queue.ErrConflict)
}

// Claim implements queue.Store: a fresh read of the record and the busy set, the decision
// of Agent.Offer in Go, then casScript with the busy check, which refuses when either
// changed.
func (s *Store) Claim(ctx context.Context, userID int64, o queue.Offer, now time.Time, registered bool) (queue.Agent, error) {
	a, v, err := s.read(ctx, userID)
	if err != nil {
		return queue.Agent{}, err
	}
	busy, err := s.Busy(ctx, userID, now)
	if err != nil {
		return queue.Agent{}, err
	}
	next, err := a.Offer(o, now, busy, registered)
	if err != nil {
		if ve := (*queue.ValidationError)(nil); errors.As(err, &ve) {
			return a.Settle(now), err
		}
		return a.Settle(now), fmt.Errorf("%w: %w", queue.ErrNotClaimed, err)
	}
	return s.claimAt(ctx, userID, v, next, now)
}

// claimAt writes the offered record next if the version is still v and the user is not busy.
func (s *Store) claimAt(ctx context.Context, userID, v int64, next queue.Agent, now time.Time) (queue.Agent, error) {
	status, err := s.cas(ctx, userID, v, next, true, now)
	switch {
	case err != nil:
		return queue.Agent{}, err
	case status == casConflict:
		return queue.Agent{}, fmt.Errorf("agent %d: offer: %w: %w", userID, queue.ErrNotClaimed, queue.ErrConflict)
	case status == casBusy:
		return queue.Agent{}, fmt.Errorf("agent %d: offer: %w: %w: busy on another call", userID, queue.ErrNotClaimed, queue.ErrBadTransition)
	case status <= 0:
		return queue.Agent{}, fmt.Errorf("redisstore: claim agent %d: unexpected script reply %d", userID, status)
	}
	return next, nil
}

// callStartedScript adds or moves a busy entry, drops entries lapsed for longer than the
// grace (long dead: a crashed node's) and sets the key's TTL to the grace after the latest.
//
// KEYS: busy set. ARGV: call id, until ms, drop-before ms, grace ms.
var callStartedScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', tonumber(last[2]) + tonumber(ARGV[4])))
end
return 0
`)

// CallStarted implements queue.Store. The key's TTL is in Redis's clock, so until should
// be near the wall clock (it is: a few lease periods ahead).
func (s *Store) CallStarted(ctx context.Context, userID int64, callID string, until time.Time) error {
	if callID == "" {
		return fmt.Errorf("redisstore: call started for user %d: empty call id", userID)
	}
	if err := callStartedScript.Run(ctx, s.client, []string{s.busyKey(userID)},
		callID, until.UnixMilli(), until.Add(-busyGrace).UnixMilli(), busyGrace.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redisstore: call %q started for user %d: %w", callID, userID, err)
	}
	return nil
}

// CallEnded implements queue.Store.
func (s *Store) CallEnded(ctx context.Context, userID int64, callID string) error {
	if err := s.client.ZRem(ctx, s.busyKey(userID), callID).Err(); err != nil {
		return fmt.Errorf("redisstore: call %q ended for user %d: %w", callID, userID, err)
	}
	return nil
}

// Busy implements queue.Store.
func (s *Store) Busy(ctx context.Context, userID int64, now time.Time) (bool, error) {
	n, err := s.client.ZCount(ctx, s.busyKey(userID), "("+strconv.FormatInt(now.UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: busy %d: %w", userID, err)
	}
	return n > 0, nil
}

// BusyMany implements queue.Store, in one pipeline.
func (s *Store) BusyMany(ctx context.Context, userIDs []int64, now time.Time) ([]bool, error) {
	out := make([]bool, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	from := "(" + strconv.FormatInt(now.UnixMilli(), 10)
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = pipe.ZCount(ctx, s.busyKey(id), from, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: busy of %d users: %w", len(userIDs), err)
	}
	for i := range cmds {
		out[i] = cmds[i].Val() > 0
	}
	return out, nil
}

// Join implements queue.Store: the record and the score in one transaction.
func (s *Store) Join(ctx context.Context, c queue.Caller) error {
	if c.CallID == "" {
		return fmt.Errorf("redisstore: join queue %d: empty call id", c.QueueID)
	}
	rec, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redisstore: encode caller %q: %w", c.CallID, err)
	}
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.queueKey(c.QueueID, "callers"), c.CallID, rec)
		p.ZAdd(ctx, s.queueKey(c.QueueID, "waiting"), redis.Z{Score: c.Score(), Member: c.CallID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: join queue %d call %q: %w", c.QueueID, c.CallID, err)
	}
	return nil
}

// Leave implements queue.Store.
func (s *Store) Leave(ctx context.Context, queueID int64, callID string) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.queueKey(queueID, "waiting"), callID)
		p.HDel(ctx, s.queueKey(queueID, "callers"), callID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: leave queue %d call %q: %w", queueID, callID, err)
	}
	return nil
}

// waitingScript returns the callers' records in sorted-set order. KEYS: waiting, callers.
var waitingScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
local recs = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do
  if recs[i] then out[#out + 1] = recs[i] end
end
return out
`)

// Waiting implements queue.Store: the order is the sorted set's (Caller.Score, then call
// id), which is queue.Compare's.
func (s *Store) Waiting(ctx context.Context, queueID int64) ([]queue.Caller, error) {
	raws, err := waitingScript.Run(ctx, s.client, []string{s.queueKey(queueID, "waiting"), s.queueKey(queueID, "callers")}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: waiting of queue %d: %w", queueID, err)
	}
	out := make([]queue.Caller, 0, len(raws))
	var errs []error
	s.mu.Lock()
	seen := s.callers[queueID]
	s.mu.Unlock()
	decoded := make(map[string]queue.Caller, len(raws))
	for _, raw := range raws {
		c, ok := seen[raw]
		if !ok {
			if err := json.Unmarshal([]byte(raw), &c); err != nil {
				errs = append(errs, fmt.Errorf("redisstore: queue %d: bad caller %.80q: %w", queueID, raw, err))
				continue
			}
		}
		decoded[raw] = c
		out = append(out, c)
	}
	s.mu.Lock()
	if len(decoded) == 0 {
		delete(s.callers, queueID)
	} else {
		s.callers[queueID] = decoded
	}
	s.mu.Unlock()
	return out, errors.Join(errs...)
}

// setPriorityScript replaces a caller's record and score if the record is still the one
// read (SetPriority, Touch). KEYS: waiting, callers. ARGV: call id, old record, new record, new score.
// Reply: 1 written, 0 not waiting, -1 changed since the read.
var setPriorityScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
`)

// SetPriority implements queue.Store.
func (s *Store) SetPriority(ctx context.Context, queueID int64, callID string, priority int) error {
	return s.rewrite(ctx, queueID, callID, "set priority of", func(c *queue.Caller) { c.Priority = priority })
}

// Touch implements queue.Store.
func (s *Store) Touch(ctx context.Context, queueID int64, callID string, ringing bool, retryAt, leaseUntil time.Time) error {
	return s.rewrite(ctx, queueID, callID, "touch", func(c *queue.Caller) {
		c.Ringing, c.RetryAt, c.LeaseUntil = ringing, retryAt, leaseUntil
	})
}

// rewrite changes a waiting caller's record with fn and writes it with its score, if the
// record is still the one read (else it reads again), or returns ErrNotWaiting.
func (s *Store) rewrite(ctx context.Context, queueID int64, callID, op string, fn func(*queue.Caller)) error {
	keys := []string{s.queueKey(queueID, "waiting"), s.queueKey(queueID, "callers")}
	for range queue.MaxAttempts {
		raw, err := s.client.HGet(ctx, keys[1], callID).Result()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("redisstore: %s call %q in queue %d: %w", op, callID, queueID, queue.ErrNotWaiting)
		}
		if err != nil {
			return fmt.Errorf("redisstore: %s call %q in queue %d: %w", op, callID, queueID, err)
		}
		var c queue.Caller
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return fmt.Errorf("redisstore: queue %d: bad caller %.80q: %w", queueID, raw, err)
		}
		fn(&c)
		rec, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("redisstore: encode caller %q: %w", callID, err)
		}
		status, err := setPriorityScript.Run(ctx, s.client, keys, callID, raw, rec, c.Score()).Int64()
		switch {
		case err != nil:
			return fmt.Errorf("redisstore: %s call %q in queue %d: %w", op, callID, queueID, err)
		case status == 0:
			return fmt.Errorf("redisstore: %s call %q in queue %d: %w", op, callID, queueID, queue.ErrNotWaiting)
		case status == 1:
			return nil
		}
	}
	return fmt.Errorf("redisstore: %s call %q in queue %d: %w", op, callID, queueID, queue.ErrConflict)
}

// LastOffered implements queue.Store.
func (s *Store) LastOffered(ctx context.Context, queueID int64) (int64, error) {
	v, err := s.client.Get(ctx, s.queueKey(queueID, "last")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: last offered of queue %d: %w", queueID, err)
	}
	return v, nil
}

// SetLastOffered implements queue.Store.
func (s *Store) SetLastOffered(ctx context.Context, queueID, userID int64) error {
	if err := s.client.Set(ctx, s.queueKey(queueID, "last"), userID, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: set last offered of queue %d: %w", queueID, err)
	}
	return nil
}
