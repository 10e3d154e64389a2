package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/centrala/centrala/queue"
)

// lapsedGrace is how long after its until a busy entry is kept (it no longer counts).
const lapsedGrace = time.Hour

// Store is the in-process queue.Store. The zero value is not usable: call New.
type Store struct {
	mu      sync.Mutex
	agents  map[int64]record
	busy    map[int64]map[string]time.Time // user -> call id -> until
	waiting map[int64]map[string]queue.Caller
	last    map[int64]int64
}

type record struct {
	agent   queue.Agent
	version int64
}

var _ queue.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		agents:  map[int64]record{},
		busy:    map[int64]map[string]time.Time{},
		waiting: map[int64]map[string]queue.Caller{},
		last:    map[int64]int64{},
	}
}

// read returns the user's record and version; the caller holds mu.
func (s *Store) read(userID int64) (queue.Agent, int64) {
	r, ok := s.agents[userID]
	if !ok {
		return queue.NewAgent(userID), 0
	}
	return r.agent, r.version
}

// Agent implements queue.Store.
func (s *Store) Agent(_ context.Context, userID int64, now time.Time) (queue.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _ := s.read(userID)
	return a.Settle(now), nil
}

// Agents implements queue.Store.
func (s *Store) Agents(_ context.Context, userIDs []int64, now time.Time) ([]queue.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]queue.Agent, len(userIDs))
	for i, id := range userIDs {
		a, _ := s.read(id)
		out[i] = a.Settle(now)
	}
	return out, nil
}

// Update implements queue.Store. fn runs without the lock held (it may be slow or call the
// store), so the version check is what makes the write safe.
func (s *Store) Update(ctx context.Context, userID int64, now time.Time, fn func(queue.Agent) (queue.Agent, error)) (queue.Agent, error) {
	for range queue.MaxAttempts {
		if err := ctx.Err(); err != nil {
			return queue.Agent{}, err
		}
		s.mu.Lock()
		a, v := s.read(userID)
		s.mu.Unlock()
		settled := a.Settle(now)
		next, err := fn(settled)
		if err != nil {
			return settled, err
		}
		next.UserID = userID
		s.mu.Lock()
		if _, cur := s.read(userID); cur == v {
			s.agents[userID] = record{agent: next, version: v + 1}
			s.mu.Unlock()
			return next, nil
		}
		s.mu.Unlock()
	}
	return queue.Agent{}, fmt.Errorf("memstore: update agent %d: %w", userID, queue.ErrConflict)
}

// busyLocked reports whether the user has a call entry valid at now; the caller holds mu.
func (s *Store) busyLocked(userID int64, now time.Time) bool {
	for _, until := range s.busy[userID] {
		if until.After(now) {
			return true
		}
	}
	return false
}

// Claim implements queue.Store: the read, the decision and the write under one lock.
func (s *Store) Claim(_ context.Context, userID int64, o queue.Offer, now time.Time, registered bool) (queue.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, v := s.read(userID)
	next, err := a.Offer(o, now, s.busyLocked(userID, now), registered)
	if err != nil {
		if ve := (*queue.ValidationError)(nil); errors.As(err, &ve) {
			return a.Settle(now), err
		}
		return a.Settle(now), fmt.Errorf("%w: %w", queue.ErrNotClaimed, err)
	}
	s.agents[userID] = record{agent: next, version: v + 1}
	return next, nil
}

// CallStarted implements queue.Store.
func (s *Store) CallStarted(_ context.Context, userID int64, callID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.busy[userID]
	if m == nil {
		m = map[string]time.Time{}
		s.busy[userID] = m
	}
	m[callID] = until
	for id, u := range m {
		if u.Before(until.Add(-lapsedGrace)) {
			delete(m, id) // lapsed long ago, as redisstore drops them
		}
	}
	return nil
}

// CallEnded implements queue.Store.
func (s *Store) CallEnded(_ context.Context, userID int64, callID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy[userID], callID)
	if len(s.busy[userID]) == 0 {
		delete(s.busy, userID)
	}
	return nil
}

// Busy implements queue.Store.
func (s *Store) Busy(_ context.Context, userID int64, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busyLocked(userID, now), nil
}

// BusyMany implements queue.Store.
func (s *Store) BusyMany(_ context.Context, userIDs []int64, now time.Time) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(userIDs))
	for i, id := range userIDs {
		out[i] = s.busyLocked(id, now)
	}
	return out, nil
}

// Join implements queue.Store.
func (s *Store) Join(_ context.Context, c queue.Caller) error {
	if c.CallID == "" {
		return fmt.Errorf("memstore: join queue %d: empty call id", c.QueueID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.waiting[c.QueueID]
	if m == nil {
		m = map[string]queue.Caller{}
		s.waiting[c.QueueID] = m
	}
	m[c.CallID] = c
	return nil
}

// Leave implements queue.Store.
func (s *Store) Leave(_ context.Context, queueID int64, callID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiting[queueID], callID)
	if len(s.waiting[queueID]) == 0 {
		delete(s.waiting, queueID)
	}
	return nil
}

// Waiting implements queue.Store.
func (s *Store) Waiting(_ context.Context, queueID int64) ([]queue.Caller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]queue.Caller, 0, len(s.waiting[queueID]))
	for _, c := range s.waiting[queueID] {
		out = append(out, c)
	}
	slices.SortFunc(out, queue.Compare)
	return out, nil
}

// SetPriority implements queue.Store.
func (s *Store) SetPriority(_ context.Context, queueID int64, callID string, priority int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.waiting[queueID][callID]
	if !ok {
		return fmt.Errorf("memstore: set priority of call %q in queue %d: %w", callID, queueID, queue.ErrNotWaiting)
	}
	c.Priority = priority
	s.waiting[queueID][callID] = c
	return nil
}

// Touch implements queue.Store.
func (s *Store) Touch(_ context.Context, queueID int64, callID string, ringing bool, retryAt, leaseUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.waiting[queueID][callID]
	if !ok {
		return fmt.Errorf("memstore: touch call %q in queue %d: %w", callID, queueID, queue.ErrNotWaiting)
	}
	c.Ringing, c.RetryAt, c.LeaseUntil = ringing, retryAt, leaseUntil
	s.waiting[queueID][callID] = c
	return nil
}

// LastOffered implements queue.Store.
func (s *Store) LastOffered(_ context.Context, queueID int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[queueID], nil
}

// SetLastOffered implements queue.Store.
func (s *Store) SetLastOffered(_ context.Context, queueID, userID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[queueID] = userID
	return nil
}
