// Package registrartest holds the contract suite every registrar.Store implementation must
// pass (registrar.MemoryStore, redisstore.Store). It is an ordinary package so that the tests
// of each implementation can call RunStoreContract.
package registrartest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/registrar"
)

// RunStoreContract runs the registrar.Store contract against fresh stores made by newStore
// (one per subtest; it should register its own cleanup).
//
// newPeer, when not nil, returns a second store sharing the backend of s (for redisstore:
// another Store value, ideally on another client, with the same prefix); the suite uses
// it to check that processes sharing a store see the same bindings and that concurrent
// Expire callers report each binding exactly once. With nil (in-process stores) the same
// store is used from several goroutines instead.
//
// Times in the suite are close to the wall clock, because a backend may set real TTLs
// derived from binding expiries.
func RunStoreContract(t *testing.T, newStore func(t *testing.T) registrar.Store,
	newPeer func(t *testing.T, s registrar.Store) registrar.Store) {
	t.Helper()
	e := env{fresh: newStore, newPeer: newPeer}
	cases := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{"AddAndRead", testAddAndRead},
		{"SubMillisecondNow", testSubMillisecondNow},
		{"Refresh", testRefresh},
		{"OutOfOrder", testOutOfOrder},
		{"DifferentCallIDReplaces", testDifferentCallIDReplaces},
		{"Remove", testRemove},
		{"RemoveAll", testRemoveAll},
		{"MaxContacts", testMaxContacts},
		{"ListOnly", testListOnly},
		{"Expiry", testExpiry},
		{"ApplyIgnoresExpired", testApplyIgnoresExpired},
		{"RemoveAOR", testRemoveAOR},
		{"AORIsolation", testAORIsolation},
		{"ListOrder", testListOrder},
		{"ResultsAreCopies", testResultsAreCopies},
		{"ConcurrentMaxContacts", testConcurrentMaxContacts},
		{"ConcurrentAORs", testConcurrentAORs},
		{"ConcurrentExpire", testConcurrentExpire},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, e)
		})
	}
}

// env gives a case its stores.
type env struct {
	fresh   func(t *testing.T) registrar.Store
	newPeer func(t *testing.T, s registrar.Store) registrar.Store
}

// peer returns a store sharing s's backend (s itself for in-process stores).
func (e env) peer(t *testing.T, s registrar.Store) registrar.Store {
	if e.newPeer == nil {
		return s
	}
	return e.newPeer(t, s)
}

var ctx = context.Background()

// epoch is a millisecond-aligned instant near the wall clock.
func epoch() time.Time { return time.Now().UTC().Truncate(time.Second) }

// change builds a change with every optional field set, so that the suite checks each one
// survives the store.
func change(contact string, expires time.Duration) registrar.Change {
	host := strings.TrimPrefix(contact, "sip:")
	return registrar.Change{
		Binding: registrar.Binding{
			Contact:    contact,
			Transport:  "tcp",
			Source:     "192.0.2.10:" + fmt.Sprint(5060+len(host)),
			Local:      "198.51.100.1:5060",
			Q:          0.7,
			InstanceID: "<urn:uuid:00000000-0000-1000-8000-" + fmt.Sprintf("%012d", len(contact)) + ">",
			UserAgent:  `Zoiper "5" ünïcode \ ` + host,
			Node:       "node-a",
		},
		Expires: expires,
	}
}

// reg is a one-contact REGISTER.
func reg(aor, callID string, cseq uint32, now time.Time, changes ...registrar.Change) registrar.Update {
	return registrar.Update{AOR: aor, CallID: callID, CSeq: cseq, Changes: changes, Now: now}
}

// want is the binding a store must hold after u applied c.
func want(u registrar.Update, c registrar.Change) registrar.Binding {
	b := c.Binding
	b.AOR = u.AOR
	b.CallID = u.CallID
	b.CSeq = u.CSeq
	b.ExpiresAt = u.Now.Add(c.Expires)
	b.UpdatedAt = u.Now
	return b
}

func mustApply(t *testing.T, s registrar.Store, u registrar.Update) []registrar.Binding {
	t.Helper()
	bs, err := s.Apply(ctx, u)
	if err != nil {
		t.Fatalf("Apply(%s cid=%s cseq=%d): %v", u.AOR, u.CallID, u.CSeq, err)
	}
	return bs
}

func mustLookup(t *testing.T, s registrar.Store, aor string, now time.Time) []registrar.Binding {
	t.Helper()
	bs, err := s.Lookup(ctx, aor, now)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", aor, err)
	}
	return bs
}

func mustList(t *testing.T, s registrar.Store, now time.Time) []registrar.Binding {
	t.Helper()
	bs, err := s.List(ctx, now)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return bs
}

func mustExpire(t *testing.T, s registrar.Store, now time.Time) []registrar.Binding {
	t.Helper()
	bs, err := s.Expire(ctx, now)
	if err != nil {
		t.Fatalf("Expire: %v", err)
	}
	return bs
}

func key(b registrar.Binding) string { return b.AOR + "\x00" + b.Contact }

func cmpBinding(a, b registrar.Binding) int {
	if c := strings.Compare(a.AOR, b.AOR); c != 0 {
		return c
	}
	return strings.Compare(a.Contact, b.Contact)
}

// diff describes how got differs from want, or returns "".
func diff(got, want registrar.Binding) string {
	var d []string
	f := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s: got %#v, want %#v", name, g, w))
		}
	}
	f("AOR", got.AOR, want.AOR)
	f("Contact", got.Contact, want.Contact)
	f("Transport", got.Transport, want.Transport)
	f("Source", got.Source, want.Source)
	f("Local", got.Local, want.Local)
	f("CallID", got.CallID, want.CallID)
	f("CSeq", got.CSeq, want.CSeq)
	f("Q", got.Q, want.Q)
	f("InstanceID", got.InstanceID, want.InstanceID)
	f("UserAgent", got.UserAgent, want.UserAgent)
	f("Node", got.Node, want.Node)
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		d = append(d, fmt.Sprintf("ExpiresAt: got %v, want %v", got.ExpiresAt, want.ExpiresAt))
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		d = append(d, fmt.Sprintf("UpdatedAt: got %v, want %v", got.UpdatedAt, want.UpdatedAt))
	}
	return strings.Join(d, "; ")
}

// check compares two sets of bindings, ignoring order.
func check(t *testing.T, what string, got []registrar.Binding, want ...registrar.Binding) {
	t.Helper()
	g := slices.SortedFunc(slices.Values(got), cmpBinding)
	w := slices.SortedFunc(slices.Values(want), cmpBinding)
	if len(g) != len(w) {
		t.Fatalf("%s: got %d bindings %v, want %d %v", what, len(g), keys(g), len(w), keys(w))
	}
	for i := range g {
		if d := diff(g[i], w[i]); d != "" {
			t.Fatalf("%s: binding %d (%s %s): %s", what, i, w[i].AOR, w[i].Contact, d)
		}
	}
}

func keys(bs []registrar.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.AOR + " " + b.Contact
	}
	return out
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// checkState asserts that the AOR holds exactly want, through Lookup and List.
func checkState(t *testing.T, s registrar.Store, aor string, now time.Time, want ...registrar.Binding) {
	t.Helper()
	check(t, "Lookup", mustLookup(t, s, aor, now), want...)
	var listed []registrar.Binding
	for _, b := range mustList(t, s, now) {
		if b.AOR == aor {
			listed = append(listed, b)
		}
	}
	check(t, "List", listed, want...)
}

func testAddAndRead(t *testing.T, e env) {
	s := e.fresh(t)
	now := epoch().Add(123 * time.Millisecond)
	c := change("sip:alice@192.0.2.10:5060;transport=tcp", time.Hour+250*time.Millisecond)
	// Fields that the Update decides must be overwritten, whatever the change says.
	c.AOR, c.CallID, c.CSeq = "mallory", "other", 99
	c.ExpiresAt, c.UpdatedAt = now.Add(-time.Hour), now.Add(-time.Hour)
	u := reg("alice", "a84b4c76e66710@pc33", 314159, now, c)
	w := want(u, c)

	got := mustApply(t, s, u)
	check(t, "Apply", got, w)
	checkState(t, s, "alice", now, w)
	checkState(t, e.peer(t, s), "alice", now, w)
	if list := mustList(t, s, now); len(list) != 1 {
		t.Fatalf("List: got %v, want only alice's binding", keys(list))
	}
	if bs := mustLookup(t, s, "mallory", now); len(bs) != 0 {
		t.Fatalf("Lookup(mallory): got %v, want none", keys(bs))
	}
}

func testSubMillisecondNow(t *testing.T, e env) {
	s := e.fresh(t)
	now := epoch().Add(123456789 * time.Nanosecond)
	c := change("sip:alice@192.0.2.10", time.Minute)
	got := mustApply(t, s, reg("alice", "c1", 1, now, c))
	if len(got) != 1 {
		t.Fatalf("Apply: got %d bindings, want 1", len(got))
	}
	if d := got[0].ExpiresAt.Sub(now.Add(time.Minute)); d <= -time.Millisecond || d > 0 {
		t.Fatalf("ExpiresAt %v is %v away from now+Expires (want at most 1ms earlier)", got[0].ExpiresAt, d)
	}
	if d := got[0].UpdatedAt.Sub(now); d <= -time.Millisecond || d > 0 {
		t.Fatalf("UpdatedAt %v is %v away from now", got[0].UpdatedAt, d)
	}
	// Whatever the precision, reading back gives what Apply returned.
	check(t, "Lookup", mustLookup(t, s, "alice", now), got...)
}

func testRefresh(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	c := change("sip:alice@192.0.2.10", time.Minute)
	mustApply(t, s, reg("alice", "c1", 1, t0, c))

	t1 := t0.Add(30 * time.Second)
	c2 := change("sip:alice@192.0.2.10", 2*time.Minute)
	c2.Source = "203.0.113.7:41000"
	c2.UserAgent = "upgraded"
	u := reg("alice", "c1", 2, t1, c2)
	w := want(u, c2)
	check(t, "Apply", mustApply(t, s, u), w)
	checkState(t, s, "alice", t1, w)
	// The refresh moved the expiry: alive after the first one would have lapsed.
	checkState(t, s, "alice", t0.Add(time.Minute+time.Second), w)
}

func testOutOfOrder(t *testing.T, e env) {
	const contact = "sip:alice@192.0.2.10"
	rows := []struct {
		name    string
		cseq    uint32
		changes func(now time.Time) []registrar.Change
	}{
		{"refresh equal CSeq", 5, func(time.Time) []registrar.Change { return []registrar.Change{change(contact, time.Hour)} }},
		{"refresh lower CSeq", 4, func(time.Time) []registrar.Change { return []registrar.Change{change(contact, time.Hour)} }},
		{"remove equal CSeq", 5, func(time.Time) []registrar.Change { return []registrar.Change{change(contact, 0)} }},
		{"remove lower CSeq", 1, func(time.Time) []registrar.Change { return []registrar.Change{change(contact, 0)} }},
		{"new contact with stale one", 3, func(time.Time) []registrar.Change {
			return []registrar.Change{change("sip:alice@192.0.2.99", time.Hour), change(contact, time.Hour)}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			s := e.fresh(t)
			aor := "alice-" + strings.ReplaceAll(row.name, " ", "-")
			t0 := epoch()
			c := change(contact, time.Hour)
			u := reg(aor, "c1", 5, t0, c)
			mustApply(t, s, u)
			w := want(u, c)

			t1 := t0.Add(time.Second)
			_, err := s.Apply(ctx, reg(aor, "c1", row.cseq, t1, row.changes(t1)...))
			checkErr(t, "Apply", err, registrar.ErrOutOfOrder)
			checkState(t, s, aor, t1, w)

			// A higher CSeq of the same call is fine.
			mustApply(t, s, reg(aor, "c1", 6, t1, row.changes(t1)...))
		})
	}
}

func testDifferentCallIDReplaces(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	const contact = "sip:alice@192.0.2.10"
	mustApply(t, s, reg("alice", "c1", 100, t0, change(contact, time.Hour)))

	// The phone rebooted: new Call-ID, CSeq restarted low.
	t1 := t0.Add(time.Minute)
	c := change(contact, 30*time.Minute)
	c.Source = "203.0.113.7:5062"
	c.Transport = "udp"
	u := reg("alice", "c2", 1, t1, c)
	w := want(u, c)
	check(t, "Apply", mustApply(t, s, u), w)
	checkState(t, s, "alice", t1, w)

	// And another call may remove it, whatever its CSeq.
	check(t, "Apply remove", mustApply(t, s, reg("alice", "c3", 1, t1, change(contact, 0))))
	checkState(t, s, "alice", t1)
}

func testRemove(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	a, b := change("sip:alice@192.0.2.10", time.Hour), change("sip:alice@192.0.2.11", time.Hour)
	u := reg("alice", "c1", 1, t0, a, b)
	mustApply(t, s, u)
	wb := want(u, b)

	t1 := t0.Add(time.Second)
	check(t, "Apply remove a", mustApply(t, s, reg("alice", "c1", 2, t1, change(a.Contact, 0))), wb)
	checkState(t, s, "alice", t1, wb)

	// Removing a contact that is not bound is a no-op.
	check(t, "Apply remove unknown", mustApply(t, s, reg("alice", "c1", 3, t1, change("sip:nobody@192.0.2.1", 0))), wb)

	check(t, "Apply remove b", mustApply(t, s, reg("alice", "c9", 1, t1, change(b.Contact, 0))))
	checkState(t, s, "alice", t1)
	if list := mustList(t, s, t1); len(list) != 0 {
		t.Fatalf("List: got %v, want none", keys(list))
	}
}

func testRemoveAll(t *testing.T, e env) {
	// Each row starts from: A bound by call c1 CSeq 5 for an hour, B by c2 CSeq 9 for
	// 10 seconds; the RemoveAll comes 1 second (or, with late, 20 seconds) later.
	rows := []struct {
		name    string
		callID  string
		cseq    uint32
		late    bool
		wantErr error
	}{
		{"other call", "c3", 1, false, nil},
		{"same call higher CSeq", "c1", 6, false, nil},
		{"same call equal CSeq", "c1", 5, false, registrar.ErrOutOfOrder},
		{"same call lower CSeq", "c2", 3, false, registrar.ErrOutOfOrder},
		{"expired binding does not block", "c2", 3, true, nil},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			aor := fmt.Sprintf("alice%d", i)
			s := e.fresh(t)
			t0 := epoch()
			a, b := change("sip:alice@192.0.2.10", time.Hour), change("sip:alice@192.0.2.11", 10*time.Second)
			ua, ub := reg(aor, "c1", 5, t0, a), reg(aor, "c2", 9, t0, b)
			mustApply(t, s, ua)
			mustApply(t, s, ub)
			before := []registrar.Binding{want(ua, a), want(ub, b)}

			now := t0.Add(time.Second)
			if row.late {
				now = t0.Add(20 * time.Second)
				before = before[:1]
			}
			got, err := s.Apply(ctx, registrar.Update{AOR: aor, CallID: row.callID, CSeq: row.cseq, RemoveAll: true, Now: now})
			checkErr(t, "Apply RemoveAll", err, row.wantErr)
			if row.wantErr != nil {
				checkState(t, s, aor, now, before...)
				return
			}
			check(t, "Apply RemoveAll", got)
			checkState(t, s, aor, now)
		})
	}
	t.Run("unknown AOR", func(t *testing.T) {
		s := e.fresh(t)
		got, err := s.Apply(ctx, registrar.Update{AOR: "nobody", CallID: "c1", CSeq: 1, RemoveAll: true, Now: epoch()})
		checkErr(t, "Apply RemoveAll", err, nil)
		check(t, "Apply RemoveAll", got)
	})
}

func testMaxContacts(t *testing.T, e env) {
	const aor = "alice"
	c := func(i int, expires time.Duration) registrar.Change {
		return change(fmt.Sprintf("sip:alice@192.0.2.%d", i), expires)
	}
	// Each row starts from three bindings 1, 2, 3 (3 lapses after 10 seconds) registered
	// by call "setup" at t0, and applies its update at t0+1s or, with late, t0+20s.
	rows := []struct {
		name     string
		max      int
		late     bool
		changes  []registrar.Change
		wantErr  error
		wantLive []int // contacts bound afterwards
	}{
		{"add beyond limit", 3, false, []registrar.Change{c(4, time.Hour)}, registrar.ErrTooManyContacts, []int{1, 2, 3}},
		{"add two beyond limit", 4, false, []registrar.Change{c(4, time.Hour), c(5, time.Hour)}, registrar.ErrTooManyContacts, []int{1, 2, 3}},
		{"add within limit", 4, false, []registrar.Change{c(4, time.Hour)}, nil, []int{1, 2, 3, 4}},
		{"refresh at limit", 3, false, []registrar.Change{c(1, time.Hour), c(2, time.Hour), c(3, time.Hour)}, nil, []int{1, 2, 3}},
		{"refresh above lowered limit", 2, false, []registrar.Change{c(1, 2*time.Hour)}, nil, []int{1, 2, 3}},
		{"remove above lowered limit", 1, false, []registrar.Change{c(1, 0)}, nil, []int{2, 3}},
		{"replace at limit", 3, false, []registrar.Change{c(1, 0), c(4, time.Hour)}, nil, []int{2, 3, 4}},
		{"expired ones do not count", 3, true, []registrar.Change{c(4, time.Hour)}, nil, []int{1, 2, 4}},
		{"no limit", 0, false, []registrar.Change{c(4, time.Hour), c(5, time.Hour), c(6, time.Hour), c(7, time.Hour)}, nil, []int{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			s := e.fresh(t)
			t0 := epoch()
			setup := reg(aor, "setup", 1, t0, c(1, time.Hour), c(2, time.Hour), c(3, 10*time.Second))
			setup.MaxContacts = 3
			mustApply(t, s, setup)

			now := t0.Add(time.Second)
			if row.late {
				now = t0.Add(20 * time.Second)
			}
			u := reg(aor, "update", 1, now, row.changes...)
			u.MaxContacts = row.max
			got, err := s.Apply(ctx, u)
			checkErr(t, "Apply", err, row.wantErr)
			live := mustLookup(t, s, aor, now)
			var contacts []int
			for _, b := range live {
				var i int
				fmt.Sscanf(b.Contact, "sip:alice@192.0.2.%d", &i)
				contacts = append(contacts, i)
			}
			slices.Sort(contacts)
			if !slices.Equal(contacts, row.wantLive) {
				t.Fatalf("bound after update: %v, want %v", contacts, row.wantLive)
			}
			if err == nil {
				check(t, "Apply result", got, live...)
			}
			if row.wantErr != nil {
				// Nothing changed: bindings 1 and 2 still carry the setup call.
				for _, b := range live {
					if b.CallID != "setup" {
						t.Fatalf("binding %s changed by a failed update", b.Contact)
					}
				}
			}
		})
	}
}

func testListOnly(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	a, b := change("sip:alice@192.0.2.10", time.Hour), change("sip:alice@192.0.2.11", time.Minute)
	u := reg("alice", "c1", 1, t0, a, b)
	mustApply(t, s, u)
	wa, wb := want(u, a), want(u, b)

	t1 := t0.Add(time.Second)
	check(t, "Apply no changes", mustApply(t, s, reg("alice", "c1", 1, t1)), wa, wb)
	checkState(t, s, "alice", t1, wa, wb) // a lower/equal CSeq listing is not an error and changes nothing
	check(t, "Apply no changes after expiry", mustApply(t, s, reg("alice", "c1", 1, t0.Add(2*time.Minute))), wa)
	check(t, "Apply no changes, unknown AOR", mustApply(t, s, reg("nobody", "c1", 1, t1)))
}

func testExpiry(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	a1, a2 := change("sip:alice@192.0.2.10", 10*time.Second), change("sip:alice@192.0.2.11", time.Minute)
	b1 := change("sip:bob@192.0.2.20", 10*time.Second)
	c1 := change("sip:carol@192.0.2.30", 20*time.Second)
	ua, ub, uc := reg("alice", "ca", 1, t0, a1, a2), reg("bob", "cb", 1, t0, b1), reg("carol", "cc", 1, t0, c1)
	mustApply(t, s, ua)
	mustApply(t, s, ub)
	mustApply(t, s, uc)
	wa1, wa2, wb1, wc1 := want(ua, a1), want(ua, a2), want(ub, b1), want(uc, c1)

	// Live until just before ExpiresAt, gone at ExpiresAt.
	check(t, "Lookup before expiry", mustLookup(t, s, "alice", wa1.ExpiresAt.Add(-time.Millisecond)), wa1, wa2)
	check(t, "Lookup at expiry", mustLookup(t, s, "alice", wa1.ExpiresAt), wa2)
	check(t, "Lookup bob at expiry", mustLookup(t, s, "bob", wb1.ExpiresAt))
	check(t, "List at expiry", mustList(t, s, wa1.ExpiresAt), wa2, wc1)

	t15 := t0.Add(15 * time.Second)
	check(t, "Expire", mustExpire(t, s, t15), wa1, wb1)
	check(t, "Expire again", mustExpire(t, e.peer(t, s), t15))
	check(t, "Expire again, same store", mustExpire(t, s, t15))
	// Really removed: not visible even at an earlier now.
	check(t, "List after Expire", mustList(t, s, t0), wa2, wc1)
	check(t, "Lookup bob after Expire", mustLookup(t, s, "bob", t0))

	check(t, "Expire all", mustExpire(t, s, t0.Add(time.Hour)), wa2, wc1)
	check(t, "List after Expire all", mustList(t, s, t0))
	check(t, "Expire nothing left", mustExpire(t, s, t0.Add(2*time.Hour)))
}

func testApplyIgnoresExpired(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	const contact = "sip:alice@192.0.2.10"
	mustApply(t, s, reg("alice", "c1", 5, t0, change(contact, 10*time.Second)))

	// The lapsed binding does not exist any more: the same call with a lower CSeq is
	// accepted (no ErrOutOfOrder) and creates a fresh binding.
	t1 := t0.Add(20 * time.Second)
	c := change(contact, time.Minute)
	u := reg("alice", "c1", 3, t1, c)
	w := want(u, c)
	check(t, "Apply", mustApply(t, s, u), w)
	checkState(t, s, "alice", t1, w)
}

func testRemoveAOR(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	a1, a2, b1 := change("sip:alice@192.0.2.10", time.Hour), change("sip:alice@192.0.2.11", time.Hour), change("sip:bob@192.0.2.20", time.Hour)
	ua, ub := reg("alice", "ca", 1, t0, a1, a2), reg("bob", "cb", 1, t0, b1)
	mustApply(t, s, ua)
	mustApply(t, s, ub)

	got, err := s.RemoveAOR(ctx, "alice")
	checkErr(t, "RemoveAOR", err, nil)
	check(t, "RemoveAOR", got, want(ua, a1), want(ua, a2))
	checkState(t, s, "alice", t0)
	check(t, "List", mustList(t, e.peer(t, s), t0), want(ub, b1))

	got, err = s.RemoveAOR(ctx, "alice")
	checkErr(t, "RemoveAOR again", err, nil)
	check(t, "RemoveAOR again", got)
	got, err = s.RemoveAOR(ctx, "nobody")
	checkErr(t, "RemoveAOR unknown", err, nil)
	check(t, "RemoveAOR unknown", got)

	// The account can register again, even with the old call and CSeq.
	check(t, "Apply after RemoveAOR", mustApply(t, s, ua), want(ua, a1), want(ua, a2))
	// Nothing left for Expire to report twice.
	check(t, "Expire", mustExpire(t, s, t0.Add(2*time.Hour)), want(ua, a1), want(ua, a2), want(ub, b1))
}

func testAORIsolation(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	// Names that could collide with a backend's own keys, or with each other.
	aors := []string{"alice", "ALICE", "bob", "exp", "aors", "loc", "a:b", "alice@example.com", "ünï", "x\ty"}
	const contact = "sip:phone@192.0.2.10:5060"
	var all []registrar.Binding
	for i, aor := range aors {
		c := change(contact, time.Hour)
		c.Node = fmt.Sprint("node-", i)
		u := reg(aor, "same-call", 10, t0, c) // same Call-ID and CSeq everywhere
		u.MaxContacts = 1
		check(t, "Apply "+aor, mustApply(t, s, u), want(u, c))
		all = append(all, want(u, c))
	}
	for i, aor := range aors {
		check(t, "Lookup "+aor, mustLookup(t, s, aor, t0), all[i])
	}
	check(t, "List", mustList(t, s, t0), all...)

	// Removing, failing and expiring in one AOR leaves the others alone.
	t1 := t0.Add(time.Second)
	check(t, "Apply remove", mustApply(t, s, reg("alice", "same-call", 11, t1, change(contact, 0))))
	_, err := s.Apply(ctx, reg("bob", "same-call", 10, t1, change(contact, time.Hour)))
	checkErr(t, "Apply bob out of order", err, registrar.ErrOutOfOrder)
	other := change("sip:other@192.0.2.11", 5*time.Second)
	uo := reg("exp", "other-call", 1, t1, other)
	mustApply(t, s, uo)
	check(t, "Expire", mustExpire(t, s, t1.Add(10*time.Second)), want(uo, other))
	check(t, "List after", mustList(t, s, t1), all[1:]...)
}

func testListOrder(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	var all []registrar.Binding
	for _, aor := range []string{"carol", "alice", "bob", "alice2", "Zed"} {
		var cs []registrar.Change
		for _, h := range []string{"sip:x@10.0.0.3", "sip:x@10.0.0.1", "sips:a@h", "sip:x@10.0.0.2"} {
			cs = append(cs, change(h, time.Hour))
		}
		u := reg(aor, "c-"+aor, 1, t0, cs...)
		mustApply(t, s, u)
		for _, c := range cs {
			all = append(all, want(u, c))
		}
	}
	slices.SortFunc(all, cmpBinding)
	got := mustList(t, s, t0)
	if len(got) != len(all) {
		t.Fatalf("List: got %d bindings, want %d", len(got), len(all))
	}
	for i := range got {
		if d := diff(got[i], all[i]); d != "" {
			t.Fatalf("List[%d]: want %s %s: %s (order %v)", i, all[i].AOR, all[i].Contact, d, keys(got))
		}
	}
}

func testResultsAreCopies(t *testing.T, e env) {
	s := e.fresh(t)
	t0 := epoch()
	c := change("sip:alice@192.0.2.10", time.Hour)
	u := reg("alice", "c1", 1, t0, c)
	w := want(u, c)
	scribble := func(bs []registrar.Binding) {
		for i := range bs {
			bs[i].Contact, bs[i].CSeq, bs[i].ExpiresAt = "sip:scribbled", 0, time.Time{}
		}
	}
	scribble(mustApply(t, s, u))
	scribble(mustLookup(t, s, "alice", t0))
	scribble(mustList(t, s, t0))
	checkState(t, s, "alice", t0, w)
}

func testConcurrentMaxContacts(t *testing.T, e env) {
	s := e.fresh(t)
	const n, limit = 50, 10
	t0 := epoch()
	stores := []registrar.Store{s, e.peer(t, s)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
		errs     []error
		start    = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			contact := fmt.Sprintf("sip:busy@192.0.2.%d", i)
			u := reg("busy", fmt.Sprint("call-", i), 1, t0, change(contact, time.Hour))
			u.MaxContacts = limit
			bs, err := stores[i%2].Apply(ctx, u)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				if !slices.ContainsFunc(bs, func(b registrar.Binding) bool { return b.Contact == contact }) {
					errs = append(errs, fmt.Errorf("Apply %d succeeded without its contact", i))
				}
				if len(bs) > limit {
					errs = append(errs, fmt.Errorf("Apply %d returned %d bindings", i, len(bs)))
				}
			case errors.Is(err, registrar.ErrTooManyContacts):
				full++
			default:
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if ok != limit || full != n-limit {
		t.Fatalf("got %d successes and %d ErrTooManyContacts, want %d and %d", ok, full, limit, n-limit)
	}
	if bs := mustLookup(t, s, "busy", t0); len(bs) != limit {
		t.Fatalf("Lookup: %d bindings, want %d", len(bs), limit)
	}
}

func testConcurrentAORs(t *testing.T, e env) {
	s := e.fresh(t)
	const n, rounds = 50, 20
	t0 := epoch()
	stores := []registrar.Store{s, e.peer(t, s)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aor := fmt.Sprint("user", i)
			for r := 1; r <= rounds; r++ {
				u := reg(aor, "c", uint32(r), t0.Add(time.Duration(r)*time.Second), change("sip:"+aor+"@192.0.2.1", time.Hour))
				u.MaxContacts = 1
				if _, err := stores[r%2].Apply(ctx, u); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	list := mustList(t, s, t0.Add(rounds*time.Second))
	if len(list) != n {
		t.Fatalf("List: %d bindings, want %d", len(list), n)
	}
	for _, b := range list {
		if b.CSeq != rounds || !b.UpdatedAt.Equal(t0.Add(rounds*time.Second)) {
			t.Fatalf("%s: CSeq %d updated %v, want the last round", b.AOR, b.CSeq, b.UpdatedAt)
		}
	}
}

func testConcurrentExpire(t *testing.T, e env) {
	s := e.fresh(t)
	const aors, perAOR, callers = 60, 40, 8
	t0 := epoch()
	expired := map[string]bool{}
	live := 0
	for a := range aors {
		aor := fmt.Sprint("user", a)
		var cs []registrar.Change
		for j := range perAOR {
			exp := time.Hour
			if j%3 != 0 {
				exp = 10*time.Second + time.Duration(a*perAOR+j)*time.Millisecond
			}
			c := change(fmt.Sprintf("sip:%s@192.0.2.%d", aor, j), exp)
			cs = append(cs, c)
			if exp < time.Hour {
				expired[aor+"\x00"+c.Contact] = false
			} else {
				live++
			}
		}
		mustApply(t, s, reg(aor, "c", 1, t0, cs...))
	}

	stores := make([]registrar.Store, callers)
	for i := range stores {
		stores[i] = s
		if i%2 == 1 {
			stores[i] = e.peer(t, s)
		}
	}
	now := t0.Add(time.Minute)
	results := make([][]registrar.Binding, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = stores[i].Expire(ctx, now)
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, r := range results {
		total += len(r)
		for _, b := range r {
			seen, ok := expired[key(b)]
			switch {
			case !ok:
				t.Fatalf("caller %d: Expire returned live binding %s %s", i, b.AOR, b.Contact)
			case seen:
				t.Fatalf("caller %d: %s %s returned twice", i, b.AOR, b.Contact)
			}
			if !b.Expired(now) || b.CallID != "c" {
				t.Fatalf("caller %d: returned binding %+v", i, b)
			}
			expired[key(b)] = true
		}
	}
	if total != len(expired) {
		t.Fatalf("Expire callers returned %d bindings together, want %d", total, len(expired))
	}
	if list := mustList(t, s, t0); len(list) != live {
		t.Fatalf("List after Expire: %d bindings, want %d", len(list), live)
	}
	check(t, "Expire again", mustExpire(t, e.peer(t, s), now))
}
