// Package redisstore is the registrar's location service in Redis (registrar.Store), shared
// by several Centrala processes.
//
// Every change is one Lua script (EVALSHA), so REGISTERs of one AOR arriving at different
// processes are applied one at a time, and concurrent Expire sweeps hand each lapsed
// binding to exactly one caller. Times are passed to the scripts by the caller (never Redis
// TIME) and stored as Unix milliseconds.
//
// Key layout, for prefix P (default "centrala:"):
//
//	P loc:aor:<aor>   hash: field = Contact URI, value = JSON record of the binding
//	                  (expires_at_ms, updated_at_ms, call_id, cseq, ...). PEXPIREAT at the
//	                  latest expiry plus an hour, as a safety net: Expire removes it first.
//	P loc:exp         sorted set: member "<aor>\x00<contact>", score = expiry in Unix ms;
//	                  Expire pops due members without scanning keys.
//	P loc:aors        set of AORs that have a binding, for List.
//
// The AOR hashes are under "loc:aor:" so that no account name can collide with the
// "loc:exp" and "loc:aors" keys. The scripts name the hash of an Expire'd binding from its
// zset member, so under Redis Cluster every key must live in one slot: give a prefix with a
// hash tag, e.g. "{centrala}:".
package redisstore
