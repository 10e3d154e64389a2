package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
)

// QueuesConfig is the `queues:` section.
type QueuesConfig struct {
	// NotReadyReasons is the catalogue of reasons an agent may give for not_ready (pause).
	NotReadyReasons queue.Reasons `yaml:"not_ready_reasons"`
	// FeatureCodes are dialled from a phone to log in, log out, pause and resume.
	FeatureCodes pbx.FeatureCodes `yaml:"feature_codes"`
}

// Defaults fills zero fields.
func (c *QueuesConfig) Defaults() {
	if c.NotReadyReasons == nil {
		c.NotReadyReasons = append(queue.Reasons(nil), queue.DefaultReasons...)
	}
	c.FeatureCodes.Defaults()
}

// Validate reports the first bad setting.
func (c *QueuesConfig) Validate() error {
	if err := c.NotReadyReasons.Validate(); err != nil {
		return fmt.Errorf("queues not_ready_reasons: %w", err)
	}
	return c.FeatureCodes.Validate()
}

// agentFeatures carries out the feature codes (*45 login, *46 logout, *47[n] pause, *48
// resume) on the agent state store, for users marked as agents.
type agentFeatures struct {
	db      *store.DB
	st      queue.Store
	reasons queue.Reasons
	bus     *event.Bus
	now     func() time.Time
}

var _ pbx.Agents = agentFeatures{}

func (a agentFeatures) Feature(ctx context.Context, userID int64, action string, reason int) error {
	u, err := a.db.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if !u.IsAgent || u.ArchivedAt != nil {
		return fmt.Errorf("user %d is not an agent", userID)
	}
	why := ""
	if reason > 0 {
		if reason > len(a.reasons) {
			return fmt.Errorf("no pause reason %d (the catalogue has %d)", reason, len(a.reasons))
		}
		why = a.reasons[reason-1]
	}
	now := a.now()
	ag, err := a.st.Update(ctx, userID, now, func(ag queue.Agent) (queue.Agent, error) {
		switch action {
		case pbx.FeatureLogin:
			return ag.Login(now)
		case pbx.FeatureLogout:
			return ag.Logout(now)
		case pbx.FeaturePause:
			return ag.Pause(now, why, a.reasons)
		case pbx.FeatureResume:
			return ag.Resume(now)
		}
		return ag, fmt.Errorf("unknown feature %q", action)
	})
	if err != nil {
		return err
	}
	a.bus.Publish(event.Event{Type: "agent.state", Time: now, Data: ag})
	return nil
}

// idleSweeper logs out agents idle for longer than their user's idle_timeout (available or
// not_ready without queue work or a state change, and not on a call). Every node runs it;
// the store's compare-and-set makes the logout happen once.
type idleSweeper struct {
	db  *store.DB
	st  queue.Store
	bus *event.Bus
	log *slog.Logger
	now func() time.Time
}

// run sweeps every interval until ctx ends.
func (s idleSweeper) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("idle agents sweep", "error", err)
			}
		}
	}
}

// errNotIdle stops an Update whose agent stopped being idle meanwhile.
var errNotIdle = errors.New("agent no longer idle")

// sweep logs out the agents idle too long now.
func (s idleSweeper) sweep(ctx context.Context) error {
	users, err := s.db.ListUsers(ctx, false)
	if err != nil {
		return err
	}
	now := s.now()
	for _, u := range users {
		if !u.IsAgent || u.IdleTimeout <= 0 {
			continue
		}
		limit := time.Duration(u.IdleTimeout) * time.Second
		a, err := s.st.Agent(ctx, u.ID, now)
		if err != nil {
			return err
		}
		if a.Idle(now) < limit {
			continue
		}
		if busy, err := s.st.Busy(ctx, u.ID, now); err != nil || busy {
			continue
		}
		a, err = s.st.Update(ctx, u.ID, now, func(a queue.Agent) (queue.Agent, error) {
			if a.Idle(now) < limit {
				return a, errNotIdle
			}
			return a.IdleTimeout(now)
		})
		if errors.Is(err, errNotIdle) {
			continue
		}
		if err != nil {
			return err
		}
		s.log.Info("agent logged out after idle_timeout", "user_id", u.ID, "idle_timeout", limit)
		s.bus.Publish(event.Event{Type: "agent.state", Time: now, Data: a})
	}
	return nil
}
