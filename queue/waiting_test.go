package queue

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/centrala/centrala/routing"
	"github.com/stretchr/testify/require"
)

func callIDs(cs []Caller) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.CallID
	}
	return out
}

func TestWaitingOrder(t *testing.T) {
	callers := []Caller{
		{CallID: "a", Priority: 0, JoinedAt: at(0)},
		{CallID: "b", Priority: 0, JoinedAt: at(5)},
		{CallID: "c", Priority: 5, JoinedAt: at(10)},
		{CallID: "d", Priority: 0, JoinedAt: at(15)},
		{CallID: "e", Priority: 5, JoinedAt: at(3)},
		{CallID: "f", Priority: 0, JoinedAt: at(5)},                             // same ms as b: by call id
		{CallID: "g", Priority: 0, JoinedAt: at(5).Add(400 * time.Microsecond)}, // same ms too
	}
	s := slices.Clone(callers)
	Sort(s)
	require.Equal(t, []string{"e", "c", "a", "b", "f", "g", "d"}, callIDs(s))
	for i, c := range s {
		require.Equal(t, i+1, Position(callers, c.CallID), c.CallID)
	}
	require.Equal(t, 0, Position(callers, "zz"))
	h, ok := Head(callers)
	require.True(t, ok)
	require.Equal(t, "e", h.CallID)
	_, ok = Head(nil)
	require.False(t, ok)

	// Raising d's priority while it waits: ahead of every lower priority, and among its new
	// peers in its join order (after e and c, who joined earlier).
	require.True(t, SetPriority(callers, "d", 5))
	require.False(t, SetPriority(callers, "zz", 5))
	require.Equal(t, 3, Position(callers, "d"))
	require.Equal(t, 4, Position(callers, "a"))
	require.True(t, SetPriority(callers, "d", 9))
	require.Equal(t, 1, Position(callers, "d"))
	h, _ = Head(callers)
	require.Equal(t, "d", h.CallID)
	Sort(callers)
	require.Equal(t, []string{"d", "e", "c", "a", "b", "f", "g"}, callIDs(callers))

	// Priorities beyond the bounds count as the bounds.
	x := Caller{CallID: "x", Priority: 1000, JoinedAt: at(1)}
	y := Caller{CallID: "y", Priority: MaxPriority, JoinedAt: at(0)}
	require.Equal(t, 1, Compare(x, y))
	require.Equal(t, -1, Compare(Caller{CallID: "p", Priority: -5, JoinedAt: at(0)}, Caller{CallID: "q", Priority: 0, JoinedAt: at(1)}))
}

// TestScoreAgreesWithCompare: a Redis sorted set of call ids scored by Score (ties by
// member) ranks callers exactly as Compare does.
func TestScoreAgreesWithCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 200 {
		var cs []Caller
		for i := range 30 {
			cs = append(cs, Caller{
				CallID:   string(rune('a'+r.IntN(26))) + string(rune('a'+i)),
				Priority: r.IntN(120) - 10,
				JoinedAt: base.Add(time.Duration(r.IntN(5000)) * time.Millisecond / 2),
			})
		}
		redis := slices.Clone(cs)
		slices.SortFunc(redis, func(a, b Caller) int {
			return cmp.Or(cmp.Compare(a.Score(), b.Score()), cmp.Compare(a.CallID, b.CallID))
		})
		Sort(cs)
		require.Equal(t, callIDs(cs), callIDs(redis))
	}
	far := Caller{Priority: 0, JoinedAt: time.Date(2109, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := far.Score()
	require.Equal(t, s, float64(int64(s)), "an exact integer")
}

func TestAdmit(t *testing.T) {
	onEmpty := dest(routing.DestIVR, "4")
	onFull := dest(routing.DestHangup, "486")
	tests := []struct {
		name     string
		q        Queue
		waiting  int
		loggedIn int
		ok       bool
		dest     *routing.Destination
		why      string
	}{
		{name: "open", q: Queue{}, waiting: 50, loggedIn: 1, ok: true},
		{name: "empty, join allowed", q: Queue{JoinEmpty: JoinAllow, OnEmpty: onEmpty}, loggedIn: 0, ok: true},
		{name: "empty, join_empty unset means allow", q: Queue{}, loggedIn: 0, ok: true},
		{name: "empty, join to a destination", q: Queue{JoinEmpty: JoinDestination, OnEmpty: onEmpty},
			dest: onEmpty, why: "empty: no agent logged in (join_empty destination)"},
		{name: "empty with leave_when_empty: would leave at once", q: Queue{LeaveWhenEmpty: true, OnEmpty: onEmpty},
			dest: onEmpty, why: "empty: no agent logged in (leave_when_empty)"},
		{name: "join_empty destination with agents", q: Queue{JoinEmpty: JoinDestination, OnEmpty: onEmpty}, loggedIn: 2, ok: true},
		{name: "below max_callers", q: Queue{MaxCallers: 3, OnFull: onFull}, waiting: 2, loggedIn: 1, ok: true},
		{name: "full", q: Queue{MaxCallers: 3, OnFull: onFull}, waiting: 3, loggedIn: 1,
			dest: onFull, why: "full: 3 callers waiting (max_callers 3)"},
		{name: "full and empty: empty first", q: Queue{MaxCallers: 3, OnFull: onFull, JoinEmpty: JoinDestination, OnEmpty: onEmpty},
			waiting: 3, dest: onEmpty, why: "empty: no agent logged in (join_empty destination)"},
		{name: "full while empty and allowed", q: Queue{MaxCallers: 3, OnFull: onFull}, waiting: 3,
			dest: onFull, why: "full: 3 callers waiting (max_callers 3)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, d, why := tc.q.Admit(tc.waiting, tc.loggedIn)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.dest, d)
			require.Equal(t, tc.why, why)
			if d != nil {
				require.NotSame(t, tc.dest, d, "a copy")
			}
		})
	}
}

func TestLeave(t *testing.T) {
	onMax := dest(routing.DestExternal, "+48221000100")
	onEmpty := dest(routing.DestIVR, "4")
	c := Caller{CallID: "a", JoinedAt: at(0)}

	q := Queue{MaxWaitSeconds: 60, OnMaxWait: onMax}
	d, ok := q.Deadline(c)
	require.True(t, ok)
	require.Equal(t, at(60), d)
	require.False(t, q.Expired(c, at(59.999)))
	require.True(t, q.Expired(c, at(60)))
	leave, dst, why := q.Leave(c, at(61), 3)
	require.True(t, leave)
	require.Equal(t, onMax, dst)
	require.Equal(t, "timeout: waited 61s (max_wait_seconds 60)", why)
	leave, _, _ = q.Leave(c, at(59), 0)
	require.False(t, leave, "empty without leave_when_empty: wait")

	none := Queue{}
	_, ok = none.Deadline(c)
	require.False(t, ok)
	require.False(t, none.Expired(c, at(1e6)), "no max wait: never")

	q = Queue{LeaveWhenEmpty: true, OnEmpty: onEmpty, MaxWaitSeconds: 60, OnMaxWait: onMax}
	require.True(t, q.Evict(0))
	require.False(t, q.Evict(1))
	leave, dst, why = q.Leave(c, at(10), 0)
	require.True(t, leave)
	require.Equal(t, onEmpty, dst)
	require.Equal(t, "empty: the last agent logged out (leave_when_empty)", why)
	leave, dst, _ = q.Leave(c, at(70), 0)
	require.True(t, leave)
	require.Equal(t, onMax, dst, "the timeout first")
	leave, _, _ = q.Leave(c, at(10), 1)
	require.False(t, leave)
}

func TestNextAnnouncement(t *testing.T) {
	c := Caller{JoinedAt: at(0)}
	_, ok := (&Queue{}).NextAnnouncement(c, at(5))
	require.False(t, ok)
	q := &Queue{AnnouncePositionSeconds: 30}
	for _, tc := range []struct{ now, want float64 }{{0, 30}, {29.9, 30}, {30, 60}, {31, 60}, {95, 120}, {-5, 30}} {
		next, ok := q.NextAnnouncement(c, at(tc.now))
		require.True(t, ok)
		require.Equal(t, at(tc.want), next, "now %v", tc.now)
	}
}

func TestExpectedWait(t *testing.T) {
	tests := []struct {
		name     string
		census   Census
		position int
		handle   time.Duration
		want     time.Duration
		ok       bool
	}{
		{"an agent is free", Census{Serving: 3, Routable: 1}, 1, 3 * time.Minute, 0, true},
		{"two free agents, second in line", Census{Serving: 3, Routable: 2}, 2, 3 * time.Minute, 0, true},
		{"all busy, first in line", Census{Serving: 3}, 1, 3 * time.Minute, time.Minute, true},
		{"all busy, fifth in line", Census{Serving: 3}, 5, 3 * time.Minute, 5 * time.Minute, true},
		{"one free, fourth in line", Census{Serving: 4, Routable: 1}, 4, 2 * time.Minute, 90 * time.Second, true},
		{"rounded to the second", Census{Serving: 3}, 1, 100 * time.Second, 33 * time.Second, true},
		{"nobody serving", Census{LoggedIn: 2}, 1, time.Minute, 0, false},
		{"no handle time yet", Census{Serving: 2}, 1, 0, 0, false},
		{"no position", Census{Serving: 2}, 0, time.Minute, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.census.ExpectedWait(tc.position, tc.handle)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
