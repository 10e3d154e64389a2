// Package redisstore is the queue.Store kept in Redis, shared by every Centrala node that
// uses the same server and key prefix (cmd uses it when CENTRALA_REDIS_URL is set;
// queue/memstore otherwise). queue/queuetest holds it to the same contract as memstore.
//
// Keys (prefix defaults to "centrala:"):
//
//	{prefix}queue:agent:{user_id}         hash: v = version (integer, bumped by every write),
//	                                      a = the queue.Agent as JSON (as written, unsettled)
//	{prefix}queue:busy:{user_id}          sorted set: member call id, score = until (Unix ms);
//	                                      the key expires an hour after its latest until
//	{prefix}queue:q:{queue_id}:waiting    sorted set: member call id, score = Caller.Score
//	                                      (ties ordered by call id, as queue.Compare)
//	{prefix}queue:q:{queue_id}:callers    hash: call id -> the queue.Caller as JSON
//	{prefix}queue:q:{queue_id}:last       string: the user id offered last (round_robin)
//
// Agent writes are optimistic: Go reads v and a, settles and applies the pure transition
// (queue.Agent methods), and the cas script writes the new record only if v is still the
// version read (Update reads again and retries, up to queue.MaxAttempts). Claim is the same
// script with the busy check added: in one script run it refuses when v changed or when
// the user's busy set has an entry whose until is after now, and otherwise writes the
// offered record. Redis runs a script alone, so two nodes' claims on one agent are
// serialised and the second sees the first's version: one agent never holds two offers.
// The scripts read no JSON: the decisions stay in package queue, in Go.
//
// Crash safety: an offer carries a lease (Offer.LeaseUntil) that the node renews; a
// crashed node's offers lapse and Settle (applied on every read) frees the agent. Busy
// entries carry an until that the node extends by calling CallStarted again while the call
// lasts (a TTL per entry rather than a per-node heartbeat: no node registry is needed and
// a call handed between nodes stays one entry); a crashed node's entries stop counting at
// their until (Busy and Claim count only entries whose until is after now), CallStarted
// drops entries lapsed for over an hour, and the key expires an hour after its latest
// until. Redis applies that TTL in its own clock: untils are near the wall clock.
//
// Clocks: untils and leases are compared with the now the caller passes, so nodes' clocks
// should agree to well under a lease (NTP).
package redisstore
