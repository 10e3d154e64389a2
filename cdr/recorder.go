package cdr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/pbx/event"
)

// Store is what the Recorder needs of storage (implemented by *store.DB in api/store). Every
// Record it returns carries its legs (an empty slice when there are none).
type Store interface {
	// InsertCDR stores a new live record with r.Legs (its ID is ignored) and returns it.
	InsertCDR(ctx context.Context, r Record) (Record, error)
	// UpsertLeg adds l to the record (l.ID 0) or replaces the record's leg with l.ID, and
	// returns it as stored.
	UpsertLeg(ctx context.Context, cdrID int64, l Leg) (Leg, error)
	// AnswerCDR sets the answer time of a live record unless it is set already (the first
	// answer counts). A record that has ended is ErrEnded.
	AnswerCDR(ctx context.Context, id int64, at time.Time) (Record, error)
	// EndCDR completes a live record: end time, the durations (see Record), disposition, SIP
	// code and reason, who hung up, and e.Legs, in one transaction. A record that has ended
	// already is ErrEnded.
	EndCDR(ctx context.Context, id int64, e End) (Record, error)
	// CloseOpenCDRs ends every live record of the node at the time as Failed by BySystem
	// with the reason, and ends their open legs, in one transaction. It returns the records
	// it closed.
	CloseOpenCDRs(ctx context.Context, node string, at time.Time, reason string) ([]Record, error)
	// CloseCDRs is CloseOpenCDRs for the records with the ids, those still live.
	CloseCDRs(ctx context.Context, ids []int64, at time.Time, reason string) ([]Record, error)
}

// ReasonStopped is the SIP reason of the records that Recover and Shutdown close.
const ReasonStopped = "server stopped"

// Event types the Recorder publishes; Data is the Record as stored after the change, legs
// included, and CallID its SIP Call-ID.
const (
	EventStarted  = "call.started"
	EventAnswered = "call.answered"
	EventEnded    = "call.ended"
)

// writeTimeout bounds each store write. Writes do not inherit the caller's cancellation: a
// call's context is usually cancelled by the very hangup being recorded.
const writeTimeout = 10 * time.Second

// Recorder writes the call detail records of the calls this process carries. The call engine
// calls it synchronously at each step of a call (Start, Leg, Answer, End), so a record exists
// from the first moment and is never lost to a slow subscriber; Recover and Shutdown close
// what a crash or a stop left open. Each step also publishes an event on the bus and updates
// the metrics. It is safe for concurrent use.
type Recorder struct {
	store   Store
	bus     *event.Bus
	log     *slog.Logger
	node    string
	metrics *metrics

	mu   sync.Mutex
	live map[int64]*liveCall // started by this Recorder and not ended yet
}

type liveCall struct{ answered bool }

// Option configures a Recorder.
type Option func(*Recorder) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(r *Recorder) error {
		if l == nil {
			return errors.New("cdr: nil logger")
		}
		r.log = l
		return nil
	}
}

// WithNode names the node this process runs as (default ""). Records carry it, and Recover
// closes only the node's own: with several nodes on one database, give each a stable,
// unique name, or a restarting node would close the live calls of the others.
func WithNode(name string) Option {
	return func(r *Recorder) error { r.node = name; return nil }
}

// NewRecorder returns a Recorder writing to st and publishing on bus. Its collectors are
// registered with reg (nil: kept but not exported).
func NewRecorder(st Store, bus *event.Bus, reg prometheus.Registerer, opts ...Option) (*Recorder, error) {
	if st == nil || bus == nil {
		return nil, errors.New("cdr: store and event bus are required")
	}
	r := &Recorder{store: st, bus: bus, log: slog.New(slog.DiscardHandler), live: map[int64]*liveCall{}}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cdr metrics: %w", err)
	}
	r.metrics = m
	return r, nil
}

// Start writes the record of a call that starts and returns its id, which the other methods
// take. It publishes call.started.
func (r *Recorder) Start(ctx context.Context, s Start) (int64, error) {
	rec, err := r.Begin(ctx, s)
	return rec.ID, err
}

// Begin is Start returning the record as stored, with s.Legs and their ids (keep them to
// update the legs with End).
func (r *Recorder) Begin(ctx context.Context, s Start) (Record, error) {
	if err := s.validate(); err != nil {
		return Record{}, fmt.Errorf("cdr: start call %s: %w", s.CallID, err)
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	rec, err := r.store.InsertCDR(ctx, Record{StartedAt: s.At, CallID: s.CallID, Direction: s.Direction,
		Caller: s.Caller, Callee: s.Callee, DID: s.DID, CLIP: s.CLIP, TrunkID: s.TrunkID, UserID: s.UserID,
		Node: r.node, Legs: s.Legs})
	if err != nil {
		return Record{}, fmt.Errorf("cdr: start call %s: %w", s.CallID, err)
	}
	r.mu.Lock()
	r.live[rec.ID] = &liveCall{}
	r.metrics.active.Set(float64(len(r.live)))
	r.mu.Unlock()
	r.publish(EventStarted, rec.StartedAt, rec)
	return rec, nil
}

// Leg adds a leg to the record id (l.ID 0) or updates the leg l.ID (every field is
// replaced: keep the Leg value and change it), and returns the leg's id. Legs may change
// after the call ended (teardown order does not matter).
func (r *Recorder) Leg(ctx context.Context, id int64, l Leg) (int64, error) {
	if err := l.validate(); err != nil {
		return 0, fmt.Errorf("cdr: leg of call %d: %w", id, err)
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	stored, err := r.store.UpsertLeg(ctx, id, l)
	if err != nil {
		return 0, fmt.Errorf("cdr: leg of call %d: %w", id, err)
	}
	return stored.ID, nil
}

// Answer records that the call was answered at the time. Only the first answer counts; it
// publishes call.answered. An ended call is ErrEnded.
func (r *Recorder) Answer(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("cdr: answer call %d: %w: answer time is zero", id, ErrInvalid)
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	rec, err := r.store.AnswerCDR(ctx, id, at)
	if err != nil {
		return fmt.Errorf("cdr: answer call %d: %w", id, err)
	}
	r.mu.Lock()
	c := r.live[id]
	first := c == nil || !c.answered
	if c != nil {
		c.answered = true
	}
	r.mu.Unlock()
	if first {
		r.publish(EventAnswered, *rec.AnsweredAt, rec)
	}
	return nil
}

// End completes the record: the durations are computed from the stored times. It publishes
// call.ended and counts the call. A call that has ended already (for example closed by
// Shutdown a moment before) is ErrEnded and changes nothing.
func (r *Recorder) End(ctx context.Context, id int64, e End) error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("cdr: end call %d: %w", id, err)
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	rec, err := r.store.EndCDR(ctx, id, e)
	if err != nil {
		if errors.Is(err, ErrEnded) {
			r.forget(id) // whoever ended it counted it
		}
		return fmt.Errorf("cdr: end call %d: %w", id, err)
	}
	r.ended(rec)
	return nil
}

// Recover closes the records of this node that a previous process left open (it crashed or
// was killed), as Failed with ReasonStopped, hung up by BySystem, ended at now, and returns
// how many. Call it once at start, before the engine takes calls.
func (r *Recorder) Recover(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := writeContext(ctx)
	defer cancel()
	recs, err := r.store.CloseOpenCDRs(ctx, r.node, now, ReasonStopped)
	if err != nil {
		return 0, fmt.Errorf("cdr: recover open records: %w", err)
	}
	for _, rec := range recs {
		r.ended(rec)
	}
	if len(recs) > 0 {
		r.log.Warn("closed call records left open by an unclean stop", "records", len(recs), "node", r.node)
	}
	return len(recs), nil
}

// Shutdown closes the records of the calls still live in this Recorder the way Recover
// does, and returns how many. Call it when stopping, after the engine has ended what it
// could: a call the engine ended first keeps its own ending, and an End that comes after
// Shutdown is ErrEnded.
func (r *Recorder) Shutdown(ctx context.Context, now time.Time) (int, error) {
	r.mu.Lock()
	ids := slices.Sorted(maps.Keys(r.live))
	r.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := writeContext(ctx)
	defer cancel()
	recs, err := r.store.CloseCDRs(ctx, ids, now, ReasonStopped)
	if err != nil {
		return 0, fmt.Errorf("cdr: close live records: %w", err)
	}
	for _, rec := range recs {
		r.ended(rec)
	}
	r.log.Info("closed the records of live calls on stop", "records", len(recs))
	return len(recs), nil
}

// Active is the number of calls started by this Recorder and not ended yet.
func (r *Recorder) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

func (r *Recorder) ended(rec Record) {
	r.forget(rec.ID)
	r.metrics.total.WithLabelValues(string(rec.Direction), string(rec.Disposition)).Inc()
	r.publish(EventEnded, *rec.EndedAt, rec)
}

func (r *Recorder) forget(id int64) {
	r.mu.Lock()
	delete(r.live, id)
	r.metrics.active.Set(float64(len(r.live)))
	r.mu.Unlock()
}

func (r *Recorder) publish(typ string, at time.Time, rec Record) {
	r.bus.Publish(event.Event{Type: typ, Time: at, CallID: rec.CallID, Data: rec})
}

// writeContext keeps the caller's values but not its cancellation, with writeTimeout.
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
}
