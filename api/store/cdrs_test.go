package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/cdr"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func insertCDR(t *testing.T, db *DB, r cdr.Record) cdr.Record {
	t.Helper()
	if r.Direction == "" {
		r.Direction = cdr.Internal
	}
	got, err := db.InsertCDR(context.Background(), r)
	require.NoError(t, err)
	return got
}

// bulkCDRs inserts n live internal records started a millisecond apart from start in one
// statement (the per-call path commits each), and returns their ids in order.
func bulkCDRs(t *testing.T, db *DB, n int, start time.Time) []int64 {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), `INSERT INTO cdrs (direction, call_id, started_at)
		WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
		SELECT 'internal', 'bulk-' || i, ? + i FROM seq RETURNING id`, n, millis(start))
	require.NoError(t, err)
	ids, err := collect(rows, func(r rowScanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
	require.NoError(t, err)
	slices.Sort(ids)
	require.Len(t, ids, n)
	return ids
}

func endCDR(t *testing.T, db *DB, id int64, e cdr.End) cdr.Record {
	t.Helper()
	got, err := db.EndCDR(context.Background(), id, e)
	require.NoError(t, err)
	return got
}

func TestCDRLifecycle(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()

	r := insertCDR(t, db, cdr.Record{StartedAt: t0.Add(123456 * time.Microsecond), CallID: "a1@pbx",
		Direction: cdr.Outbound, Caller: "201", Callee: "+48221234567", CLIP: ptr("+48225550100"),
		TrunkID: ptr(int64(7)), UserID: ptr(int64(3)), Node: "n1"})
	require.NotZero(t, r.ID)
	require.Equal(t, t0.Add(123*time.Millisecond), r.StartedAt, "milliseconds, UTC")
	require.True(t, r.Live())
	require.Nil(t, r.AnsweredAt)
	require.Empty(t, r.Disposition)
	require.Empty(t, r.HangupBy)
	require.Equal(t, []cdr.Leg{}, r.Legs)
	require.Equal(t, "n1", r.Node)

	caller, err := db.UpsertLeg(ctx, r.ID, cdr.Leg{Kind: cdr.LegCaller, Peer: "anna-desk", UserID: ptr(int64(3)),
		CallID: "a1@pbx", StartedAt: t0})
	require.NoError(t, err)
	require.NotZero(t, caller.ID)
	require.Equal(t, r.ID, caller.CDRID)
	trunk, err := db.UpsertLeg(ctx, r.ID, cdr.Leg{Kind: cdr.LegCallee, Peer: "provider", TrunkID: ptr(int64(7)),
		CallID: "b1@pbx", StartedAt: t0.Add(time.Second)})
	require.NoError(t, err)

	answered, err := db.AnswerCDR(ctx, r.ID, t0.Add(5*time.Second))
	require.NoError(t, err)
	require.Equal(t, t0.Add(5*time.Second), *answered.AnsweredAt)
	require.Len(t, answered.Legs, 2)
	// Only the first answer counts.
	again, err := db.AnswerCDR(ctx, r.ID, t0.Add(9*time.Second))
	require.NoError(t, err)
	require.Equal(t, t0.Add(5*time.Second), *again.AnsweredAt)

	trunk.AnsweredAt, trunk.SIPCode, trunk.SIPReason = ptr(t0.Add(5*time.Second)), 200, "OK"
	updated, err := db.UpsertLeg(ctx, r.ID, trunk)
	require.NoError(t, err)
	require.Equal(t, trunk, updated)

	ended := endCDR(t, db, r.ID, cdr.End{At: t0.Add(65*time.Second + 400*time.Millisecond), Disposition: cdr.Answered,
		SIPCode: 200, SIPReason: "OK", HangupBy: cdr.ByCallee})
	require.Equal(t, int64(65), ended.DurationS) // 65.4 s from the start
	require.Equal(t, int64(60), ended.BillsecS)  // 60.4 s from the answer
	require.Equal(t, cdr.Answered, ended.Disposition)
	require.Equal(t, cdr.ByCallee, ended.HangupBy)
	require.Equal(t, 200, ended.SIPCode)
	require.False(t, ended.Live())
	// The legs still open end with the call.
	require.Len(t, ended.Legs, 2)
	for _, l := range ended.Legs {
		require.Equal(t, *ended.EndedAt, *l.EndedAt)
	}

	got, err := db.GetCDR(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, ended, got)
	requireUTC(t, got.StartedAt, *got.AnsweredAt, *got.EndedAt, got.Legs[0].StartedAt)

	// An ended record does not change again; a leg still may (teardown order).
	_, err = db.EndCDR(ctx, r.ID, cdr.End{At: t0.Add(time.Hour), Disposition: cdr.Failed, HangupBy: cdr.BySystem})
	require.ErrorIs(t, err, cdr.ErrEnded)
	_, err = db.AnswerCDR(ctx, r.ID, t0)
	require.ErrorIs(t, err, cdr.ErrEnded)
	caller.EndedAt, caller.SIPCode = ptr(t0.Add(66*time.Second)), 200
	_, err = db.UpsertLeg(ctx, r.ID, caller)
	require.NoError(t, err)
	got, err = db.GetCDR(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, ended.EndedAt, got.EndedAt)
	require.Equal(t, t0.Add(66*time.Second), *got.Legs[0].EndedAt)

	// Unknown ids.
	_, err = db.GetCDR(ctx, 999)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.AnswerCDR(ctx, 999, t0)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.EndCDR(ctx, 999, cdr.End{At: t0, Disposition: cdr.Failed, HangupBy: cdr.BySystem})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.UpsertLeg(ctx, 999, cdr.Leg{Kind: cdr.LegCaller, StartedAt: t0})
	require.ErrorIs(t, err, ErrNotFound)
	other := insertCDR(t, db, cdr.Record{StartedAt: t0})
	_, err = db.UpsertLeg(ctx, other.ID, caller) // a leg of another record
	require.ErrorIs(t, err, ErrNotFound)

	// The schema refuses what the contract does not know.
	_, err = db.InsertCDR(ctx, cdr.Record{StartedAt: t0, Direction: "sideways"})
	require.Error(t, err)
	_, err = db.EndCDR(ctx, other.ID, cdr.End{At: t0, Disposition: "maybe", HangupBy: cdr.BySystem})
	require.Error(t, err)
	require.NotErrorIs(t, err, cdr.ErrEnded)
}

// Durations are whole seconds rounded half up, and never negative.
func TestCDRDurations(t *testing.T) {
	db := openTest(t)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name              string
		answer            *time.Duration // after the start
		end               time.Duration  // after the start
		duration, billsec int64
	}{
		{name: "unanswered", end: ms(30000), duration: 30},
		{name: "just under half", end: ms(1499), duration: 1},
		{name: "half rounds up", end: ms(1500), duration: 2},
		{name: "under half a second", end: ms(499), duration: 0},
		{name: "answered", answer: ptr(ms(4200)), end: ms(64700), duration: 65, billsec: 61},
		{name: "answered at the end", answer: ptr(ms(3000)), end: ms(3000), duration: 3, billsec: 0},
		{name: "end before start (clock step)", end: -ms(2000), duration: 0},
		{name: "end before answer", answer: ptr(ms(5000)), end: ms(4000), duration: 4, billsec: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := insertCDR(t, db, cdr.Record{StartedAt: t0})
			if tc.answer != nil {
				_, err := db.AnswerCDR(context.Background(), r.ID, t0.Add(*tc.answer))
				require.NoError(t, err)
			}
			got := endCDR(t, db, r.ID, cdr.End{At: t0.Add(tc.end), Disposition: cdr.NoAnswer, HangupBy: cdr.BySystem})
			require.Equal(t, tc.duration, got.DurationS, "duration_s")
			require.Equal(t, tc.billsec, got.BillsecS, "billsec_s")
		})
	}
}

func TestCloseCDRs(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	live := insertCDR(t, db, cdr.Record{StartedAt: t0, Node: "a", CallID: "live"})
	talking := insertCDR(t, db, cdr.Record{StartedAt: t0, Node: "a", CallID: "talking"})
	_, err := db.AnswerCDR(ctx, talking.ID, t0.Add(10*time.Second))
	require.NoError(t, err)
	leg, err := db.UpsertLeg(ctx, talking.ID, cdr.Leg{Kind: cdr.LegCaller, StartedAt: t0})
	require.NoError(t, err)
	done, err := db.UpsertLeg(ctx, talking.ID, cdr.Leg{Kind: cdr.LegCallee, StartedAt: t0, EndedAt: ptr(t0.Add(time.Second)), SIPCode: 486})
	require.NoError(t, err)
	ended := insertCDR(t, db, cdr.Record{StartedAt: t0, Node: "a"})
	ended = endCDR(t, db, ended.ID, cdr.End{At: t0.Add(time.Second), Disposition: cdr.Busy, SIPCode: 486, SIPReason: "Busy Here", HangupBy: cdr.ByCallee})
	otherNode := insertCDR(t, db, cdr.Record{StartedAt: t0, Node: "b"})

	at := t0.Add(time.Minute)
	closed, err := db.CloseOpenCDRs(ctx, "a", at, cdr.ReasonStopped)
	require.NoError(t, err)
	require.Len(t, closed, 2)
	require.Equal(t, live.ID, closed[0].ID)
	require.Equal(t, talking.ID, closed[1].ID)
	for _, r := range closed {
		require.Equal(t, at, *r.EndedAt)
		require.Equal(t, cdr.Failed, r.Disposition)
		require.Equal(t, cdr.BySystem, r.HangupBy)
		require.Equal(t, "server stopped", r.SIPReason)
		require.Equal(t, int64(60), r.DurationS)
	}
	require.Equal(t, 0, closed[0].SIPCode)
	require.Equal(t, 200, closed[1].SIPCode, "answered: the INVITE's final response was 200")
	require.Equal(t, int64(50), closed[1].BillsecS)
	require.Len(t, closed[1].Legs, 2)
	require.Equal(t, leg.ID, closed[1].Legs[0].ID)
	require.Equal(t, at, *closed[1].Legs[0].EndedAt, "open leg ends with the call")
	require.Equal(t, *done.EndedAt, *closed[1].Legs[1].EndedAt, "ended leg keeps its end")

	got, err := db.GetCDR(ctx, ended.ID)
	require.NoError(t, err)
	require.Equal(t, ended, got, "an ended record is left as it is")
	got, err = db.GetCDR(ctx, otherNode.ID)
	require.NoError(t, err)
	require.True(t, got.Live(), "another node's call is not ours to close")

	// Again: nothing left open on node a.
	closed, err = db.CloseOpenCDRs(ctx, "a", at, cdr.ReasonStopped)
	require.NoError(t, err)
	require.Empty(t, closed)

	// By id: only the live ones among them, across chunks of the IN list.
	ids := []int64{ended.ID, otherNode.ID}
	ids = append(ids, bulkCDRs(t, db, maxParams+10, t0)...)
	closed, err = db.CloseCDRs(ctx, ids, at, cdr.ReasonStopped)
	require.NoError(t, err)
	require.Len(t, closed, len(ids)-1)
	require.Equal(t, otherNode.ID, closed[0].ID)
	got, err = db.GetCDR(ctx, ended.ID)
	require.NoError(t, err)
	require.Equal(t, ended, got)
}

func TestListCDRs(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	type call struct {
		name string
		rec  cdr.Record
		end  *cdr.End
		legs []cdr.Leg
	}
	calls := []call{
		{name: "internal answered", rec: cdr.Record{StartedAt: at(0), Direction: cdr.Internal, Caller: "201", Callee: "202", CLIP: ptr("201"), UserID: ptr(int64(1))},
			end:  &cdr.End{At: at(1), Disposition: cdr.Answered, SIPCode: 200, HangupBy: cdr.ByCaller},
			legs: []cdr.Leg{{Kind: cdr.LegCaller, Peer: "anna", UserID: ptr(int64(1)), StartedAt: at(0)}, {Kind: cdr.LegCallee, Peer: "bob", UserID: ptr(int64(2)), StartedAt: at(0)}}},
		{name: "inbound busy", rec: cdr.Record{StartedAt: at(10), Direction: cdr.Inbound, Caller: "+48600100200", Callee: "202", DID: "+48225550100", CLIP: ptr("+48600100200"), TrunkID: ptr(int64(1)), UserID: ptr(int64(2))},
			end: &cdr.End{At: at(11), Disposition: cdr.Busy, SIPCode: 486, HangupBy: cdr.ByCallee}},
		{name: "outbound withheld no answer", rec: cdr.Record{StartedAt: at(20), Direction: cdr.Outbound, Caller: "201", Callee: "+48600100200", TrunkID: ptr(int64(1)), UserID: ptr(int64(1))},
			end: &cdr.End{At: at(21), Disposition: cdr.NoAnswer, SIPCode: 480, HangupBy: cdr.BySystem}},
		{name: "inbound live", rec: cdr.Record{StartedAt: at(30), Direction: cdr.Inbound, Caller: "+48700", Callee: "203", DID: "+48225550101", CLIP: ptr("+48700"), TrunkID: ptr(int64(1)), UserID: ptr(int64(3))}},
		// Same start as the previous one: id breaks the tie.
		{name: "outbound cancelled", rec: cdr.Record{StartedAt: at(30), Direction: cdr.Outbound, Caller: "203", Callee: "+48225550100", CLIP: ptr("+48225550101"), TrunkID: ptr(int64(2)), UserID: ptr(int64(3))},
			end: &cdr.End{At: at(31), Disposition: cdr.Cancelled, SIPCode: 487, HangupBy: cdr.ByCaller}},
	}
	ids := map[string]int64{}
	for _, c := range calls {
		r := insertCDR(t, db, c.rec)
		ids[c.name] = r.ID
		for _, l := range c.legs {
			_, err := db.UpsertLeg(ctx, r.ID, l)
			require.NoError(t, err)
		}
		if c.end != nil {
			endCDR(t, db, r.ID, *c.end)
		}
	}
	names := func(recs []cdr.Record) []string {
		byID := map[int64]string{}
		for n, id := range ids {
			byID[id] = n
		}
		out := []string{}
		for _, r := range recs {
			out = append(out, byID[r.ID])
		}
		return out
	}
	all := []string{"outbound cancelled", "inbound live", "outbound withheld no answer", "inbound busy", "internal answered"}
	tests := []struct {
		name string
		f    CDRFilter
		want []string
	}{
		{name: "everything, newest first, id breaks ties", want: all},
		{name: "from is inclusive", f: CDRFilter{From: at(20)}, want: all[:3]},
		{name: "to is exclusive", f: CDRFilter{To: at(20)}, want: all[3:]},
		{name: "range", f: CDRFilter{From: at(5), To: at(30)}, want: []string{"outbound withheld no answer", "inbound busy"}},
		{name: "user of the record", f: CDRFilter{UserID: ptr(int64(3))}, want: []string{"outbound cancelled", "inbound live"}},
		{name: "user of a leg", f: CDRFilter{UserID: ptr(int64(2))}, want: []string{"inbound busy", "internal answered"}},
		{name: "unknown user", f: CDRFilter{UserID: ptr(int64(99))}, want: []string{}},
		{name: "number as caller or callee", f: CDRFilter{Number: "+48600100200"}, want: []string{"outbound withheld no answer", "inbound busy"}},
		{name: "number as did, callee or clip", f: CDRFilter{Number: "+48225550100"}, want: []string{"outbound cancelled", "inbound busy"}},
		{name: "number as clip or did", f: CDRFilter{Number: "+48225550101"}, want: []string{"outbound cancelled", "inbound live"}},
		{name: "number is exact", f: CDRFilter{Number: "48600100200"}, want: []string{}},
		{name: "direction", f: CDRFilter{Direction: cdr.Inbound}, want: []string{"inbound live", "inbound busy"}},
		{name: "disposition", f: CDRFilter{Disposition: cdr.Busy}, want: []string{"inbound busy"}},
		{name: "combined", f: CDRFilter{Direction: cdr.Outbound, UserID: ptr(int64(1)), From: at(10)}, want: []string{"outbound withheld no answer"}},
		{name: "limit", f: CDRFilter{Limit: 2}, want: all[:2]},
		{name: "offset", f: CDRFilter{Limit: 2, Offset: 2}, want: all[2:4]},
		{name: "offset past the end", f: CDRFilter{Offset: 10}, want: []string{}},
		{name: "negative offset is 0", f: CDRFilter{Offset: -1}, want: all},
		{name: "after a cursor", f: CDRFilter{After: &CDRCursor{StartedAt: at(30), ID: ids["outbound cancelled"]}}, want: all[1:]},
		{name: "after a cursor with limit", f: CDRFilter{After: &CDRCursor{StartedAt: at(30), ID: ids["inbound live"]}, Limit: 1}, want: all[2:3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := db.ListCDRs(ctx, tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.want, names(recs))
			for _, r := range recs {
				require.NotNil(t, r.Legs)
			}
		})
	}

	// The legs come with their records, in order.
	recs, err := db.ListCDRs(ctx, CDRFilter{Direction: cdr.Internal})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].Legs, 2)
	require.Equal(t, "anna", recs[0].Legs[0].Peer)
	require.Equal(t, "bob", recs[0].Legs[1].Peer)
	got, err := db.GetCDR(ctx, recs[0].ID)
	require.NoError(t, err)
	require.Equal(t, got, recs[0])
}

func TestListCDRsLimits(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i, id := range bulkCDRs(t, db, MaxCDRLimit+5, t0) {
		if i%100 == 0 {
			_, err := db.UpsertLeg(ctx, id, cdr.Leg{Kind: cdr.LegCaller, StartedAt: t0})
			require.NoError(t, err)
		}
	}
	recs, err := db.ListCDRs(ctx, CDRFilter{})
	require.NoError(t, err)
	require.Len(t, recs, DefaultCDRLimit)
	recs, err = db.ListCDRs(ctx, CDRFilter{Limit: MaxCDRLimit + 1})
	require.NoError(t, err)
	require.Len(t, recs, MaxCDRLimit)
	legs := 0
	for _, r := range recs {
		legs += len(r.Legs)
	}
	require.Equal(t, 10, legs, "legs of a page larger than one IN list")

	// Keyset paging visits every record once.
	seen := map[int64]bool{}
	f := CDRFilter{Limit: 300}
	for {
		page, err := db.ListCDRs(ctx, f)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			require.False(t, seen[r.ID])
			seen[r.ID] = true
		}
		last := page[len(page)-1]
		f.After = &CDRCursor{StartedAt: last.StartedAt, ID: last.ID}
	}
	require.Len(t, seen, MaxCDRLimit+5)
}

// A call's record is written with its caller's leg, and ended with every leg (the caller's
// updated, the callee's added) in one transaction; a leg left open is ended with the record.
func TestCDRLegsWrittenWithStartAndEnd(t *testing.T) {
	db := openTest(t)
	r := insertCDR(t, db, cdr.Record{StartedAt: t0, CallID: "c1", Direction: cdr.Internal, Caller: "201", Callee: "202",
		Legs: []cdr.Leg{{Kind: cdr.LegCaller, Peer: "alice", CallID: "c1", StartedAt: t0}}})
	require.Len(t, r.Legs, 1)
	caller := r.Legs[0]
	require.NotZero(t, caller.ID)
	caller.SIPCode, caller.SIPReason, caller.AnsweredAt = 200, "OK", ptr(t0.Add(time.Second))
	answered := cdr.Leg{Kind: cdr.LegCallee, Peer: "bob", CallID: "c1-b", StartedAt: t0, AnsweredAt: ptr(t0.Add(time.Second)), SIPCode: 200, SIPReason: "OK"}
	cancelled := cdr.Leg{Kind: cdr.LegCallee, Peer: "bob-2", CallID: "c1-c", StartedAt: t0, EndedAt: ptr(t0.Add(time.Second)), SIPCode: 487}
	got := endCDR(t, db, r.ID, cdr.End{At: t0.Add(time.Minute), Disposition: cdr.Answered, SIPCode: 200, HangupBy: cdr.ByCaller,
		Legs: []cdr.Leg{caller, answered, cancelled}})
	require.Len(t, got.Legs, 3)
	require.Equal(t, caller.ID, got.Legs[0].ID)
	require.Equal(t, 200, got.Legs[0].SIPCode)
	require.Equal(t, "bob", got.Legs[1].Peer)
	require.Equal(t, t0.Add(time.Minute), *got.Legs[1].EndedAt) // open: ended with the record
	require.Equal(t, t0.Add(time.Second), *got.Legs[2].EndedAt)
	// a leg of another record is refused, and nothing of the end is written
	other := insertCDR(t, db, cdr.Record{StartedAt: t0, CallID: "c2"})
	_, err := db.EndCDR(context.Background(), other.ID, cdr.End{At: t0.Add(time.Minute), Disposition: cdr.Failed,
		HangupBy: cdr.BySystem, Legs: []cdr.Leg{caller}})
	require.ErrorIs(t, err, ErrNotFound)
	still, err := db.GetCDR(context.Background(), other.ID)
	require.NoError(t, err)
	require.True(t, still.Live())
}
