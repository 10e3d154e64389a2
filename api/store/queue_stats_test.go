package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/queue"
)

// Queue stays are written with the end of the record and read back with every record: by
// id, in a listing, and in what EndCDR and CloseOpenCDRs return.
func TestCDRQueueStays(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	stays := []cdr.QueueStay{
		{QueueID: 4, Priority: 10, JoinedAt: t0.Add(time.Second), LeftAt: t0.Add(31 * time.Second), WaitMS: 30000,
			Exit: "timeout", Offers: []cdr.QueueOffer{
				{UserID: 7, OfferedAt: t0.Add(2 * time.Second), RingMS: 20000, Outcome: "no_answer"}}},
		{QueueID: 5, JoinedAt: t0.Add(31 * time.Second), LeftAt: t0.Add(40 * time.Second), WaitMS: 9000,
			Exit: "answered", AnsweredBy: ptr(int64(8)), TalkMS: 60000, WrapUpMS: 10000, Offers: []cdr.QueueOffer{
				{UserID: 7, OfferedAt: t0.Add(32 * time.Second), RingMS: 1500, Outcome: "rejected"},
				{UserID: 8, OfferedAt: t0.Add(36 * time.Second), RingMS: 4000, Outcome: "answered"}}},
		{QueueID: 6, JoinedAt: t0.Add(100 * time.Second), LeftAt: t0.Add(100 * time.Second), Exit: "full"},
	}
	r := insertCDR(t, db, cdr.Record{StartedAt: t0, CallID: "q1@pbx", Direction: cdr.Inbound, Node: "n1"})
	require.Equal(t, []cdr.QueueStay{}, r.Queues)
	other := insertCDR(t, db, cdr.Record{StartedAt: t0.Add(time.Minute), CallID: "q2@pbx", Node: "n1"})

	ended := endCDR(t, db, r.ID, cdr.End{At: t0.Add(2 * time.Minute), Disposition: cdr.Answered, SIPCode: 200,
		HangupBy: cdr.ByCaller, Queues: stays})
	want := stays
	want[2].Offers = []cdr.QueueOffer{}
	require.Equal(t, want, ended.Queues)
	got, err := db.GetCDR(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, want, got.Queues)

	list, err := db.ListCDRs(ctx, CDRFilter{})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []cdr.QueueStay{}, list[0].Queues, "a record without stays")
	require.Equal(t, want, list[1].Queues)

	closed, err := db.CloseOpenCDRs(ctx, "n1", t0.Add(time.Hour), "server stopped")
	require.NoError(t, err)
	require.Len(t, closed, 1)
	require.Equal(t, other.ID, closed[0].ID)
	require.Equal(t, []cdr.QueueStay{}, closed[0].Queues)

	// An ended record is not changed: its stays are not written twice.
	_, err = db.EndCDR(ctx, r.ID, cdr.End{At: t0.Add(3 * time.Minute), Disposition: cdr.Answered,
		HangupBy: cdr.ByCaller, Queues: stays})
	require.ErrorIs(t, err, cdr.ErrEnded)

	// The statistics' view of the same rows.
	calls, err := db.QueueCalls(ctx, 5, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, []queue.CallRecord{{CallID: "q1@pbx", QueueID: 5, JoinedAt: t0.Add(31 * time.Second),
		LeftAt: t0.Add(40 * time.Second), Exit: queue.ExitAnswered, AgentID: 8, Talk: 60000, WrapUp: 10000}}, calls)
	calls, err = db.QueueCalls(ctx, 4, t0.Add(2*time.Second), t0.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, calls, "joined before from")
	calls, err = db.AgentCalls(ctx, 8, t0.Add(40*time.Second), t0.Add(41*time.Second))
	require.NoError(t, err)
	require.Len(t, calls, 1, "answered at left_at, from inclusive")
	calls, err = db.AgentCalls(ctx, 8, t0, t0.Add(40*time.Second))
	require.NoError(t, err)
	require.Empty(t, calls, "to exclusive")
	offers, err := db.AgentOffers(ctx, 7, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, []queue.OfferRecord{
		{CallID: "q1@pbx", QueueID: 4, UserID: 7, OfferedAt: t0.Add(2 * time.Second), Ring: 20000, Outcome: queue.OutcomeNoAnswer},
		{CallID: "q1@pbx", QueueID: 5, UserID: 7, OfferedAt: t0.Add(32 * time.Second), Ring: 1500, Outcome: queue.OutcomeRejected},
	}, offers)
}

// A bad stay is refused by the database too, and nothing of the end is written.
func TestCDRQueueStaysAtomic(t *testing.T) {
	db := openTest(t)
	r := insertCDR(t, db, cdr.Record{StartedAt: t0, CallID: "q1@pbx"})
	_, err := db.EndCDR(context.Background(), r.ID, cdr.End{At: t0.Add(time.Minute), Disposition: cdr.Answered,
		HangupBy: cdr.ByCaller, Queues: []cdr.QueueStay{{QueueID: 1, JoinedAt: t0, LeftAt: t0, Exit: "lost"}}})
	require.Error(t, err)
	got, err := db.GetCDR(context.Background(), r.ID)
	require.NoError(t, err)
	require.True(t, got.Live())
	require.Empty(t, got.Queues)
}

func TestSpans(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	e := func(m int, s queue.State, reason string) AgentStateEntry {
		return AgentStateEntry{UserID: 3, State: s, Reason: reason, Since: at(m)}
	}
	span := func(from, to int, s queue.State, reason string) queue.StateSpan {
		return queue.StateSpan{UserID: 3, State: s, Reason: reason, From: at(from), To: at(to)}
	}
	log := []AgentStateEntry{
		e(0, queue.Available, ""),
		e(10, queue.NotReady, "lunch"),
		e(40, queue.Available, ""),
		e(50, queue.LoggedOut, ""),
		e(70, queue.Available, ""),
		e(70, queue.Offered, ""), // the same instant: no length
		e(71, queue.OnCall, ""),
	}
	for _, tc := range []struct {
		name          string
		from, to, now int
		want          []queue.StateSpan
	}{
		{"whole log, open span until now", 0, 120, 80, []queue.StateSpan{
			span(0, 10, queue.Available, ""), span(10, 40, queue.NotReady, "lunch"), span(40, 50, queue.Available, ""),
			span(70, 71, queue.Offered, ""), span(71, 80, queue.OnCall, "")}},
		{"cut to the range", 5, 45, 80, []queue.StateSpan{
			span(5, 10, queue.Available, ""), span(10, 40, queue.NotReady, "lunch"), span(40, 45, queue.Available, "")}},
		{"logged out: nothing", 55, 65, 80, []queue.StateSpan{}},
		{"to before now", 60, 75, 200, []queue.StateSpan{span(70, 71, queue.Offered, ""), span(71, 75, queue.OnCall, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Spans(log, at(tc.from), at(tc.to), at(tc.now)))
		})
	}
	require.Equal(t, []queue.StateSpan{}, Spans(nil, at(0), at(1), at(1)))
}

// The log keeps one row per entry, and reads back what tells the states of a range.
func TestAgentStateLog(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	entries := []AgentStateEntry{
		{UserID: 3, State: queue.Available, Since: at(0), By: queue.ByAgent},
		{UserID: 3, State: queue.NotReady, Reason: "lunch", Since: at(10), By: queue.ByAgent},
		{UserID: 3, State: queue.Available, Since: at(40), By: queue.ByAgent},
		{UserID: 4, State: queue.Available, Since: at(5)},
		{UserID: 3, State: queue.LoggedOut}, // never logged in: no row
	}
	require.NoError(t, db.LogAgentStates(ctx, entries...))
	require.NoError(t, db.LogAgentStates(ctx, entries[1:3]...), "duplicates are ignored")

	got, err := db.AgentStates(ctx, 3, at(15), at(50))
	require.NoError(t, err)
	require.Equal(t, entries[1:3], got, "the entry before from, then those in the range")
	got, err = db.AgentStates(ctx, 3, at(10), at(40))
	require.NoError(t, err)
	require.Equal(t, entries[1:2], got, "an entry at from; to exclusive")

	spans, err := db.AgentSpans(ctx, 3, at(15), at(50), at(45))
	require.NoError(t, err)
	require.Equal(t, []queue.StateSpan{
		{UserID: 3, State: queue.NotReady, Reason: "lunch", From: at(15), To: at(40)},
		{UserID: 3, State: queue.Available, From: at(40), To: at(45)},
	}, spans)
}
