package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/centrala/centrala/pbx/registrar"
)

const (
	// DefaultPrefix is the key prefix New uses when given "".
	DefaultPrefix = "centrala:"
	// keyGrace is how long an AOR hash outlives its latest binding before Redis drops it on
	// its own. It is only a safety net for when no process runs Expire: Expire (called
	// every second or so) removes lapsed bindings, and reports them, long before.
	keyGrace = time.Hour
	// expireBatch bounds the bindings one Expire script handles, so that a large backlog
	// does not block Redis for long.
	expireBatch = 1000
	// listBatch is how many AOR hashes List reads per pipeline.
	listBatch = 500
)

// Status codes returned by the apply script in the first element of its reply.
const (
	statusOK         = 0
	statusTooMany    = 1
	statusOutOfOrder = 2
)

// Store is the location service in Redis. It is safe for concurrent use, and several
// processes may share one: see the package documentation.
type Store struct {
	client    redis.UniversalClient
	prefix    string
	aorPrefix string // prefix + "loc:aor:", followed by the AOR
	expKey    string
	aorsKey   string
}

var _ registrar.Store = (*Store)(nil)

// New returns a Store keeping its keys under prefix (DefaultPrefix when empty). Stores
// with the same prefix on the same server share their bindings.
func New(client redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{
		client:    client,
		prefix:    prefix,
		aorPrefix: prefix + "loc:aor:",
		expKey:    prefix + "loc:exp",
		aorsKey:   prefix + "loc:aors",
	}
}

// record is a binding as stored in the AOR hash. The scripts read call_id, cseq and
// expires_at_ms; they never re-encode a record, so what Go wrote is what Go reads.
type record struct {
	AOR        string  `json:"aor"`
	Contact    string  `json:"contact"`
	Transport  string  `json:"transport,omitempty"`
	Source     string  `json:"source,omitempty"`
	Local      string  `json:"local,omitempty"`
	CallID     string  `json:"call_id"`
	CSeq       uint32  `json:"cseq"`
	Q          float64 `json:"q,omitempty"`
	InstanceID string  `json:"instance_id,omitempty"`
	UserAgent  string  `json:"user_agent,omitempty"`
	Node       string  `json:"node,omitempty"`
	ExpiresAt  int64   `json:"expires_at_ms"` // Unix milliseconds
	UpdatedAt  int64   `json:"updated_at_ms"` // Unix milliseconds
}

func (r *record) binding() registrar.Binding {
	return registrar.Binding{
		AOR:        r.AOR,
		Contact:    r.Contact,
		Transport:  r.Transport,
		Source:     r.Source,
		Local:      r.Local,
		CallID:     r.CallID,
		CSeq:       r.CSeq,
		Q:          r.Q,
		InstanceID: r.InstanceID,
		UserAgent:  r.UserAgent,
		Node:       r.Node,
		ExpiresAt:  time.UnixMilli(r.ExpiresAt).UTC(),
		UpdatedAt:  time.UnixMilli(r.UpdatedAt).UTC(),
	}
}

// decode turns a stored record into a binding.
func decode(raw string) (registrar.Binding, error) {
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return registrar.Binding{}, fmt.Errorf("redisstore: bad binding record %.80q: %w", raw, err)
	}
	return r.binding(), nil
}

// decodeAll decodes the records of a script reply, keeping what it can.
func decodeAll(raws []any) ([]registrar.Binding, error) {
	var (
		out  []registrar.Binding
		errs []error
	)
	for _, v := range raws {
		raw, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("redisstore: unexpected script reply element %T", v))
			continue
		}
		b, err := decode(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, b)
	}
	return out, errors.Join(errs...)
}

func byContact(a, b registrar.Binding) int { return strings.Compare(a.Contact, b.Contact) }

// applyScript performs one REGISTER on one AOR.
//
// KEYS: AOR hash, expiry zset, AOR set.
// ARGV: aor, now ms, Call-ID, CSeq, remove-all ("1"/"0"), max contacts (0: none), key grace
// ms, then per change: contact, expiry ms (0: remove), record JSON ("" when removing).
// Reply: {status} on error, {0, record...} with the live records afterwards on success.
var applyScript = redis.NewScript(`
local key, expkey, aorskey = KEYS[1], KEYS[2], KEYS[3]
local aor = ARGV[1]
local now = tonumber(ARGV[2])
local callid = ARGV[3]
local cseq = tonumber(ARGV[4])
local removeAll = ARGV[5] == '1'
local max = tonumber(ARGV[6])
local grace = tonumber(ARGV[7])

-- The AOR's bindings: live ones by contact, and the lapsed (or unreadable) ones to drop.
local live, stale, count = {}, {}, 0
local raw = redis.call('HGETALL', key)
for i = 1, #raw, 2 do
  local ok, rec = pcall(cjson.decode, raw[i + 1])
  local exp = ok and type(rec) == 'table' and tonumber(rec.expires_at_ms)
  if exp and exp > now then
    live[raw[i]] = {raw[i + 1], rec, exp}
    count = count + 1
  else
    stale[#stale + 1] = raw[i]
  end
end

local function outOfOrder(rec)
  return rec.call_id == callid and (tonumber(rec.cseq) or 0) >= cseq
end

-- What the request asks, per contact (the last mention of a contact wins):
-- final[c] = {record, expiry number, expiry string} to bind, or false to remove.
local final, order = {}, {}
if removeAll then
  for c, b in pairs(live) do
    if outOfOrder(b[2]) then return {2} end
    order[#order + 1] = c
    final[c] = false
  end
else
  for i = 8, #ARGV, 3 do
    local c = ARGV[i]
    local b = live[c]
    if b and outOfOrder(b[2]) then return {2} end
    if final[c] == nil then order[#order + 1] = c end
    local exp = tonumber(ARGV[i + 1])
    if exp > 0 then final[c] = {ARGV[i + 2], exp, ARGV[i + 1]} else final[c] = false end
  end
end

local after, added = count, false
for _, c in ipairs(order) do
  if final[c] then
    if not live[c] then
      after = after + 1
      added = true
    end
  elseif live[c] then
    after = after - 1
  end
end
if max > 0 and added and after > max then return {1} end

local dirty = false
for _, c in ipairs(stale) do
  redis.call('HDEL', key, c)
  redis.call('ZREM', expkey, aor .. '\0' .. c)
  dirty = true
end
for _, c in ipairs(order) do
  local f, m = final[c], aor .. '\0' .. c
  if f then
    redis.call('HSET', key, c, f[1])
    redis.call('ZADD', expkey, f[3], m)
    live[c] = {f[1], nil, f[2]}
    dirty = true
  elseif live[c] then
    redis.call('HDEL', key, c)
    redis.call('ZREM', expkey, m)
    live[c] = nil
    dirty = true
  end
end

local out, latest = {0}, 0
for _, b in pairs(live) do
  out[#out + 1] = b[1]
  if b[3] > latest then latest = b[3] end
end
if dirty then
  if #out == 1 then
    redis.call('DEL', key)
    redis.call('SREM', aorskey, aor)
  else
    redis.call('SADD', aorskey, aor)
    redis.call('PEXPIREAT', key, string.format('%d', latest + grace))
  end
end
return out
`)

// expireScript removes up to a batch of bindings due at now.
//
// KEYS: expiry zset, AOR set. ARGV: now ms, batch size, AOR hash key prefix.
// Reply: {zset members examined, record...} with the records it deleted.
var expireScript = redis.NewScript(`
local expkey, aorskey = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local pfx = ARGV[3]
local due = redis.call('ZRANGEBYSCORE', expkey, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out, touched = {#due}, {}
for _, m in ipairs(due) do
  redis.call('ZREM', expkey, m)
  local i = string.find(m, '\0', 1, true)
  if i then
    local aor, c = string.sub(m, 1, i - 1), string.sub(m, i + 1)
    local key = pfx .. aor
    touched[aor] = key
    local v = redis.call('HGET', key, c)
    if v then
      local ok, rec = pcall(cjson.decode, v)
      local exp = ok and type(rec) == 'table' and tonumber(rec.expires_at_ms)
      if exp and exp > now then
        -- Refreshed without its score moving (should not happen): reschedule.
        redis.call('ZADD', expkey, string.format('%d', exp), m)
      else
        redis.call('HDEL', key, c)
        if exp then out[#out + 1] = v end
      end
    end
  end
end
for aor, key in pairs(touched) do
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', aorskey, aor) end
end
return out
`)

// removeAORScript drops an AOR. KEYS: AOR hash, expiry zset, AOR set. ARGV: aor.
// Reply: the records it deleted.
var removeAORScript = redis.NewScript(`
local raw = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #raw, 2 do
  redis.call('ZREM', KEYS[2], ARGV[1] .. '\0' .. raw[i])
  out[#out + 1] = raw[i + 1]
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return out
`)

// Apply implements registrar.Store, in one script run, with the same reading of the
// contract as registrar.MemoryStore.Apply: AOR, Call-ID, CSeq and UpdatedAt come from the
// Update, Expires under a millisecond removes, the last Change of a contact wins, and
// RemoveAll ignores Changes.
func (s *Store) Apply(ctx context.Context, u registrar.Update) ([]registrar.Binding, error) {
	if u.AOR == "" {
		return nil, errors.New("redisstore: empty AOR")
	}
	nowMs := u.Now.UnixMilli()
	removeAll := "0"
	if u.RemoveAll {
		removeAll = "1"
	}
	args := make([]any, 0, 7+3*len(u.Changes))
	args = append(args, u.AOR, nowMs, u.CallID, u.CSeq, removeAll, max(u.MaxContacts, 0), keyGrace.Milliseconds())
	if !u.RemoveAll {
		for i := range u.Changes {
			c := &u.Changes[i]
			if c.Contact == "" {
				return nil, errors.New("redisstore: empty contact")
			}
			ms := c.Expires.Milliseconds()
			if ms <= 0 {
				args = append(args, c.Contact, 0, "")
				continue
			}
			rec, err := json.Marshal(record{
				AOR:        u.AOR,
				Contact:    c.Contact,
				Transport:  c.Transport,
				Source:     c.Source,
				Local:      c.Local,
				CallID:     u.CallID,
				CSeq:       u.CSeq,
				Q:          c.Q,
				InstanceID: c.InstanceID,
				UserAgent:  c.UserAgent,
				Node:       c.Node,
				ExpiresAt:  nowMs + ms,
				UpdatedAt:  nowMs,
			})
			if err != nil {
				return nil, fmt.Errorf("redisstore: encoding binding %s: %w", c.Contact, err)
			}
			args = append(args, c.Contact, nowMs+ms, rec)
		}
	}
	reply, err := applyScript.Run(ctx, s.client, []string{s.aorPrefix + u.AOR, s.expKey, s.aorsKey}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: apply %s: %w", u.AOR, err)
	}
	if len(reply) == 0 {
		return nil, errors.New("redisstore: apply: empty script reply")
	}
	switch status, _ := reply[0].(int64); status {
	case statusOK:
	case statusTooMany:
		return nil, registrar.ErrTooManyContacts
	case statusOutOfOrder:
		return nil, registrar.ErrOutOfOrder
	default:
		return nil, fmt.Errorf("redisstore: apply: unexpected script status %v", reply[0])
	}
	bs, err := decodeAll(reply[1:])
	slices.SortFunc(bs, byContact)
	return bs, err
}

// Lookup implements registrar.Store.
func (s *Store) Lookup(ctx context.Context, aor string, now time.Time) ([]registrar.Binding, error) {
	m, err := s.client.HGetAll(ctx, s.aorPrefix+aor).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: lookup %s: %w", aor, err)
	}
	return live(nil, m, now)
}

// live appends the live bindings of one AOR hash to dst, sorted by contact.
func live(dst []registrar.Binding, m map[string]string, now time.Time) ([]registrar.Binding, error) {
	start := len(dst)
	var errs []error
	for _, raw := range m {
		b, err := decode(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !b.Expired(now) {
			dst = append(dst, b)
		}
	}
	slices.SortFunc(dst[start:], byContact)
	return dst, errors.Join(errs...)
}

// List implements registrar.Store. It reads the AOR set, then the hashes in pipelines.
func (s *Store) List(ctx context.Context, now time.Time) ([]registrar.Binding, error) {
	aors, err := s.client.SMembers(ctx, s.aorsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	slices.Sort(aors)
	var (
		out  []registrar.Binding
		errs []error
	)
	for len(aors) > 0 {
		batch := aors[:min(listBatch, len(aors))]
		aors = aors[len(batch):]
		pipe := s.client.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(batch))
		for i, aor := range batch {
			cmds[i] = pipe.HGetAll(ctx, s.aorPrefix+aor)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: list: %w", err)
		}
		for _, cmd := range cmds {
			out, err = live(out, cmd.Val(), now)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// Expire implements registrar.Store. Each script call removes and returns at most
// expireBatch bindings; it loops until the backlog is gone. Concurrent callers each get
// the bindings their own script calls deleted.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]registrar.Binding, error) {
	var (
		out  []registrar.Binding
		errs []error
	)
	keys := []string{s.expKey, s.aorsKey}
	for {
		reply, err := expireScript.Run(ctx, s.client, keys, now.UnixMilli(), expireBatch, s.aorPrefix).Slice()
		if err != nil {
			// Bindings already deleted by earlier batches are returned with the error.
			return out, errors.Join(append(errs, fmt.Errorf("redisstore: expire: %w", err))...)
		}
		if len(reply) == 0 {
			return out, errors.Join(append(errs, errors.New("redisstore: expire: empty script reply"))...)
		}
		bs, err := decodeAll(reply[1:])
		out = append(out, bs...)
		if err != nil {
			errs = append(errs, err)
		}
		if examined, _ := reply[0].(int64); examined < expireBatch {
			return out, errors.Join(errs...)
		}
	}
}

// RemoveAOR implements registrar.Store. It returns every binding it removed, including
// lapsed ones Expire has not collected yet (so each binding is reported once, by one or
// the other).
func (s *Store) RemoveAOR(ctx context.Context, aor string) ([]registrar.Binding, error) {
	reply, err := removeAORScript.Run(ctx, s.client, []string{s.aorPrefix + aor, s.expKey, s.aorsKey}, aor).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: remove %s: %w", aor, err)
	}
	bs, err := decodeAll(reply)
	slices.SortFunc(bs, byContact)
	return bs, err
}
