package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
)

// agentStateLog is a queue.Store that logs agents' state entries to the SQL store
// (agent_state_log), the history the agent statistics read: around each Update and Claim
// it logs the entry of the agent settled at that time (a wrap-up that ended or a lease that
// ran out changed the state without a write) and, when the write succeeded, the entry of
// the new record. Every other method passes through. The API, the feature codes, the idle
// sweep and the call engine all write through it, so every change is logged whichever
// node made it; an entry logged twice (by two nodes, or before and after a no-op) is kept
// once by the table's unique key. A failed log write is logged and does not fail the state
// change.
type agentStateLog struct {
	queue.Store
	db  *store.DB
	log *slog.Logger

	mu   sync.Mutex
	last map[int64]store.AgentStateEntry // the last entry logged per user: skips the repeats
}

var _ queue.Store = (*agentStateLog)(nil)

func newAgentStateLog(st queue.Store, db *store.DB, log *slog.Logger) *agentStateLog {
	return &agentStateLog{Store: st, db: db, log: log, last: map[int64]store.AgentStateEntry{}}
}

// logTimeout bounds each log write; it does not inherit the caller's cancellation (a call's
// context ends with the very hangup whose state change is logged).
const logTimeout = 5 * time.Second

func (l *agentStateLog) Update(ctx context.Context, userID int64, now time.Time, fn func(queue.Agent) (queue.Agent, error)) (queue.Agent, error) {
	before := l.settled(ctx, userID, now)
	a, err := l.Store.Update(ctx, userID, now, fn)
	l.record(ctx, before, a, err == nil)
	return a, err
}

func (l *agentStateLog) Claim(ctx context.Context, userID int64, o queue.Offer, now time.Time, registered bool) (queue.Agent, error) {
	before := l.settled(ctx, userID, now)
	a, err := l.Store.Claim(ctx, userID, o, now, registered)
	l.record(ctx, before, a, err == nil)
	return a, err
}

// settled reads the agent settled at now; nil when it cannot be read (the write that follows
// reports the store's trouble).
func (l *agentStateLog) settled(ctx context.Context, userID int64, now time.Time) *queue.Agent {
	a, err := l.Store.Agent(ctx, userID, now)
	if err != nil {
		return nil
	}
	return &a
}

// record logs the entry of before (when read) and of after (when written), skipping what
// this process logged last for the user.
func (l *agentStateLog) record(ctx context.Context, before *queue.Agent, after queue.Agent, written bool) {
	var entries []store.AgentStateEntry
	if before != nil {
		entries = append(entries, store.EntryOf(*before))
	}
	if written {
		entries = append(entries, store.EntryOf(after))
	}
	l.mu.Lock()
	fresh := entries[:0]
	for _, e := range entries {
		if e.Since.IsZero() || l.last[e.UserID] == e {
			continue
		}
		fresh = append(fresh, e)
	}
	l.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
	defer cancel()
	if err := l.db.LogAgentStates(wctx, fresh...); err != nil {
		l.log.Warn("agent state log: write failed", "user_id", fresh[0].UserID, "error", err)
		return
	}
	l.mu.Lock()
	for _, e := range fresh {
		if last, ok := l.last[e.UserID]; !ok || !e.Since.Before(last.Since) {
			l.last[e.UserID] = e
		}
	}
	l.mu.Unlock()
}
