package pbx

import (
	"context"
	"time"
)

// Busy is told which users are on calls, so that queues on every node see an agent on a
// direct or outbound call as busy (queue.Store is one). Each entry expires at until unless
// renewed: the engine renews the entries of its calls every busyRenew, so the calls of a node
// that died stop counting within busyTTL.
type Busy interface {
	CallStarted(ctx context.Context, userID int64, callID string, until time.Time) error
	CallEnded(ctx context.Context, userID int64, callID string) error
}

const (
	busyTTL   = 90 * time.Second
	busyRenew = 30 * time.Second
)

// WithBusy reports the users of every call to b.
func WithBusy(b Busy) Option {
	return func(e *Engine) error { e.busy = b; return nil }
}

// busyStart records that the call counts user (placing it, or taking it).
func (c *call) busyStart(user int64) {
	if c.e.busy == nil || user == 0 {
		return
	}
	c.t.mu.Lock()
	if c.t.busyCalls == nil {
		c.t.busyCalls = map[string][]int64{}
	}
	c.t.busyCalls[c.a.callID] = append(c.t.busyCalls[c.a.callID], user)
	c.t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
	defer cancel()
	if err := c.e.busy.CallStarted(ctx, user, c.a.callID, c.e.now().Add(busyTTL)); err != nil {
		c.log.Warn("call: busy state", "user_id", user, "error", err)
	}
}

// busyEnd clears the call's entries.
func (c *call) busyEnd() {
	if c.e.busy == nil {
		return
	}
	c.t.mu.Lock()
	users := c.t.busyCalls[c.a.callID]
	delete(c.t.busyCalls, c.a.callID)
	c.t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
	defer cancel()
	for _, u := range users {
		if err := c.e.busy.CallEnded(ctx, u, c.a.callID); err != nil {
			c.log.Warn("call: busy state", "user_id", u, "error", err)
		}
	}
}

// renewBusy extends the entries of every call in progress until ctx ends.
func (e *Engine) renewBusy(ctx context.Context) {
	t := time.NewTicker(busyRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.calls.mu.Lock()
		entries := make(map[string][]int64, len(e.calls.busyCalls))
		for id, us := range e.calls.busyCalls {
			entries[id] = append([]int64(nil), us...)
		}
		e.calls.mu.Unlock()
		until := e.now().Add(busyTTL)
		for id, us := range entries {
			for _, u := range us {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if err := e.busy.CallStarted(rctx, u, id, until); err != nil {
					e.log.Warn("busy state renewal", "user_id", u, "call_id", id, "error", err)
				}
				cancel()
			}
		}
	}
}
