// Package event is Centrala's internal event bus: the registrar, the call engine, queues and
// CDRs publish typed events here; the API's live stream, webhooks and statistics subscribe.
// It imports no SIP or storage code, so every package may use it. Delivery to a subscriber is
// best effort: a subscriber that does not keep up loses events (counted), publishers never block.
package event

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event is one thing that happened. Data is JSON-encodable.
type Event struct {
	Type   string    `json:"type"` // e.g. registration.added
	Time   time.Time `json:"time"`
	CallID string    `json:"call_id,omitempty"`
	Data   any       `json:"data"`
	// Node is the node an event came from when another node published it (shared through
	// Redis); empty for this node's own events.
	Node string `json:"node,omitempty"`
}

// Bus fans events out to subscribers.
type Bus struct {
	mu      sync.RWMutex
	subs    map[*Subscription]struct{}
	dropped atomic.Uint64
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription receives events on C until Close.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	bus    *Bus
	filter func(Event) bool
	once   sync.Once
}

// Subscribe returns a subscription with a buffer of size events. filter may be nil (all events).
func (b *Bus) Subscribe(size int, filter func(Event) bool) *Subscription {
	c := make(chan Event, size)
	s := &Subscription{C: c, c: c, bus: b, filter: filter}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		close(s.c)
		s.bus.mu.Unlock()
	})
}

// Publish delivers e to every subscriber whose buffer has room. It never blocks.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// Dropped is the number of deliveries lost to slow subscribers since start.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }
