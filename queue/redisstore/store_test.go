package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/queuetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var prefixes atomic.Int64

// newPrefix keeps the subtests sharing one server apart.
func newPrefix() string { return fmt.Sprintf("test%d:", prefixes.Add(1)) }

func TestStoreContract(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	client, peerClient := srv.Client(t), srv.Client(t)
	queuetest.Run(t,
		func(*testing.T) queue.Store { return New(client, newPrefix()) },
		// Another node: another connection pool, same server and prefix.
		func(_ *testing.T, s queue.Store) queue.Store { return New(peerClient, s.(*Store).prefix) },
	)
}

// TestClaimStaleVersion checks the script's own refusal: a claim decided on a record that
// changed since (another node's write got in between the read and the script) is refused,
// and one decided on a fresh read is not.
func TestClaimStaleVersion(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	ctx := context.Background()
	s := New(srv.Client(t), "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err := s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) { return a.Login(now) })
	require.NoError(t, err)

	a, v, err := s.read(ctx, 7)
	require.NoError(t, err)
	next, err := a.Offer(queue.Offer{CallID: "c1", QueueID: 1, LeaseUntil: now.Add(time.Minute)}, now, false, true)
	require.NoError(t, err)
	// Another writer: a pause (or another node's claim) between the read and the write.
	_, err = s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) {
		return a.Pause(now, "break", queue.DefaultReasons)
	})
	require.NoError(t, err)
	_, err = s.claimAt(ctx, 7, v, next, now)
	require.ErrorIs(t, err, queue.ErrNotClaimed)
	require.ErrorIs(t, err, queue.ErrConflict)
	got, err := s.Agent(ctx, 7, now)
	require.NoError(t, err)
	require.Equal(t, queue.NotReady, got.State, "the pause stands")

	// Busy at the script, even when the Go side did not see it.
	_, err = s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) { return a.Resume(now) })
	require.NoError(t, err)
	a, v, err = s.read(ctx, 7)
	require.NoError(t, err)
	next, err = a.Offer(queue.Offer{CallID: "c1", QueueID: 1, LeaseUntil: now.Add(time.Minute)}, now, false, true)
	require.NoError(t, err)
	require.NoError(t, s.CallStarted(ctx, 7, "direct", now.Add(time.Minute)))
	_, err = s.claimAt(ctx, 7, v, next, now)
	require.ErrorIs(t, err, queue.ErrNotClaimed)
	require.ErrorIs(t, err, queue.ErrBadTransition)
	require.NoError(t, s.CallEnded(ctx, 7, "direct"))
	got, err = s.claimAt(ctx, 7, v, next, now)
	require.NoError(t, err)
	require.Equal(t, queue.Offered, got.State)
}

// TestKeys checks the key layout the package documentation describes.
func TestKeys(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	ctx := context.Background()
	client := srv.Client(t)
	s := New(client, "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err := s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) { return a.Login(now) })
	require.NoError(t, err)
	require.NoError(t, s.CallStarted(ctx, 7, "c", now.Add(time.Minute)))
	require.NoError(t, s.Join(ctx, queue.Caller{CallID: "c", QueueID: 3, JoinedAt: now}))
	require.NoError(t, s.SetLastOffered(ctx, 3, 7))
	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	slices.Sort(keys)
	require.Equal(t, []string{
		"centrala:queue:agent:7",
		"centrala:queue:busy:7",
		"centrala:queue:q:3:callers",
		"centrala:queue:q:3:last",
		"centrala:queue:q:3:waiting",
	}, keys)
	v, err := client.HGet(ctx, "centrala:queue:agent:7", "v").Result()
	require.NoError(t, err)
	require.Equal(t, "1", v)
	ttl, err := client.PTTL(ctx, "centrala:queue:busy:7").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, busyGrace)
	require.LessOrEqual(t, ttl, busyGrace+time.Minute+time.Second)

	require.NoError(t, s.CallEnded(ctx, 7, "c"))
	require.NoError(t, s.Leave(ctx, 3, "c"))
	n, err := client.Exists(ctx, "centrala:queue:busy:7", "centrala:queue:q:3:callers", "centrala:queue:q:3:waiting").Result()
	require.NoError(t, err)
	require.Zero(t, n, "emptied sets and hashes leave no key")
}

func BenchmarkClaim(b *testing.B) {
	srv := pbxtest.StartRedis(b)
	ctx := context.Background()
	s := New(srv.Client(b), "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err := s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) { return a.Login(now) })
	require.NoError(b, err)
	for i := 0; b.Loop(); i++ {
		call := fmt.Sprint("c", i)
		if _, err := s.Claim(ctx, 7, queue.Offer{CallID: call, QueueID: 1, LeaseUntil: now.Add(time.Hour)}, now, true); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) { return a.OfferFailed(call, now) }); err != nil {
			b.Fatal(err)
		}
	}
}
