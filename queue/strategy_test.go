package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is 09:mm on t0's day.
func clock(mm int) time.Time { return t0.Add(time.Duration(mm) * time.Minute) }

// ids flattens groups to user ids, keeping the grouping.
func ids(groups [][]Candidate) [][]int64 {
	var out [][]int64
	for _, g := range groups {
		var row []int64
		for _, c := range g {
			row = append(row, c.UserID)
		}
		out = append(out, row)
	}
	return out
}

func one(users ...int64) [][]int64 {
	out := make([][]int64, len(users))
	for i, u := range users {
		out[i] = []int64{u}
	}
	return out
}

func TestPick(t *testing.T) {
	// Members in this order; tier 0: 1, 3, 4; tier 10: 2, 5.
	members := []Member{{UserID: 1}, {UserID: 2, Penalty: 10}, {UserID: 3}, {UserID: 4}, {UserID: 5, Penalty: 10}}
	cands := []Candidate{
		{UserID: 5, IdleSince: clock(30), AvailableSince: clock(30), Answered: 1, Talk: 100000},
		{UserID: 1, IdleSince: clock(10), AvailableSince: clock(10), Answered: 5, Talk: 300000},
		{UserID: 99, IdleSince: clock(0), AvailableSince: clock(0)}, // not a member: dropped
		{UserID: 3, IdleSince: clock(5), AvailableSince: clock(20), Answered: 2, Talk: 600000},
		{UserID: 2, IdleSince: clock(0), AvailableSince: clock(0), Answered: 0, Talk: 0, Penalty: 0}, // the membership's penalty counts
		{UserID: 4, IdleSince: clock(5), AvailableSince: clock(15), Answered: 2, Talk: 300000},
		{UserID: 1, IdleSince: clock(0)}, // listed twice: the first counts
	}
	zero := func(int) int { return 0 }
	tests := []struct {
		name     string
		strategy Strategy
		cands    []Candidate
		last     int64
		rnd      func(int) int
		want     [][]int64
	}{
		{name: "ring_all: each tier at once", strategy: RingAll, want: [][]int64{{1, 3, 4}, {2, 5}}},
		{name: "linear: member order, tier by tier", strategy: Linear, want: one(1, 3, 4, 2, 5)},
		{name: "round_robin: after the member offered last", strategy: RoundRobin, last: 3, want: one(4, 1, 3, 5, 2)},
		{name: "round_robin: after the last member, from the first", strategy: RoundRobin, last: 5, want: one(1, 3, 4, 2, 5)},
		{name: "round_robin: after a member of another tier", strategy: RoundRobin, last: 2, want: one(3, 4, 1, 5, 2)},
		{name: "round_robin: nobody offered yet", strategy: RoundRobin, last: 0, want: one(1, 3, 4, 2, 5)},
		{name: "round_robin: the last one left the queue", strategy: RoundRobin, last: 42, want: one(1, 3, 4, 2, 5)},
		{name: "longest_idle: idle since, ties by available since", strategy: LongestIdle, want: one(4, 3, 1, 2, 5)},
		{name: "fewest_calls: ties to the longest idle", strategy: FewestCalls, want: one(4, 3, 1, 2, 5)},
		{name: "least_talk_time: ties to the longest idle", strategy: LeastTalkTime, want: one(4, 1, 3, 2, 5)},
		{name: "random: shuffled within tiers", strategy: Random, rnd: zero, want: one(3, 4, 1, 2, 5)},
		{name: "random: another draw", strategy: Random, rnd: func(n int) int { return n - 1 }, want: one(1, 3, 4, 2, 5)},
		{name: "random: out-of-range draws are folded in", strategy: Random, rnd: func(n int) int { return -n }, want: one(3, 4, 1, 2, 5)},
		{name: "random: nil rnd is member order", strategy: Random, want: one(1, 3, 4, 2, 5)},
		{name: "nobody routable", strategy: RingAll, cands: []Candidate{}, want: nil},
		{name: "one tier only", strategy: RingAll, cands: []Candidate{{UserID: 5}, {UserID: 2}}, want: [][]int64{{2, 5}}},
		{name: "full ties go by member order", strategy: LongestIdle,
			cands: []Candidate{{UserID: 4, IdleSince: clock(1)}, {UserID: 3, IdleSince: clock(1)}, {UserID: 1, IdleSince: clock(1)}},
			want:  one(1, 3, 4)},
		{name: "fewest_calls full ties", strategy: FewestCalls,
			cands: []Candidate{{UserID: 4, Answered: 1}, {UserID: 1, Answered: 1}},
			want:  one(1, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &Queue{ID: 3, Strategy: tc.strategy, Members: members}
			c := cands
			if tc.cands != nil {
				c = tc.cands
			}
			got := q.Pick(c, tc.last, tc.rnd)
			require.Equal(t, tc.want, ids(got))
			for _, g := range got {
				for _, x := range g {
					m, _ := q.Member(x.UserID)
					require.Equal(t, m.Penalty, x.Penalty)
				}
			}
			require.Equal(t, got, q.Pick(c, tc.last, tc.rnd), "deterministic")
		})
	}
}

// TestPickRandomSpread: every member of a tier comes first with a real random source.
func TestPickRandomSpread(t *testing.T) {
	q := &Queue{Strategy: Random, Members: []Member{{UserID: 1}, {UserID: 2}, {UserID: 3}, {UserID: 4, Penalty: 1}}}
	cands := []Candidate{{UserID: 1}, {UserID: 2}, {UserID: 3}, {UserID: 4}}
	seq := 0
	rnd := func(n int) int { seq = (seq*1103515245 + 12345) & 0x7fffffff; return seq % n }
	first := map[int64]int{}
	for range 300 {
		g := q.Pick(cands, 0, rnd)
		first[g[0][0].UserID]++
		require.Equal(t, int64(4), g[3][0].UserID, "the higher tier stays last")
	}
	require.Len(t, first, 3)
	for u, n := range first {
		require.Greater(t, n, 50, "user %d", u)
	}
}

// lookup is a store's view in a map.
func lookup(m map[int64]Presence) Lookup {
	return func(id int64) (Presence, bool) { p, ok := m[id]; return p, ok }
}

func TestCandidatesAndCensus(t *testing.T) {
	f := agents(t)
	now := at(30)
	user := func(a Agent, id int64) Agent { a.UserID = id; return a }
	later := must(t)(f.out.Login(at(5)))
	q := &Queue{ID: 3, Strategy: LongestIdle, Members: []Member{
		{UserID: 1}, {UserID: 2}, {UserID: 3, Penalty: 5}, {UserID: 4}, {UserID: 5}, {UserID: 6}, {UserID: 7}, {UserID: 8}}}
	store := map[int64]Presence{
		1: {Agent: user(f.avail, 1), Registered: true},             // routable
		2: {Agent: user(f.avail, 2), Registered: true, Busy: true}, // on a direct call
		3: {Agent: user(later, 3), Registered: true},               // routable, logged in later
		4: {Agent: user(f.avail, 4)},                               // no device
		5: {Agent: user(f.paused, 5), Registered: true},            // not_ready
		6: {Agent: user(f.offered, 6), Registered: true},           // offered
		7: {Agent: user(f.out, 7), Registered: true},               // logged out
		// 8: never logged in
	}
	cands := q.Candidates(now, lookup(store))
	require.Equal(t, []Candidate{
		{UserID: 1, IdleSince: at(0), AvailableSince: at(0)},
		{UserID: 3, Penalty: 5, IdleSince: at(5), AvailableSince: at(5)},
	}, cands)
	require.Equal(t, one(1, 3), ids(q.Pick(cands, 0, nil)))

	c := q.Census(now, lookup(store))
	require.Equal(t, Census{Members: 8, LoggedIn: 6, Serving: 5, Routable: 2, States: map[State]int{
		LoggedOut: 2, Available: 4, NotReady: 1, Offered: 1, OnCall: 0, AfterCallWork: 0}}, c)

	// At 45 the offer's lease (until 40) has lapsed: the agent counts as available again.
	c = q.Census(at(45), lookup(store))
	require.Equal(t, 5, c.States[Available])
	require.Equal(t, 3, c.Routable)
	require.Len(t, q.Candidates(at(45), lookup(store)), 3)
}

func TestCandidateOf(t *testing.T) {
	f := agents(t)
	a := f.acw.Settle(at(90))
	require.Equal(t, Candidate{UserID: 7, Penalty: 2, IdleSince: at(75), AvailableSince: at(85), Answered: 1, Talk: 60000},
		CandidateOf(a, 2), "idle since the last call's end, available since wrap-up's")
	b := must(t)(a.Logout(at(100)))
	b = must(t)(b.Login(at(200)))
	require.Equal(t, at(200), CandidateOf(b, 0).IdleSince, "idle since login when that is later")
}
