package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/queue"
)

// Run runs the queue.Store contract against fresh stores made by newStore (one per
// subtest; it registers its own cleanup).
//
// newPeer, when not nil, returns a second store sharing the state of s (for redisstore:
// another Store on another client, same server and prefix: another node); the suite reads
// through it and races claims from both. With nil the same store is used from several
// goroutines.
//
// Times are injected (no test sleeps for a lease), but close to the wall clock, because a
// backend may set real TTLs from them.
func Run(t *testing.T, newStore func(t *testing.T) queue.Store, newPeer func(t *testing.T, s queue.Store) queue.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s, peer queue.Store)
	}{
		{"NeverSeen", testNeverSeen},
		{"Transitions", testTransitions},
		{"UpdateRetriesOnConflict", testUpdateRetries},
		{"Claim", testClaim},
		{"ClaimRefused", testClaimRefused},
		{"LeaseExpiry", testLeaseExpiry},
		{"CallAndWrapUp", testCallAndWrapUp},
		{"Busy", testBusy},
		{"Waiting", testWaiting},
		{"RoundRobin", testRoundRobin},
		{"ClaimRaceOneWinner", testClaimRace},
		{"ConcurrentClaims", testConcurrentClaims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			peer := s
			if newPeer != nil {
				peer = newPeer(t, s)
			}
			c.run(t, s, peer)
		})
	}
}

// start is the suite's "now": the wall clock to the millisecond, in UTC (as JSON reads
// times back).
func start() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func login(t *testing.T, s queue.Store, user int64, now time.Time) queue.Agent {
	t.Helper()
	a, err := s.Update(context.Background(), user, now, func(a queue.Agent) (queue.Agent, error) { return a.Login(now) })
	require.NoError(t, err)
	require.Equal(t, queue.Available, a.State)
	return a
}

func offer(call string, lease time.Time) queue.Offer {
	return queue.Offer{CallID: call, QueueID: 1, Node: "node-a", LeaseUntil: lease}
}

func testNeverSeen(t *testing.T, s, _ queue.Store) {
	ctx := context.Background()
	now := start()
	a, err := s.Agent(ctx, 7, now)
	require.NoError(t, err)
	require.Equal(t, queue.NewAgent(7), a)
	login(t, s, 8, now)
	as, err := s.Agents(ctx, []int64{8, 7}, now)
	require.NoError(t, err)
	require.Len(t, as, 2)
	require.Equal(t, int64(8), as[0].UserID)
	require.Equal(t, queue.Available, as[0].State)
	require.Equal(t, queue.NewAgent(7), as[1])
	as, err = s.Agents(ctx, nil, now)
	require.NoError(t, err)
	require.Empty(t, as)
}

func testTransitions(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	a := login(t, s, 7, now)
	got, err := peer.Agent(ctx, 7, now)
	require.NoError(t, err)
	require.Equal(t, a, got, "the other node reads what was written")

	steps := []struct {
		name string
		at   time.Duration
		fn   func(a queue.Agent, now time.Time) (queue.Agent, error)
		want queue.State
		bad  bool
	}{
		{"login twice is refused", 1, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.Login(now) }, queue.Available, true},
		{"pause", 2, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			return a.Pause(now, "break", queue.DefaultReasons)
		}, queue.NotReady, false},
		{"supervisor forces lunch", 3, func(a queue.Agent, now time.Time) (queue.Agent, error) {
			return a.ForceNotReady(now, "lunch", queue.DefaultReasons)
		}, queue.NotReady, false},
		{"resume", 4, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.Resume(now) }, queue.Available, false},
		{"logout", 5, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.Logout(now) }, queue.LoggedOut, false},
		{"logout twice is refused", 6, func(a queue.Agent, now time.Time) (queue.Agent, error) { return a.Logout(now) }, queue.LoggedOut, true},
	}
	for _, st := range steps {
		at := now.Add(st.at * time.Second)
		before, err := s.Agent(ctx, 7, at)
		require.NoError(t, err)
		got, err := s.Update(ctx, 7, at, func(a queue.Agent) (queue.Agent, error) { return st.fn(a, at) })
		if st.bad {
			require.ErrorIs(t, err, queue.ErrBadTransition, st.name)
			require.Equal(t, before, got, "%s: the settled record comes back", st.name)
		} else {
			require.NoError(t, err, st.name)
		}
		require.Equal(t, st.want, got.State, st.name)
		read, err := peer.Agent(ctx, 7, at)
		require.NoError(t, err)
		require.Equal(t, got, read, "%s: stored as returned", st.name)
	}
	a, err = s.Agent(ctx, 7, now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, queue.Millis(3000), a.Times.Available, "available 0-2s and 4-5s")
	require.Equal(t, queue.Millis(2000), a.Times.NotReady)
}

func testUpdateRetries(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	login(t, s, 7, now)
	calls := 0
	got, err := s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) {
		calls++
		if calls == 1 {
			// Another writer gets in between this read and its write.
			_, err := peer.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) {
				return a.Pause(now, "break", queue.DefaultReasons)
			})
			require.NoError(t, err)
		}
		return a.Pause(now, "lunch", queue.DefaultReasons)
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls, "fn is called again on the record the other writer left")
	require.Equal(t, queue.NotReady, got.State)
	require.Equal(t, "lunch", got.Reason)

	// A writer that always loses gives up with ErrConflict.
	n := 0
	_, err = s.Update(ctx, 7, now, func(a queue.Agent) (queue.Agent, error) {
		n++
		_, err := peer.Update(ctx, 7, now, func(b queue.Agent) (queue.Agent, error) {
			if b.Reason == "break" {
				return b.Pause(now, "lunch", queue.DefaultReasons)
			}
			return b.Pause(now, "break", queue.DefaultReasons)
		})
		require.NoError(t, err)
		return a.Resume(now)
	})
	require.ErrorIs(t, err, queue.ErrConflict)
	require.Equal(t, queue.MaxAttempts, n)
}

func testClaim(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	login(t, s, 7, now)
	at := now.Add(time.Second)
	a, err := s.Claim(ctx, 7, offer("c1", at.Add(30*time.Second)), at, true)
	require.NoError(t, err)
	require.Equal(t, queue.Offered, a.State)
	require.Equal(t, "c1", a.Current.CallID)
	require.Equal(t, at, a.Current.OfferedAt)
	read, err := peer.Agent(ctx, 7, at)
	require.NoError(t, err)
	require.Equal(t, a, read)

	_, err = peer.Claim(ctx, 7, offer("c2", at.Add(30*time.Second)), at, true)
	require.ErrorIs(t, err, queue.ErrNotClaimed)
	require.ErrorIs(t, err, queue.ErrBadTransition)
	read, err = s.Agent(ctx, 7, at)
	require.NoError(t, err)
	require.Equal(t, "c1", read.Current.CallID, "the first claim stands")

	var ve *queue.ValidationError
	_, err = s.Claim(ctx, 8, offer("", at.Add(time.Minute)), at, true)
	require.ErrorAs(t, err, &ve)
	require.NotErrorIs(t, err, queue.ErrNotClaimed)
}

func testClaimRefused(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	lease := now.Add(time.Minute)
	cases := []struct {
		name       string
		setup      func(t *testing.T, user int64)
		registered bool
	}{
		{"logged out", func(*testing.T, int64) {}, true},
		{"not ready", func(t *testing.T, user int64) {
			login(t, s, user, now)
			_, err := s.Update(ctx, user, now, func(a queue.Agent) (queue.Agent, error) {
				return a.Pause(now, "", queue.DefaultReasons)
			})
			require.NoError(t, err)
		}, true},
		{"no registered device", func(t *testing.T, user int64) { login(t, s, user, now) }, false},
		{"busy on a call on another node", func(t *testing.T, user int64) {
			login(t, s, user, now)
			require.NoError(t, peer.CallStarted(ctx, user, "direct-1", now.Add(time.Minute)))
		}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := int64(100 + i)
			tc.setup(t, user)
			before, err := s.Agent(ctx, user, now)
			require.NoError(t, err)
			_, err = s.Claim(ctx, user, offer("c1", lease), now, tc.registered)
			require.ErrorIs(t, err, queue.ErrNotClaimed)
			require.ErrorIs(t, err, queue.ErrBadTransition)
			after, err := peer.Agent(ctx, user, now)
			require.NoError(t, err)
			require.Equal(t, before, after, "a refused claim changes nothing")
		})
	}
}

func testLeaseExpiry(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	login(t, s, 7, now)
	_, err := s.Claim(ctx, 7, offer("c1", now.Add(30*time.Second)), now, true)
	require.NoError(t, err)

	a, err := peer.Agent(ctx, 7, now.Add(29*time.Second))
	require.NoError(t, err)
	require.Equal(t, queue.Offered, a.State)
	_, err = peer.Claim(ctx, 7, offer("c2", now.Add(time.Minute)), now.Add(29*time.Second), true)
	require.ErrorIs(t, err, queue.ErrNotClaimed, "the lease still holds")

	// The node that claimed c1 is gone: nobody renews, the lease runs out.
	later := now.Add(31 * time.Second)
	a, err = peer.Agent(ctx, 7, later)
	require.NoError(t, err)
	require.Equal(t, queue.Available, a.State)
	require.Equal(t, now.Add(30*time.Second), a.Since, "freed at the lease's end")
	a, err = peer.Claim(ctx, 7, offer("c2", later.Add(time.Minute)), later, true)
	require.NoError(t, err)
	require.Equal(t, "c2", a.Current.CallID)

	// A late event of c1 is stale and changes nothing.
	_, err = s.Update(ctx, 7, later, func(a queue.Agent) (queue.Agent, error) { return a.OfferAnswered("c1", later) })
	require.ErrorIs(t, err, queue.ErrStaleOffer)
	a, err = s.Agent(ctx, 7, later)
	require.NoError(t, err)
	require.Equal(t, "c2", a.Current.CallID)
}

func testCallAndWrapUp(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	login(t, s, 7, now)
	_, err := s.Claim(ctx, 7, offer("c1", now.Add(30*time.Second)), now, true)
	require.NoError(t, err)
	at := now.Add(5 * time.Second)
	a, err := s.Update(ctx, 7, at, func(a queue.Agent) (queue.Agent, error) { return a.OfferAnswered("c1", at) })
	require.NoError(t, err)
	require.Equal(t, queue.OnCall, a.State)
	// The call goes on past the first lease: renewed.
	a, err = peer.Update(ctx, 7, now.Add(20*time.Second), func(a queue.Agent) (queue.Agent, error) {
		return a.Renew("c1", now.Add(90*time.Second), now.Add(20*time.Second))
	})
	require.NoError(t, err)
	a, err = s.Agent(ctx, 7, now.Add(60*time.Second))
	require.NoError(t, err)
	require.Equal(t, queue.OnCall, a.State, "renewed")
	end := now.Add(65 * time.Second)
	a, err = s.Update(ctx, 7, end, func(a queue.Agent) (queue.Agent, error) { return a.CallEnded("c1", end, 10*time.Second) })
	require.NoError(t, err)
	require.Equal(t, queue.AfterCallWork, a.State)
	require.Equal(t, queue.Millis(60000), a.Talk)
	a, err = peer.Agent(ctx, 7, end.Add(9*time.Second))
	require.NoError(t, err)
	require.Equal(t, queue.AfterCallWork, a.State)
	a, err = peer.Agent(ctx, 7, end.Add(11*time.Second))
	require.NoError(t, err)
	require.Equal(t, queue.Available, a.State, "wrap-up ends on its own")
	require.Equal(t, end.Add(10*time.Second), a.Since)
	require.Equal(t, 1, a.Answered)
}

func testBusy(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	busy := func(st queue.Store, user int64, at time.Time) bool {
		t.Helper()
		b, err := st.Busy(ctx, user, at)
		require.NoError(t, err)
		return b
	}
	require.False(t, busy(s, 7, now))
	require.NoError(t, s.CallStarted(ctx, 7, "a", now.Add(time.Minute)))
	require.True(t, busy(peer, 7, now), "seen by every node")
	require.False(t, busy(peer, 8, now), "only the user's calls")
	require.False(t, busy(s, 7, now.Add(time.Minute)), "lapsed at until (the node stopped extending it)")
	require.NoError(t, peer.CallStarted(ctx, 7, "a", now.Add(2*time.Minute)))
	require.True(t, busy(s, 7, now.Add(time.Minute)), "extended")
	require.NoError(t, s.CallStarted(ctx, 7, "b", now.Add(time.Minute)))
	require.NoError(t, s.CallEnded(ctx, 7, "a"))
	require.True(t, busy(s, 7, now), "still on b")
	require.NoError(t, peer.CallEnded(ctx, 7, "b"))
	require.False(t, busy(s, 7, now))
	require.NoError(t, s.CallEnded(ctx, 7, "b"), "ending twice is fine")

	// BusyMany answers in the order asked, across nodes.
	require.NoError(t, s.CallStarted(ctx, 9, "c", now.Add(time.Minute)))
	many, err := peer.BusyMany(ctx, []int64{7, 9, 8, 9}, now)
	require.NoError(t, err)
	require.Equal(t, []bool{false, true, false, true}, many)
	many, err = peer.BusyMany(ctx, nil, now)
	require.NoError(t, err)
	require.Empty(t, many)
	require.NoError(t, s.CallEnded(ctx, 9, "c"))

	// A claim made while a crashed node's entry lapsed goes through.
	login(t, s, 7, now)
	require.NoError(t, peer.CallStarted(ctx, 7, "dead", now.Add(10*time.Second)))
	_, err = s.Claim(ctx, 7, offer("q1", now.Add(time.Minute)), now.Add(5*time.Second), true)
	require.ErrorIs(t, err, queue.ErrNotClaimed)
	_, err = s.Claim(ctx, 7, offer("q1", now.Add(time.Minute)), now.Add(11*time.Second), true)
	require.NoError(t, err)
}

func testWaiting(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	now := start()
	callers := []queue.Caller{
		{CallID: "d", QueueID: 1, Priority: 0, JoinedAt: now, Node: "a"},
		{CallID: "b", QueueID: 1, Priority: 0, JoinedAt: now.Add(time.Second), Node: "b"},
		{CallID: "a", QueueID: 1, Priority: 0, JoinedAt: now.Add(time.Second), Node: "a"},
		{CallID: "c", QueueID: 1, Priority: 5, JoinedAt: now.Add(3 * time.Second), Node: "a"},
		{CallID: "e", QueueID: 1, Priority: 500, JoinedAt: now.Add(4 * time.Second), Node: "b"},
		{CallID: "x", QueueID: 2, Priority: 0, JoinedAt: now, Node: "a"},
	}
	for _, c := range callers {
		require.NoError(t, s.Join(ctx, c))
	}
	ids := func(st queue.Store, q int64) []string {
		t.Helper()
		w, err := st.Waiting(ctx, q)
		require.NoError(t, err)
		require.True(t, slices.IsSortedFunc(w, queue.Compare), "ordered as Compare")
		var out []string
		for _, c := range w {
			out = append(out, c.CallID)
		}
		return out
	}
	require.Equal(t, []string{"e", "c", "d", "a", "b"}, ids(peer, 1))
	require.Equal(t, []string{"x"}, ids(peer, 2))
	w, err := peer.Waiting(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, callers[4], w[0], "records read back as joined")

	require.NoError(t, peer.SetPriority(ctx, 1, "b", 10))
	require.Equal(t, []string{"e", "b", "c", "d", "a"}, ids(s, 1))
	w, err = s.Waiting(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, now.Add(time.Second), w[1].JoinedAt, "a raised priority keeps the join time")
	require.Equal(t, 10, w[1].Priority)
	require.ErrorIs(t, s.SetPriority(ctx, 1, "x", 1), queue.ErrNotWaiting, "x waits in queue 2")

	// Touch changes the node's fields only: b keeps the priority raised through peer.
	retry, lease := now.Add(time.Minute), now.Add(2*time.Minute)
	require.NoError(t, s.Touch(ctx, 1, "b", true, retry, lease))
	w, err = peer.Waiting(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, queue.Caller{CallID: "b", QueueID: 1, Priority: 10, JoinedAt: now.Add(time.Second), Node: "b",
		Ringing: true, RetryAt: retry, LeaseUntil: lease}, w[1])
	require.NoError(t, peer.Touch(ctx, 1, "b", false, time.Time{}, lease))
	w, err = s.Waiting(ctx, 1)
	require.NoError(t, err)
	require.False(t, w[1].Ringing)
	require.True(t, w[1].RetryAt.IsZero())
	require.ErrorIs(t, s.Touch(ctx, 1, "x", false, retry, lease), queue.ErrNotWaiting, "x waits in queue 2")

	require.NoError(t, s.Leave(ctx, 1, "e"))
	require.NoError(t, s.Leave(ctx, 1, "e"), "leaving twice is fine")
	require.Equal(t, []string{"b", "c", "d", "a"}, ids(peer, 1))
	require.ErrorIs(t, s.SetPriority(ctx, 1, "e", 1), queue.ErrNotWaiting)
	for _, id := range []string{"b", "c", "d", "a"} {
		require.NoError(t, peer.Leave(ctx, 1, id))
	}
	require.Empty(t, ids(s, 1))
	require.Equal(t, []string{"x"}, ids(s, 2))

	// Joining again replaces the record.
	require.NoError(t, s.Join(ctx, queue.Caller{CallID: "x", QueueID: 2, Priority: 3, JoinedAt: now, Node: "b"}))
	w, err = s.Waiting(ctx, 2)
	require.NoError(t, err)
	require.Len(t, w, 1)
	require.Equal(t, 3, w[0].Priority)
	require.Error(t, s.Join(ctx, queue.Caller{QueueID: 2, JoinedAt: now}), "a call id is required")
}

func testRoundRobin(t *testing.T, s, peer queue.Store) {
	ctx := context.Background()
	last := func(st queue.Store, q int64) int64 {
		t.Helper()
		v, err := st.LastOffered(ctx, q)
		require.NoError(t, err)
		return v
	}
	require.Zero(t, last(s, 1))
	require.NoError(t, s.SetLastOffered(ctx, 1, 7))
	require.Equal(t, int64(7), last(peer, 1))
	require.NoError(t, peer.SetLastOffered(ctx, 1, 9))
	require.Equal(t, int64(9), last(s, 1))
	require.Zero(t, last(s, 2))
}

// testConcurrentClaims races claims for a few agents from many goroutines on two nodes (s
// and peer) and checks that no agent ever holds two offers at once and that every claim
// that succeeded is the offer the store recorded. A holder gives its agent back (OfferFailed)
// only after it stopped counting as the holder, so any overlap is a double claim.
func testConcurrentClaims(t *testing.T, s, peer queue.Store) {
	const (
		agents     = 5
		perNode    = 8
		iterations = 40
	)
	ctx := context.Background()
	now := start()
	for u := int64(1); u <= agents; u++ {
		login(t, s, u, now)
	}
	var (
		mu      sync.Mutex
		holder  = map[int64]string{}
		claimed atomic.Int64
		refused atomic.Int64
		wg      sync.WaitGroup
	)
	for n, st := range []queue.Store{s, peer} {
		other := []queue.Store{peer, s}[n]
		for g := range perNode {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(n), uint64(g)))
				for i := range iterations {
					user := 1 + r.Int64N(agents)
					call := fmt.Sprintf("n%d-g%d-%d", n, g, i)
					at := now.Add(time.Duration(i) * time.Millisecond)
					a, err := st.Claim(ctx, user, queue.Offer{CallID: call, QueueID: 1, Node: fmt.Sprint("node-", n),
						LeaseUntil: now.Add(time.Hour)}, at, true)
					if errors.Is(err, queue.ErrNotClaimed) {
						refused.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("claim %s of agent %d: %v", call, user, err)
						return
					}
					claimed.Add(1)
					mu.Lock()
					if h := holder[user]; h != "" {
						t.Errorf("agent %d offered %s while holding %s", user, call, h)
					}
					holder[user] = call
					mu.Unlock()
					if a.Current == nil || a.Current.CallID != call {
						t.Errorf("claim %s returned %+v", call, a.Current)
					}
					read, err := other.Agent(ctx, user, at)
					if err != nil || read.State != queue.Offered || read.Current == nil || read.Current.CallID != call {
						t.Errorf("agent %d after claiming %s: %+v, %v", user, call, read, err)
					}
					mu.Lock()
					delete(holder, user)
					mu.Unlock()
					if _, err := st.Update(ctx, user, at, func(a queue.Agent) (queue.Agent, error) {
						return a.OfferFailed(call, at)
					}); err != nil {
						t.Errorf("release %s of agent %d: %v", call, user, err)
					}
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d claims, %d refused", claimed.Load(), refused.Load())
	require.Positive(t, claimed.Load())
	for u := int64(1); u <= agents; u++ {
		a, err := s.Agent(ctx, u, now.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, queue.Available, a.State, "agent %d given back", u)
	}
}

// testClaimRace has many goroutines on two nodes claim one agent for different calls at
// the same moment: exactly one wins, and its call is the one the store recorded.
func testClaimRace(t *testing.T, s, peer queue.Store) {
	const racers = 16
	ctx := context.Background()
	now := start()
	login(t, s, 7, now)
	var (
		wg      sync.WaitGroup
		ready   = make(chan struct{})
		mu      sync.Mutex
		winners []string
	)
	for i := range racers {
		st := []queue.Store{s, peer}[i%2]
		wg.Go(func() {
			<-ready
			call := fmt.Sprint("c", i)
			_, err := st.Claim(ctx, 7, offer(call, now.Add(time.Minute)), now, true)
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, call)
				mu.Unlock()
			case !errors.Is(err, queue.ErrNotClaimed):
				t.Errorf("claim %s: %v", call, err)
			}
		})
	}
	close(ready)
	wg.Wait()
	require.Len(t, winners, 1)
	a, err := peer.Agent(ctx, 7, now)
	require.NoError(t, err)
	require.Equal(t, winners[0], a.Current.CallID)
}
