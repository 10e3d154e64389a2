// Package memstore is the in-process queue.Store: the agents, busy calls, waiting callers
// and round-robin cursors of one Centrala process, behind one mutex. It is what cmd uses
// when CENTRALA_REDIS_URL is not set; queue/redisstore is the same contract shared by
// several nodes (queue/queuetest runs one suite against both).
//
// It keeps the same versions as redisstore (every write bumps the user's version, Update
// retries when the version changed under fn, Claim refuses), so code written against one
// behaves the same on the other; under the mutex a conflict can only come from a write
// made while fn ran. Lease expiry and wrap-up ends apply on read (Agent.Settle); busy
// entries lapse at their until.
package memstore
