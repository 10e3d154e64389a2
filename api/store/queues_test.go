package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

func sampleQueue(name string) queue.Queue {
	wrap, delay := 30, 0
	q := queue.Queue{ID: 99, Name: name, Strategy: queue.LongestIdle,
		Members:    []queue.Member{{UserID: 1, Penalty: 0}, {UserID: 2, Penalty: 1, WrapUpSeconds: &wrap}},
		MaxCallers: 5, OnFull: &routing.Destination{Type: routing.DestHangup, Target: "486"},
		MaxWaitSeconds: 300, OnMaxWait: &routing.Destination{Type: routing.DestAnnouncement, Target: "system:bye",
			Then: &routing.Destination{Type: routing.DestIVR, Target: "1"}},
		RetryDelaySeconds: &delay, AnnouncePositionSeconds: 30}
	q.Defaults()
	return q
}

// A queue keeps every field of queue.Queue (members too); the doc holds neither id nor name.
func TestQueuesRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)

	q, err := db.CreateQueue(ctx, sampleQueue("support"))
	require.NoError(t, err)
	want := sampleQueue("support")
	want.ID = q.ID
	require.Equal(t, want, q.Queue)
	require.False(t, q.CreatedAt.IsZero())
	require.Equal(t, q.CreatedAt, q.UpdatedAt)

	var doc string
	require.NoError(t, db.r.QueryRowContext(ctx, `SELECT doc FROM queues WHERE id = ?`, q.ID).Scan(&doc))
	require.NotContains(t, doc, `"id"`)
	require.NotContains(t, doc, `"name"`)
	require.Contains(t, doc, `"members":[{"user_id":1`)

	got, err := db.GetQueue(ctx, q.ID)
	require.NoError(t, err)
	require.Equal(t, q, got)

	want.Members = want.Members[:1]
	want.Name = "support desk"
	upd, err := db.UpdateQueue(ctx, want)
	require.NoError(t, err)
	require.Equal(t, want, upd.Queue)

	_, err = db.CreateQueue(ctx, queue.Queue{Name: "support desk", Strategy: queue.RingAll})
	var ce *ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "name", ce.Field)
	_, err = db.CreateIVR(ctx, routing.IVR{Name: "support desk"}) // names are per table
	require.NoError(t, err)
	other, err := db.CreateQueue(ctx, queue.Queue{Name: "billing", Strategy: queue.RingAll})
	require.NoError(t, err)
	_, err = db.UpdateQueue(ctx, queue.Queue{ID: other.ID, Name: "support desk"})
	require.True(t, errors.As(err, &ce), "%v", err)

	list, err := db.ListQueues(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"billing", "support desk"}, []string{list[0].Name, list[1].Name})

	require.NoError(t, db.DeleteQueue(ctx, q.ID))
	_, err = db.GetQueue(ctx, q.ID)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, db.DeleteQueue(ctx, q.ID), ErrNotFound)
	_, err = db.UpdateQueue(ctx, queue.Queue{ID: q.ID, Name: "gone"})
	require.ErrorIs(t, err, ErrNotFound)
}
