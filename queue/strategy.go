package queue

import (
	"cmp"
	"slices"
	"time"
)

// Presence is what a store knows of a member: its agent state, whether it is on any call on
// any of its devices (Busy: direct and outbound calls too, counted across nodes), and
// whether it has at least one registered device.
type Presence struct {
	Agent      Agent
	Busy       bool
	Registered bool
}

// Lookup gives a member's Presence; ok is false for a user with no agent state (never
// logged in), who counts as logged out.
type Lookup func(userID int64) (p Presence, ok bool)

// Candidate is a routable member as the strategies see it.
type Candidate struct {
	UserID  int64 `json:"user_id"`
	Penalty int   `json:"penalty"` // the member's tier
	// IdleSince is the later of the agent's last call end and login: an agent who just
	// logged in has not been waiting for a call longer than one who finished a call earlier.
	IdleSince      time.Time `json:"idle_since"`
	AvailableSince time.Time `json:"available_since"` // the agent's Since (available)
	Answered       int       `json:"answered"`        // since login
	Talk           Millis    `json:"talk_ms"`         // since login
}

// CandidateOf describes agent a, a member with the given penalty, for Pick.
func CandidateOf(a Agent, penalty int) Candidate {
	return Candidate{UserID: a.UserID, Penalty: penalty, IdleSince: later(a.LastCallEnd, a.LoggedInAt),
		AvailableSince: a.Since, Answered: a.Answered, Talk: a.Talk}
}

// Candidates lists the members of q routable at now (Agent.Routable with the store's busy
// and registered), in member order, each settled at now.
func (q *Queue) Candidates(now time.Time, look Lookup) []Candidate {
	var out []Candidate
	for _, m := range q.Members {
		p, ok := look(m.UserID)
		if !ok || !p.Agent.Routable(now, p.Busy, p.Registered) {
			continue
		}
		a := p.Agent.Settle(now)
		a.UserID = m.UserID
		out = append(out, CandidateOf(a, m.Penalty))
	}
	return out
}

// Census counts a queue's members by state at now (each agent settled): what the status API
// shows and what Admit, Leave and ExpectedWait need.
type Census struct {
	Members  int `json:"members"`
	LoggedIn int `json:"logged_in"` // in any state but logged_out (not_ready included)
	// Serving are logged in and not not_ready: available, offered, on_call or
	// after_call_work, the agents who will take this queue's callers.
	Serving  int           `json:"serving"`
	Routable int           `json:"routable"` // available, not busy, registered: could be offered a call now
	States   map[State]int `json:"states"`   // every state, zeros included
}

// Census counts q's members at now.
func (q *Queue) Census(now time.Time, look Lookup) Census {
	c := Census{Members: len(q.Members), States: make(map[State]int, len(States))}
	for _, s := range States {
		c.States[s] = 0
	}
	for _, m := range q.Members {
		p, ok := look(m.UserID)
		a := NewAgent(m.UserID)
		if ok {
			a = p.Agent.Settle(now)
		}
		c.States[a.State]++
		if a.State == LoggedOut {
			continue
		}
		c.LoggedIn++
		if a.State != NotReady {
			c.Serving++
		}
		if ok && a.Routable(now, p.Busy, p.Registered) {
			c.Routable++
		}
	}
	return c
}

// Pick orders the candidates a caller is offered to, for q's strategy: a list of groups,
// each rung at once for one attempt (Ring), tried in order. ring_all gives one group per
// penalty tier (every candidate of the tier at once); the other strategies one candidate
// per group. Lower penalties always come first: every candidate of the lowest tier is tried
// before any of the next. Within a tier:
//
//   - ring_all, linear: member order.
//   - round_robin: member order starting after last (the member this queue offered a call to
//     last, kept by the store; 0 or a user no longer a member: from the first member).
//   - longest_idle: earliest IdleSince first, then earliest AvailableSince.
//   - fewest_calls: fewest Answered first; least_talk_time: least Talk first; ties in both
//     go to the longest idle.
//   - random: a shuffle drawn with rnd (rnd(n) returns 0..n-1; math/rand/v2.IntN in
//     production, a fixed sequence in tests; nil: member order).
//
// Remaining ties go by member order, so for a given rnd the answer is deterministic.
// Candidates who are not members are dropped, a member listed twice counts once, and the
// penalty is the membership's. The dispatcher rings the first group; when a claim on a
// candidate fails (another node took the agent) it moves on to the next candidate at once,
// and after an attempt nobody answered it waits RetryDelay and calls Pick again with the
// candidates routable then.
func (q *Queue) Pick(candidates []Candidate, last int64, rnd func(n int) int) [][]Candidate {
	index := make(map[int64]int, len(q.Members))
	for i, m := range q.Members {
		if _, dup := index[m.UserID]; !dup {
			index[m.UserID] = i
		}
	}
	type entry struct {
		c    Candidate
		rank int // member order, rotated for round_robin
	}
	seen := map[int64]bool{}
	var list []entry
	n := len(q.Members)
	start := 0
	if i, ok := index[last]; ok && q.Strategy == RoundRobin && last != 0 {
		start = i + 1
	}
	for _, c := range candidates {
		i, ok := index[c.UserID]
		if !ok || seen[c.UserID] {
			continue
		}
		seen[c.UserID] = true
		c.Penalty = q.Members[i].Penalty
		list = append(list, entry{c: c, rank: (i - start + n) % n})
	}
	slices.SortFunc(list, func(a, b entry) int { return cmp.Compare(a.rank, b.rank) })

	idle := func(a, b Candidate) int {
		if c := a.IdleSince.Compare(b.IdleSince); c != 0 {
			return c
		}
		return a.AvailableSince.Compare(b.AvailableSince)
	}
	var by func(a, b Candidate) int
	switch q.Strategy {
	case LongestIdle:
		by = idle
	case FewestCalls:
		by = func(a, b Candidate) int { return cmp.Or(cmp.Compare(a.Answered, b.Answered), idle(a, b)) }
	case LeastTalkTime:
		by = func(a, b Candidate) int { return cmp.Or(cmp.Compare(a.Talk, b.Talk), idle(a, b)) }
	case Random:
		if rnd != nil {
			for i := len(list) - 1; i > 0; i-- {
				j := rnd(i + 1)
				j = ((j % (i + 1)) + i + 1) % (i + 1)
				list[i], list[j] = list[j], list[i]
			}
		}
	}
	slices.SortStableFunc(list, func(a, b entry) int {
		if c := cmp.Compare(a.c.Penalty, b.c.Penalty); c != 0 || by == nil {
			return c
		}
		return by(a.c, b.c)
	})

	var groups [][]Candidate
	for i, e := range list {
		if q.Strategy == RingAll && i > 0 && list[i-1].c.Penalty == e.c.Penalty {
			groups[len(groups)-1] = append(groups[len(groups)-1], e.c)
			continue
		}
		groups = append(groups, []Candidate{e.c})
	}
	return groups
}
