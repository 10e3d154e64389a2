package cdr_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
)

// The SQL store is what the call engine records through.
var _ cdr.Store = (*store.DB)(nil)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// rig is a Recorder on a real SQLite store in a temp dir, with a bus subscription and its
// own metrics registry.
type rig struct {
	t    *testing.T
	dir  string
	db   *store.DB
	bus  *event.Bus
	sub  *event.Subscription
	reg  *prometheus.Registry
	rec  *cdr.Recorder
	node string
}

func newRig(t *testing.T, dir string, opts ...cdr.Option) *rig {
	t.Helper()
	db, err := store.Open(t.Context(), "", dir)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, dir: dir, db: db, bus: event.NewBus(), reg: prometheus.NewRegistry()}
	r.sub = r.bus.Subscribe(1024, nil)
	t.Cleanup(r.sub.Close)
	r.rec, err = cdr.NewRecorder(db, r.bus, r.reg, opts...)
	require.NoError(t, err)
	return r
}

func (r *rig) get(id int64) cdr.Record {
	r.t.Helper()
	rec, err := r.db.GetCDR(r.t.Context(), id)
	require.NoError(r.t, err)
	return rec
}

// events drains what the bus delivered so far.
func (r *rig) events() []event.Event {
	var out []event.Event
	for {
		select {
		case e := <-r.sub.C:
			out = append(out, e)
		default:
			return out
		}
	}
}

// metric reads one series from the registry: name and label pairs.
func (r *rig) metric(name string, labels ...string) float64 {
	r.t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	mfs, err := r.reg.Gather()
	require.NoError(r.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	r.t.Fatalf("no series %s%v", name, labels)
	return 0
}

func (r *rig) total(dir cdr.Direction, disp cdr.Disposition) float64 {
	return r.metric("centrala_calls_total", "direction", string(dir), "disposition", string(disp))
}

func inbound(at time.Time, callID string) cdr.Start {
	return cdr.Start{At: at, CallID: callID, Direction: cdr.Inbound, Caller: "+48600100200", Callee: "201",
		DID: "+48225550100", CLIP: ptr("+48600100200"), TrunkID: ptr(int64(1)), UserID: ptr(int64(2))}
}

// One call at a time through the whole lifecycle, as the engine drives it.
func TestRecorderLifecycle(t *testing.T) {
	tests := []struct {
		name     string
		answer   *time.Duration // after the start
		end      cdr.End        // At is an offset from the start
		duration int64
		billsec  int64
	}{
		{name: "answered", answer: ptr(4 * time.Second),
			end:      cdr.End{At: t0.Add(64*time.Second + 600*time.Millisecond), Disposition: cdr.Answered, SIPCode: 200, SIPReason: "OK", HangupBy: cdr.ByCaller},
			duration: 65, billsec: 61},
		{name: "no answer",
			end:      cdr.End{At: t0.Add(30 * time.Second), Disposition: cdr.NoAnswer, SIPCode: 480, SIPReason: "Temporarily Unavailable", HangupBy: cdr.BySystem},
			duration: 30},
		{name: "busy",
			end:      cdr.End{At: t0.Add(1200 * time.Millisecond), Disposition: cdr.Busy, SIPCode: 486, SIPReason: "Busy Here", HangupBy: cdr.ByCallee},
			duration: 1},
		{name: "cancelled",
			end:      cdr.End{At: t0.Add(7500 * time.Millisecond), Disposition: cdr.Cancelled, SIPCode: 487, SIPReason: "Request Terminated", HangupBy: cdr.ByCaller},
			duration: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, t.TempDir())
			ctx := t.Context()
			require.Zero(t, r.metric("centrala_calls_active"))

			id, err := r.rec.Start(ctx, inbound(t0, "call-1@trunk"))
			require.NoError(t, err)
			require.Equal(t, 1.0, r.metric("centrala_calls_active"))
			require.Equal(t, 1, r.rec.Active())
			live := r.get(id)
			require.True(t, live.Live())
			require.Equal(t, "call-1@trunk", live.CallID)

			legID, err := r.rec.Leg(ctx, id, cdr.Leg{Kind: cdr.LegCaller, Peer: "provider", TrunkID: ptr(int64(1)),
				CallID: "call-1@trunk", StartedAt: t0})
			require.NoError(t, err)
			if tc.answer != nil {
				require.NoError(t, r.rec.Answer(ctx, id, t0.Add(*tc.answer)))
				require.NoError(t, r.rec.Answer(ctx, id, t0.Add(*tc.answer+time.Second)), "a second answer changes nothing")
			}
			require.NoError(t, r.rec.End(ctx, id, tc.end))

			got := r.get(id)
			require.Equal(t, tc.end.At, *got.EndedAt)
			require.Equal(t, tc.duration, got.DurationS)
			require.Equal(t, tc.billsec, got.BillsecS)
			require.Equal(t, tc.end.Disposition, got.Disposition)
			require.Equal(t, tc.end.SIPCode, got.SIPCode)
			require.Equal(t, tc.end.SIPReason, got.SIPReason)
			require.Equal(t, tc.end.HangupBy, got.HangupBy)
			require.Len(t, got.Legs, 1)
			require.Equal(t, legID, got.Legs[0].ID)
			require.Equal(t, tc.end.At, *got.Legs[0].EndedAt, "the open leg ended with the call")

			require.Zero(t, r.metric("centrala_calls_active"))
			require.Equal(t, 1.0, r.total(cdr.Inbound, tc.end.Disposition))
			require.Zero(t, r.total(cdr.Outbound, tc.end.Disposition))

			// call.started, call.answered once (if answered), call.ended; CallID set, the
			// record as data, the time of the step.
			evs := r.events()
			want := []string{cdr.EventStarted}
			if tc.answer != nil {
				want = append(want, cdr.EventAnswered)
			}
			want = append(want, cdr.EventEnded)
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
				require.Equal(t, "call-1@trunk", e.CallID)
				require.Equal(t, id, e.Data.(cdr.Record).ID)
			}
			require.Equal(t, want, types)
			require.Equal(t, t0, evs[0].Time)
			last := evs[len(evs)-1]
			require.Equal(t, tc.end.At, last.Time)
			require.Equal(t, got, last.Data.(cdr.Record), "call.ended carries the complete record")
			if tc.answer != nil {
				require.Equal(t, t0.Add(*tc.answer), evs[1].Time)
			}

			// Ended is ended.
			err = r.rec.End(ctx, id, cdr.End{At: t0.Add(time.Hour), Disposition: cdr.Failed, HangupBy: cdr.BySystem})
			require.ErrorIs(t, err, cdr.ErrEnded)
			require.ErrorIs(t, r.rec.Answer(ctx, id, t0.Add(time.Hour)), cdr.ErrEnded)
			require.Equal(t, got, r.get(id))
			require.Equal(t, 1.0, r.total(cdr.Inbound, tc.end.Disposition), "counted once")
			require.Empty(t, r.events())
		})
	}
}

func TestRecorderLegs(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	id, err := r.rec.Start(ctx, cdr.Start{At: t0, CallID: "int-1", Direction: cdr.Internal, Caller: "201",
		Callee: "202", CLIP: ptr("201"), UserID: ptr(int64(1))})
	require.NoError(t, err)
	caller := cdr.Leg{Kind: cdr.LegCaller, Peer: "anna-desk", UserID: ptr(int64(1)), CallID: "int-1", StartedAt: t0}
	caller.ID, err = r.rec.Leg(ctx, id, caller)
	require.NoError(t, err)
	// Bob has two devices: both ring, the mobile answers, the desk gets CANCEL.
	desk := cdr.Leg{Kind: cdr.LegCallee, Peer: "bob-desk", UserID: ptr(int64(2)), CallID: "b-1", StartedAt: t0.Add(50 * time.Millisecond)}
	mobile := cdr.Leg{Kind: cdr.LegCallee, Peer: "bob-mobile", UserID: ptr(int64(2)), CallID: "b-2", StartedAt: t0.Add(60 * time.Millisecond)}
	desk.ID, err = r.rec.Leg(ctx, id, desk)
	require.NoError(t, err)
	mobile.ID, err = r.rec.Leg(ctx, id, mobile)
	require.NoError(t, err)
	answer := t0.Add(3 * time.Second)
	mobile.AnsweredAt, mobile.SIPCode, mobile.SIPReason = &answer, 200, "OK"
	_, err = r.rec.Leg(ctx, id, mobile)
	require.NoError(t, err)
	require.NoError(t, r.rec.Answer(ctx, id, answer))
	desk.EndedAt, desk.SIPCode, desk.SIPReason = &answer, 487, "Request Terminated"
	_, err = r.rec.Leg(ctx, id, desk)
	require.NoError(t, err)
	end := t0.Add(33 * time.Second)
	require.NoError(t, r.rec.End(ctx, id, cdr.End{At: end, Disposition: cdr.Answered, SIPCode: 200, SIPReason: "OK", HangupBy: cdr.ByCallee}))
	// The engine finishes the legs after the record (teardown order does not matter).
	mobile.EndedAt = ptr(end.Add(20 * time.Millisecond))
	_, err = r.rec.Leg(ctx, id, mobile)
	require.NoError(t, err)

	got := r.get(id)
	require.Len(t, got.Legs, 3)
	require.Equal(t, []string{"anna-desk", "bob-desk", "bob-mobile"}, []string{got.Legs[0].Peer, got.Legs[1].Peer, got.Legs[2].Peer})
	require.Equal(t, end, *got.Legs[0].EndedAt)
	require.Equal(t, 487, got.Legs[1].SIPCode)
	require.Equal(t, answer, *got.Legs[1].EndedAt)
	require.Equal(t, *mobile.EndedAt, *got.Legs[2].EndedAt)
	require.Equal(t, answer, *got.Legs[2].AnsweredAt)
	for _, l := range got.Legs {
		require.Equal(t, id, l.CDRID)
	}

	// Bad legs and unknown records.
	_, err = r.rec.Leg(ctx, id, cdr.Leg{Kind: "monitor", StartedAt: t0})
	require.ErrorIs(t, err, cdr.ErrInvalid)
	_, err = r.rec.Leg(ctx, id, cdr.Leg{Kind: cdr.LegCallee})
	require.ErrorIs(t, err, cdr.ErrInvalid)
	_, err = r.rec.Leg(ctx, id+100, cdr.Leg{Kind: cdr.LegCallee, StartedAt: t0})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestRecorderRefusesInvalid(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	for name, s := range map[string]cdr.Start{
		"no time":       {Direction: cdr.Internal},
		"no direction":  {At: t0},
		"bad direction": {At: t0, Direction: "sideways"},
	} {
		_, err := r.rec.Start(ctx, s)
		require.ErrorIs(t, err, cdr.ErrInvalid, name)
	}
	id, err := r.rec.Start(ctx, inbound(t0, "x"))
	require.NoError(t, err)
	for name, e := range map[string]cdr.End{
		"no time":        {Disposition: cdr.Failed, HangupBy: cdr.BySystem},
		"no disposition": {At: t0, HangupBy: cdr.BySystem},
		"bad hangup_by":  {At: t0, Disposition: cdr.Failed, HangupBy: "nobody"},
		"bad sip code":   {At: t0, Disposition: cdr.Failed, HangupBy: cdr.BySystem, SIPCode: 99},
	} {
		require.ErrorIs(t, r.rec.End(ctx, id, e), cdr.ErrInvalid, name)
	}
	stay := func(f func(*cdr.QueueStay)) cdr.End {
		s := cdr.QueueStay{QueueID: 1, JoinedAt: t0, LeftAt: t0.Add(time.Second), Exit: "answered",
			AnsweredBy: ptr(int64(2)), Offers: []cdr.QueueOffer{{UserID: 2, OfferedAt: t0, Outcome: "answered"}}}
		f(&s)
		return cdr.End{At: t0, Disposition: cdr.Answered, HangupBy: cdr.ByCaller, Queues: []cdr.QueueStay{s}}
	}
	for name, e := range map[string]cdr.End{
		"queue id":         stay(func(s *cdr.QueueStay) { s.QueueID = 0 }),
		"exit":             stay(func(s *cdr.QueueStay) { s.Exit = "lost" }),
		"no exit":          stay(func(s *cdr.QueueStay) { s.Exit = "" }),
		"left before join": stay(func(s *cdr.QueueStay) { s.LeftAt = t0.Add(-time.Millisecond) }),
		"no join time":     stay(func(s *cdr.QueueStay) { s.JoinedAt = time.Time{} }),
		"answered_by":      stay(func(s *cdr.QueueStay) { s.AnsweredBy = ptr(int64(0)) }),
		"negative talk":    stay(func(s *cdr.QueueStay) { s.TalkMS = -1 }),
		"offer user":       stay(func(s *cdr.QueueStay) { s.Offers[0].UserID = 0 }),
		"offer outcome":    stay(func(s *cdr.QueueStay) { s.Offers[0].Outcome = "missed" }),
		"offer time":       stay(func(s *cdr.QueueStay) { s.Offers[0].OfferedAt = time.Time{} }),
	} {
		require.ErrorIs(t, r.rec.End(ctx, id, e), cdr.ErrInvalid, name)
	}
	require.ErrorIs(t, r.rec.Answer(ctx, id, time.Time{}), cdr.ErrInvalid)
	require.True(t, r.get(id).Live())
	require.Equal(t, 1, r.rec.Active())

	_, err = cdr.NewRecorder(nil, event.NewBus(), nil)
	require.Error(t, err)
	_, err = cdr.NewRecorder(r.db, nil, nil)
	require.Error(t, err)
	_, err = cdr.NewRecorder(r.db, r.bus, r.reg) // the same collectors twice
	require.Error(t, err)
}

// Every exit and outcome of package queue is a valid stay, and reads back as written.
func TestRecorderQueueStays(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	id, err := r.rec.Start(ctx, inbound(t0, "q"))
	require.NoError(t, err)
	var stays []cdr.QueueStay
	for i, x := range queue.Exits {
		joined := t0.Add(time.Duration(i) * time.Minute)
		s := cdr.QueueStay{QueueID: int64(i + 1), JoinedAt: joined, LeftAt: joined.Add(time.Second), WaitMS: 1000,
			Exit: string(x), Offers: []cdr.QueueOffer{}}
		if x == queue.ExitAnswered {
			s.AnsweredBy, s.TalkMS = ptr(int64(9)), 5000
			for j, o := range queue.Outcomes {
				s.Offers = append(s.Offers, cdr.QueueOffer{UserID: int64(10 + j), OfferedAt: joined.Add(time.Duration(j) * time.Millisecond),
					RingMS: int64(j), Outcome: string(o)})
			}
		}
		stays = append(stays, s)
	}
	require.NoError(t, r.rec.End(ctx, id, cdr.End{At: t0.Add(time.Hour), Disposition: cdr.Answered,
		HangupBy: cdr.ByCaller, Queues: stays}))
	require.Equal(t, stays, r.get(id).Queues)
}

// The engine records a hangup with the call's context, which the hangup cancels.
func TestRecorderWritesAfterCancel(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	id, err := r.rec.Start(ctx, inbound(t0, "x"))
	require.NoError(t, err)
	cancel()
	require.NoError(t, r.rec.End(ctx, id, cdr.End{At: t0.Add(time.Second), Disposition: cdr.Cancelled, SIPCode: 487, HangupBy: cdr.ByCaller}))
	require.Equal(t, cdr.Cancelled, r.get(id).Disposition)
}

// A process dies with calls up; the next one, on the same database file, closes them.
func TestRecoverAfterCrash(t *testing.T) {
	dir := t.TempDir()
	first := newRig(t, dir)
	ctx := t.Context()
	ringing, err := first.rec.Start(ctx, inbound(t0, "ringing"))
	require.NoError(t, err)
	talking, err := first.rec.Start(ctx, inbound(t0, "talking"))
	require.NoError(t, err)
	legID, err := first.rec.Leg(ctx, talking, cdr.Leg{Kind: cdr.LegCaller, Peer: "provider", StartedAt: t0})
	require.NoError(t, err)
	require.NoError(t, first.rec.Answer(ctx, talking, t0.Add(10*time.Second)))
	done, err := first.rec.Start(ctx, cdr.Start{At: t0, CallID: "done", Direction: cdr.Outbound, Caller: "201", Callee: "+4860"})
	require.NoError(t, err)
	require.NoError(t, first.rec.End(ctx, done, cdr.End{At: t0.Add(5 * time.Second), Disposition: cdr.Rejected, SIPCode: 403, SIPReason: "Forbidden", HangupBy: cdr.BySystem}))
	doneRec := first.get(done)
	// Another node's live call on the same database is not ours to close.
	other := newRig(t, dir, cdr.WithNode("node-b"))
	elsewhere, err := other.rec.Start(ctx, inbound(t0, "elsewhere"))
	require.NoError(t, err)
	// The crash: no Shutdown, the database just goes.
	require.NoError(t, first.db.Close())

	second := newRig(t, dir)
	now := t0.Add(2 * time.Minute)
	n, err := second.rec.Recover(ctx, now)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, id := range []int64{ringing, talking} {
		got := second.get(id)
		require.Equal(t, now, *got.EndedAt)
		require.Equal(t, cdr.Failed, got.Disposition)
		require.Equal(t, "server stopped", got.SIPReason)
		require.Equal(t, cdr.BySystem, got.HangupBy)
		require.Equal(t, int64(120), got.DurationS)
	}
	talk := second.get(talking)
	require.Equal(t, int64(110), talk.BillsecS)
	require.Equal(t, 200, talk.SIPCode)
	require.Equal(t, legID, talk.Legs[0].ID)
	require.Equal(t, now, *talk.Legs[0].EndedAt)
	require.Equal(t, doneRec, second.get(done), "an ended call is left as it was")
	require.True(t, second.get(elsewhere).Live())

	require.Equal(t, 2.0, second.total(cdr.Inbound, cdr.Failed))
	require.Zero(t, second.metric("centrala_calls_active"))
	var ended []int64
	for _, e := range second.events() {
		require.Equal(t, cdr.EventEnded, e.Type)
		ended = append(ended, e.Data.(cdr.Record).ID)
	}
	require.Equal(t, []int64{ringing, talking}, ended)

	// Recovering twice finds nothing.
	n, err = second.rec.Recover(ctx, now)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestShutdown(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	live1, err := r.rec.Start(ctx, inbound(t0, "live-1"))
	require.NoError(t, err)
	live2, err := r.rec.Start(ctx, cdr.Start{At: t0.Add(time.Second), CallID: "live-2", Direction: cdr.Internal, Caller: "201", Callee: "202"})
	require.NoError(t, err)
	require.NoError(t, r.rec.Answer(ctx, live2, t0.Add(3*time.Second)))
	ended, err := r.rec.Start(ctx, inbound(t0, "ended"))
	require.NoError(t, err)
	require.NoError(t, r.rec.End(ctx, ended, cdr.End{At: t0.Add(20 * time.Second), Disposition: cdr.Answered, SIPCode: 200, SIPReason: "OK", HangupBy: cdr.ByCallee}))
	endedRec := r.get(ended)
	require.Equal(t, 2.0, r.metric("centrala_calls_active"))
	r.events()

	now := t0.Add(time.Minute)
	n, err := r.rec.Shutdown(ctx, now)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, id := range []int64{live1, live2} {
		got := r.get(id)
		require.Equal(t, now, *got.EndedAt)
		require.Equal(t, cdr.Failed, got.Disposition)
		require.Equal(t, cdr.ReasonStopped, got.SIPReason)
		require.Equal(t, cdr.BySystem, got.HangupBy)
	}
	require.Equal(t, int64(57), r.get(live2).BillsecS)
	require.Equal(t, endedRec, r.get(ended), "the engine's ending stands")
	require.Zero(t, r.metric("centrala_calls_active"))
	require.Zero(t, r.rec.Active())
	require.Equal(t, 1.0, r.total(cdr.Inbound, cdr.Failed))
	require.Equal(t, 1.0, r.total(cdr.Internal, cdr.Failed))
	require.Equal(t, 1.0, r.total(cdr.Inbound, cdr.Answered))
	require.Len(t, r.events(), 2)

	// The engine's late End finds the call closed; nothing is counted twice.
	err = r.rec.End(ctx, live1, cdr.End{At: now.Add(time.Second), Disposition: cdr.Answered, HangupBy: cdr.ByCaller})
	require.ErrorIs(t, err, cdr.ErrEnded)
	require.Equal(t, 1.0, r.total(cdr.Inbound, cdr.Failed))
	require.Equal(t, 1.0, r.total(cdr.Inbound, cdr.Answered))

	n, err = r.rec.Shutdown(ctx, now)
	require.NoError(t, err)
	require.Zero(t, n)
}

// Calls end while Shutdown runs: each is closed exactly once, by one or the other.
func TestShutdownRacesEnd(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	const calls = 40
	ids := make([]int64, calls)
	for i := range ids {
		var err error
		ids[i], err = r.rec.Start(ctx, cdr.Start{At: t0, CallID: fmt.Sprint(i), Direction: cdr.Outbound})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			err := r.rec.End(ctx, id, cdr.End{At: t0.Add(time.Second), Disposition: cdr.Busy, SIPCode: 486, HangupBy: cdr.ByCallee})
			if err != nil {
				assert.ErrorIs(t, err, cdr.ErrEnded)
			}
		})
	}
	closed, err := r.rec.Shutdown(ctx, t0.Add(time.Minute))
	require.NoError(t, err)
	wg.Wait()
	busy := r.total(cdr.Outbound, cdr.Busy)
	require.Equal(t, float64(calls), busy+r.total(cdr.Outbound, cdr.Failed))
	require.Equal(t, float64(closed), r.total(cdr.Outbound, cdr.Failed))
	require.Zero(t, r.metric("centrala_calls_active"))
	recs, err := r.db.ListCDRs(ctx, store.CDRFilter{})
	require.NoError(t, err)
	require.Len(t, recs, calls)
	for _, rec := range recs {
		require.False(t, rec.Live())
	}
	require.Len(t, r.events(), 2*calls)
}

// Many calls at once through one Recorder (run with -race).
func TestRecorderConcurrent(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	var wg sync.WaitGroup
	const calls = 50
	for i := range calls {
		wg.Go(func() {
			start := t0.Add(time.Duration(i) * time.Second)
			id, err := r.rec.Start(ctx, cdr.Start{At: start, CallID: fmt.Sprint(i), Direction: cdr.Internal, Caller: "201", Callee: "202"})
			if !assert.NoError(t, err) {
				return
			}
			_, err = r.rec.Leg(ctx, id, cdr.Leg{Kind: cdr.LegCaller, Peer: "anna", StartedAt: start})
			assert.NoError(t, err)
			disp := cdr.NoAnswer
			if i%2 == 0 {
				assert.NoError(t, r.rec.Answer(ctx, id, start.Add(time.Second)))
				disp = cdr.Answered
			}
			assert.NoError(t, r.rec.End(ctx, id, cdr.End{At: start.Add(10 * time.Second), Disposition: disp, HangupBy: cdr.ByCaller}))
		})
	}
	wg.Wait()
	require.Zero(t, r.metric("centrala_calls_active"))
	require.Equal(t, float64(calls/2), r.total(cdr.Internal, cdr.Answered))
	require.Equal(t, float64(calls/2), r.total(cdr.Internal, cdr.NoAnswer))
	require.Len(t, r.events(), calls*2+calls/2)
}
