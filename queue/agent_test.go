package queue

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	t0  = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	cat = Reasons{"break", "lunch", "training"}
)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// must(t)(a, err) requires no error and a valid agent, and returns a.
func must(t *testing.T) func(Agent, error) Agent {
	return func(a Agent, err error) Agent {
		t.Helper()
		require.NoError(t, err)
		require.NoError(t, a.Validate())
		return a
	}
}

// offer is call id offered at s seconds with a lease of 30 s.
func offer(id string, s float64) Offer {
	return Offer{CallID: id, QueueID: 3, Node: "node-a", LeaseUntil: at(s + 30)}
}

// fixture agents of user 7, one per state: logged in at 0, offered c1 at 10, answered at
// 15, call ended at 75 with 10 s of wrap-up.
type fixture struct {
	out, avail, paused, offered, onCall, acw Agent
}

func agents(t *testing.T) fixture {
	t.Helper()
	var f fixture
	f.out = NewAgent(7)
	f.avail = must(t)(f.out.Login(at(0)))
	f.paused = must(t)(f.avail.Pause(at(5), "lunch", cat))
	f.offered = must(t)(f.avail.Offer(offer("c1", 10), at(10), false, true))
	f.onCall = must(t)(f.offered.OfferAnswered("c1", at(15)))
	f.acw = must(t)(f.onCall.CallEnded("c1", at(75), 10*time.Second))
	return f
}

func pend(s State, reason string, by By) *Pending { return &Pending{State: s, Reason: reason, By: by} }

func TestAgentTransitions(t *testing.T) {
	f := agents(t)
	// ended: the agent in after_call_work with a pending pause
	acwPending := must(t)(f.acw.Pause(at(76), "break", cat))
	type want struct {
		state   State
		reason  string
		by      By
		pending *Pending // state, reason and by compared
		missed  int
		err     error // errors.Is
	}
	tests := []struct {
		name string
		from Agent
		op   func(Agent) (Agent, error)
		want want
	}{
		// Login.
		{"login from logged_out", f.out, func(a Agent) (Agent, error) { return a.Login(at(1)) },
			want{state: Available, by: ByAgent}},
		{"login from the zero agent", Agent{UserID: 7}, func(a Agent) (Agent, error) { return a.Login(at(1)) },
			want{state: Available, by: ByAgent}},
		{"login when available", f.avail, func(a Agent) (Agent, error) { return a.Login(at(1)) },
			want{err: ErrBadTransition}},
		{"login when not_ready", f.paused, func(a Agent) (Agent, error) { return a.Login(at(6)) },
			want{err: ErrBadTransition}},
		{"login when on a call", f.onCall, func(a Agent) (Agent, error) { return a.Login(at(16)) },
			want{err: ErrBadTransition}},

		// Logout.
		{"logout when available", f.avail, func(a Agent) (Agent, error) { return a.Logout(at(1)) },
			want{state: LoggedOut, by: ByAgent}},
		{"logout when not_ready", f.paused, func(a Agent) (Agent, error) { return a.Logout(at(6)) },
			want{state: LoggedOut, by: ByAgent}},
		{"logout when logged out", f.out, func(a Agent) (Agent, error) { return a.Logout(at(1)) },
			want{err: ErrBadTransition}},
		{"logout when offered: pending", f.offered, func(a Agent) (Agent, error) { return a.Logout(at(11)) },
			want{state: Offered, by: BySystem, pending: pend(LoggedOut, "", ByAgent)}},
		{"logout on a call: pending", f.onCall, func(a Agent) (Agent, error) { return a.Logout(at(16)) },
			want{state: OnCall, by: ByAgent, pending: pend(LoggedOut, "", ByAgent)}},
		{"logout in wrap-up: pending", f.acw, func(a Agent) (Agent, error) { return a.Logout(at(76)) },
			want{state: AfterCallWork, by: BySystem, pending: pend(LoggedOut, "", ByAgent)}},
		{"logout after wrap-up ended (settled first): immediate", f.acw, func(a Agent) (Agent, error) { return a.Logout(at(90)) },
			want{state: LoggedOut, by: ByAgent}},

		// Pause.
		{"pause when available", f.avail, func(a Agent) (Agent, error) { return a.Pause(at(1), "break", cat) },
			want{state: NotReady, reason: "break", by: ByAgent}},
		{"pause without a reason", f.avail, func(a Agent) (Agent, error) { return a.Pause(at(1), "", cat) },
			want{state: NotReady, by: ByAgent}},
		{"pause with another reason", f.paused, func(a Agent) (Agent, error) { return a.Pause(at(6), "break", cat) },
			want{state: NotReady, reason: "break", by: ByAgent}},
		{"pause with the same reason", f.paused, func(a Agent) (Agent, error) { return a.Pause(at(6), "lunch", cat) },
			want{err: ErrBadTransition}},
		{"pause when logged out", f.out, func(a Agent) (Agent, error) { return a.Pause(at(1), "lunch", cat) },
			want{err: ErrBadTransition}},
		{"pause on a call: pending", f.onCall, func(a Agent) (Agent, error) { return a.Pause(at(16), "lunch", cat) },
			want{state: OnCall, by: ByAgent, pending: pend(NotReady, "lunch", ByAgent)}},
		{"pause when offered: pending", f.offered, func(a Agent) (Agent, error) { return a.Pause(at(11), "break", cat) },
			want{state: Offered, by: BySystem, pending: pend(NotReady, "break", ByAgent)}},

		// Resume.
		{"resume when not_ready", f.paused, func(a Agent) (Agent, error) { return a.Resume(at(6)) },
			want{state: Available, by: ByAgent}},
		{"resume when available", f.avail, func(a Agent) (Agent, error) { return a.Resume(at(1)) },
			want{err: ErrBadTransition}},
		{"resume when logged out", f.out, func(a Agent) (Agent, error) { return a.Resume(at(1)) },
			want{err: ErrBadTransition}},
		{"resume on a call: nothing pending, nothing changes", f.onCall, func(a Agent) (Agent, error) { return a.Resume(at(16)) },
			want{state: OnCall, by: ByAgent}},
		{"resume in wrap-up ends it early", f.acw, func(a Agent) (Agent, error) { return a.Resume(at(77)) },
			want{state: Available, by: ByAgent}},
		{"resume in wrap-up drops the pending pause", acwPending, func(a Agent) (Agent, error) { return a.Resume(at(77)) },
			want{state: Available, by: ByAgent}},

		// Supervisor.
		{"force logout when available", f.avail, func(a Agent) (Agent, error) { return a.ForceLogout(at(1)) },
			want{state: LoggedOut, by: BySupervisor}},
		{"force logout when logged out", f.out, func(a Agent) (Agent, error) { return a.ForceLogout(at(1)) },
			want{err: ErrBadTransition}},
		{"force logout on a call: pending", f.onCall, func(a Agent) (Agent, error) { return a.ForceLogout(at(16)) },
			want{state: OnCall, by: ByAgent, pending: pend(LoggedOut, "", BySupervisor)}},
		{"force logout replaces the agent's pending pause", acwPending, func(a Agent) (Agent, error) { return a.ForceLogout(at(77)) },
			want{state: AfterCallWork, by: BySystem, pending: pend(LoggedOut, "", BySupervisor)}},
		{"force not_ready when available", f.avail, func(a Agent) (Agent, error) { return a.ForceNotReady(at(1), "training", cat) },
			want{state: NotReady, reason: "training", by: BySupervisor}},
		{"force not_ready when not_ready changes the reason", f.paused, func(a Agent) (Agent, error) { return a.ForceNotReady(at(6), "training", cat) },
			want{state: NotReady, reason: "training", by: BySupervisor}},
		{"force not_ready when logged out", f.out, func(a Agent) (Agent, error) { return a.ForceNotReady(at(1), "training", cat) },
			want{err: ErrBadTransition}},
		{"force not_ready when offered: pending", f.offered, func(a Agent) (Agent, error) { return a.ForceNotReady(at(11), "", cat) },
			want{state: Offered, by: BySystem, pending: pend(NotReady, "", BySupervisor)}},

		// Offers.
		{"offer when available", f.avail, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), false, true) },
			want{state: Offered, by: BySystem}},
		{"offer when busy on a direct call", f.avail, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), true, true) },
			want{err: ErrBadTransition}},
		{"offer without a registered device", f.avail, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), false, false) },
			want{err: ErrBadTransition}},
		{"offer when not_ready", f.paused, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), false, true) },
			want{err: ErrBadTransition}},
		{"offer when logged out", f.out, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), false, true) },
			want{err: ErrBadTransition}},
		{"offer when offered", f.offered, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 11), at(11), false, true) },
			want{err: ErrBadTransition}},
		{"offer on a call", f.onCall, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 20), at(20), false, true) },
			want{err: ErrBadTransition}},
		{"offer in wrap-up", f.acw, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 80), at(80), false, true) },
			want{err: ErrBadTransition}},
		{"offer after wrap-up ended (settled first)", f.acw, func(a Agent) (Agent, error) { return a.Offer(offer("c2", 86), at(86), false, true) },
			want{state: Offered, by: BySystem}},
		{"answer", f.offered, func(a Agent) (Agent, error) { return a.OfferAnswered("c1", at(12)) },
			want{state: OnCall, by: ByAgent}},
		{"answer another call", f.offered, func(a Agent) (Agent, error) { return a.OfferAnswered("c9", at(12)) },
			want{err: ErrStaleOffer}},
		{"answer twice", f.onCall, func(a Agent) (Agent, error) { return a.OfferAnswered("c1", at(16)) },
			want{err: ErrBadTransition}},
		{"answer without an offer", f.avail, func(a Agent) (Agent, error) { return a.OfferAnswered("c1", at(16)) },
			want{err: ErrStaleOffer}},
		{"missed", f.offered, func(a Agent) (Agent, error) { return a.OfferMissed("c1", at(30), 3) },
			want{state: Available, by: BySystem, missed: 1}},
		{"missed once with limit 1", f.offered, func(a Agent) (Agent, error) { return a.OfferMissed("c1", at(30), 1) },
			want{state: NotReady, reason: ReasonMissedOffers, by: BySystem, missed: 1}},
		{"missed on a call", f.onCall, func(a Agent) (Agent, error) { return a.OfferMissed("c1", at(30), 3) },
			want{err: ErrBadTransition}},
		{"missed of another call", f.offered, func(a Agent) (Agent, error) { return a.OfferMissed("c0", at(30), 3) },
			want{err: ErrStaleOffer}},
		{"failed", f.offered, func(a Agent) (Agent, error) { return a.OfferFailed("c1", at(12)) },
			want{state: Available, by: BySystem}},
		{"failed when available", f.avail, func(a Agent) (Agent, error) { return a.OfferFailed("c1", at(12)) },
			want{err: ErrStaleOffer}},

		// Call end and wrap-up.
		{"call ended with wrap-up", f.onCall, func(a Agent) (Agent, error) { return a.CallEnded("c1", at(60), 15*time.Second) },
			want{state: AfterCallWork, by: BySystem}},
		{"call ended without wrap-up", f.onCall, func(a Agent) (Agent, error) { return a.CallEnded("c1", at(60), 0) },
			want{state: Available, by: BySystem}},
		{"call ended while ringing", f.offered, func(a Agent) (Agent, error) { return a.CallEnded("c1", at(12), 0) },
			want{err: ErrBadTransition}},
		{"call ended of another call", f.onCall, func(a Agent) (Agent, error) { return a.CallEnded("c2", at(60), 0) },
			want{err: ErrStaleOffer}},
		{"wrap-up done", f.acw, func(a Agent) (Agent, error) { return a.WrapUpDone(at(85)) },
			want{state: Available, by: BySystem}},
		{"wrap-up done applies the pending pause", acwPending, func(a Agent) (Agent, error) { return a.WrapUpDone(at(85)) },
			want{state: NotReady, reason: "break", by: ByAgent}},
		{"wrap-up done when available", f.avail, func(a Agent) (Agent, error) { return a.WrapUpDone(at(85)) },
			want{err: ErrBadTransition}},

		// Leases.
		{"lease expired when offered", f.offered, func(a Agent) (Agent, error) { return a.LeaseExpired(at(41)) },
			want{state: Available, by: BySystem}},
		{"lease expired on a call", f.onCall, func(a Agent) (Agent, error) { return a.LeaseExpired(at(41)) },
			want{state: Available, by: BySystem}},
		{"lease not expired yet", f.offered, func(a Agent) (Agent, error) { return a.LeaseExpired(at(39)) },
			want{err: ErrBadTransition}},
		{"lease expired without an offer", f.avail, func(a Agent) (Agent, error) { return a.LeaseExpired(at(99)) },
			want{err: ErrBadTransition}},
		{"renew", f.offered, func(a Agent) (Agent, error) { return a.Renew("c1", at(60), at(20)) },
			want{state: Offered, by: BySystem}},
		{"renew into the past", f.offered, func(a Agent) (Agent, error) { return a.Renew("c1", at(19), at(20)) },
			want{err: ErrBadTransition}},
		{"renew another call", f.offered, func(a Agent) (Agent, error) { return a.Renew("c2", at(60), at(20)) },
			want{err: ErrStaleOffer}},

		// Idle timeout.
		{"idle timeout when available", f.avail, func(a Agent) (Agent, error) { return a.IdleTimeout(at(3600)) },
			want{state: LoggedOut, by: BySystem}},
		{"idle timeout when not_ready", f.paused, func(a Agent) (Agent, error) { return a.IdleTimeout(at(3600)) },
			want{state: LoggedOut, by: BySystem}},
		{"idle timeout on a call", f.onCall, func(a Agent) (Agent, error) { return a.IdleTimeout(at(20)) },
			want{err: ErrBadTransition}},
		{"idle timeout when logged out", f.out, func(a Agent) (Agent, error) { return a.IdleTimeout(at(20)) },
			want{err: ErrBadTransition}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.from
			got, err := tc.op(tc.from)
			require.Equal(t, before, tc.from, "the receiver is never changed")
			if tc.want.err != nil {
				require.ErrorIs(t, err, tc.want.err)
				require.Equal(t, before, got, "a refusal returns the receiver")
				return
			}
			require.NoError(t, err)
			require.NoError(t, got.Validate())
			require.Equal(t, tc.want.state, got.State)
			require.Equal(t, tc.want.reason, got.Reason)
			require.Equal(t, tc.want.by, got.By)
			require.Equal(t, tc.want.missed, got.MissedOffers)
			if tc.want.pending == nil {
				require.Nil(t, got.Pending)
			} else {
				require.NotNil(t, got.Pending)
				require.Equal(t, *tc.want.pending, Pending{State: got.Pending.State, Reason: got.Pending.Reason, By: got.Pending.By})
			}
		})
	}
}

func TestAgentReasons(t *testing.T) {
	f := agents(t)
	for _, op := range []func(Agent) (Agent, error){
		func(a Agent) (Agent, error) { return a.Pause(at(1), "coffee", cat) },
		func(a Agent) (Agent, error) { return a.ForceNotReady(at(1), "coffee", cat) },
		func(a Agent) (Agent, error) { return a.Pause(at(1), ReasonMissedOffers, cat) },
	} {
		_, err := op(f.avail)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "reason", ve.Errors[0].Field)
		require.NotErrorIs(t, err, ErrBadTransition)
	}
	_, err := f.avail.Pause(at(1), "coffee", cat)
	require.EqualError(t, err, `queue: invalid request: reason: unknown reason "coffee": want one of break, lunch, training`)
	_, err = f.avail.Pause(at(1), "lunch", nil)
	require.EqualError(t, err, `queue: invalid request: reason: unknown reason "lunch": want none (the catalogue is empty)`)
	must(t)(f.avail.Pause(at(1), "", nil)) // no reason is always allowed
}

func TestReasonsValidate(t *testing.T) {
	require.NoError(t, DefaultReasons.Validate())
	require.NoError(t, Reasons(nil).Validate())
	err := Reasons{"lunch", "", "Lunch", "lunch", ReasonMissedOffers, "a-very-long-reason-name-over-32-chars", "ok_1"}.Validate()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []FieldError{
		{Field: "reasons[1]", Message: "must be 1 to 32 of a-z 0-9 _ -"},
		{Field: "reasons[2]", Message: "must be 1 to 32 of a-z 0-9 _ -"},
		{Field: "reasons[3]", Message: "duplicate: reasons[0] is lunch"},
		{Field: "reasons[4]", Message: "missed_offers is reserved for the system"},
		{Field: "reasons[5]", Message: "must be 1 to 32 of a-z 0-9 _ -"},
	}, ve.Errors)
}

// TestPendingDuringCall: a state asked for during a call applies when its work ends.
func TestPendingDuringCall(t *testing.T) {
	f := agents(t)
	t.Run("pause while ringing, answered, wrap-up, then not_ready", func(t *testing.T) {
		a := must(t)(f.offered.Pause(at(11), "lunch", cat))
		a = must(t)(a.OfferAnswered("c1", at(12)))
		require.Equal(t, OnCall, a.State)
		require.Equal(t, "lunch", a.Pending.Reason, "kept through the answer")
		a = must(t)(a.CallEnded("c1", at(70), 10*time.Second))
		require.Equal(t, AfterCallWork, a.State, "wrap-up still happens")
		require.NotNil(t, a.Pending)
		require.False(t, a.Routable(at(75), false, true))
		a = must(t)(a.WrapUpDone(at(80)))
		require.Equal(t, NotReady, a.State)
		require.Equal(t, "lunch", a.Reason)
		require.Equal(t, ByAgent, a.By)
		require.Equal(t, at(80), a.Since)
		require.Nil(t, a.Pending)
	})
	t.Run("logout on a call without wrap-up: logged out when it ends", func(t *testing.T) {
		a := must(t)(f.onCall.Logout(at(20)))
		a = must(t)(a.CallEnded("c1", at(70), 0))
		require.Equal(t, LoggedOut, a.State)
		require.Equal(t, at(70), a.Since)
		require.Equal(t, 1, a.Answered, "the session's counters are kept after logout")
	})
	t.Run("pause while ringing, missed: not_ready, not available", func(t *testing.T) {
		a := must(t)(f.offered.Pause(at(11), "break", cat))
		a = must(t)(a.OfferMissed("c1", at(30), 3))
		require.Equal(t, NotReady, a.State)
		require.Equal(t, "break", a.Reason)
		require.Equal(t, 1, a.MissedOffers)
	})
	t.Run("pending logout beats missed_offers", func(t *testing.T) {
		a := must(t)(f.offered.Logout(at(11)))
		a = must(t)(a.OfferMissed("c1", at(30), 1))
		require.Equal(t, LoggedOut, a.State)
	})
	t.Run("pending applies when the caller hangs up while ringing", func(t *testing.T) {
		a := must(t)(f.offered.ForceLogout(at(11)))
		a = must(t)(a.OfferFailed("c1", at(12)))
		require.Equal(t, LoggedOut, a.State)
		require.Equal(t, BySupervisor, a.By)
	})
	t.Run("the latest ask wins; resume cancels", func(t *testing.T) {
		a := must(t)(f.onCall.Pause(at(20), "lunch", cat))
		a = must(t)(a.ForceLogout(at(21)))
		require.Equal(t, LoggedOut, a.Pending.State)
		a = must(t)(a.Pause(at(22), "break", cat))
		require.Equal(t, Pending{State: NotReady, Reason: "break", By: ByAgent, AskedAt: at(22)}, *a.Pending)
		a = must(t)(a.Resume(at(23)))
		require.Nil(t, a.Pending)
		a = must(t)(a.CallEnded("c1", at(70), 0))
		require.Equal(t, Available, a.State)
	})
	t.Run("pending applies at the lease expiry of a crashed node", func(t *testing.T) {
		a := must(t)(f.onCall.Pause(at(20), "lunch", cat))
		a = a.Settle(at(100))
		require.NoError(t, a.Validate())
		require.Equal(t, NotReady, a.State)
		require.Equal(t, at(40), a.Since)
	})
	t.Run("pending applies when wrap-up runs out unseen", func(t *testing.T) {
		a := must(t)(f.acw.Logout(at(76)))
		a = a.Settle(at(200))
		require.Equal(t, LoggedOut, a.State)
		require.Equal(t, at(85), a.Since, "at the end of wrap-up, not when noticed")
	})
}

func TestMissedOffers(t *testing.T) {
	f := agents(t)
	n := 0
	ring := func(t *testing.T, a Agent, s float64) Agent {
		n++
		return must(t)(a.Offer(offer("m"+string(rune('a'+n)), s), at(s), false, true))
	}
	id := func(a Agent) string { return a.Current.CallID }

	a := f.avail
	for i := 1; i <= 2; i++ {
		a = ring(t, a, float64(100*i))
		a = must(t)(a.OfferMissed(id(a), at(float64(100*i+20)), 3))
		require.Equal(t, Available, a.State)
		require.Equal(t, i, a.MissedOffers)
	}
	// Failures and cancels (another agent answered) are not the agent's misses.
	a = ring(t, a, 300)
	a = must(t)(a.OfferFailed(id(a), at(305)))
	require.Equal(t, 2, a.MissedOffers)
	a = ring(t, a, 400)
	a = must(t)(a.OfferMissed(id(a), at(420), 3))
	require.Equal(t, NotReady, a.State)
	require.Equal(t, ReasonMissedOffers, a.Reason)
	require.Equal(t, BySystem, a.By)
	require.Equal(t, 3, a.MissedOffers)
	require.False(t, a.Routable(at(421), false, true))

	a = must(t)(a.Resume(at(500)))
	require.Equal(t, 0, a.MissedOffers, "resuming starts a new streak")
	a = ring(t, a, 600)
	a = must(t)(a.OfferMissed(id(a), at(620), 3))
	require.Equal(t, 1, a.MissedOffers)
	a = ring(t, a, 700)
	a = must(t)(a.OfferAnswered(id(a), at(705)))
	require.Equal(t, 0, a.MissedOffers, "an answer ends the streak")

	t.Run("limit 0: never", func(t *testing.T) {
		b := f.avail
		for i := 1; i <= 10; i++ {
			b = ring(t, b, float64(1000*i))
			b = must(t)(b.OfferMissed(id(b), at(float64(1000*i+20)), 0))
			require.Equal(t, Available, b.State)
		}
		require.Equal(t, 10, b.MissedOffers)
	})
	t.Run("the queue's limit", func(t *testing.T) {
		q := Queue{NotReadyAfterMissed: intp(2)}
		require.Equal(t, 2, q.MissedLimit())
		require.Equal(t, DefaultNotReadyAfterMissed, (&Queue{}).MissedLimit())
		require.Equal(t, 0, (&Queue{NotReadyAfterMissed: intp(0)}).MissedLimit())
	})
}

func TestLeaseExpiry(t *testing.T) {
	f := agents(t) // offered c1 at 10 by node-a, lease until 40

	require.False(t, f.offered.Routable(at(39), false, true))
	require.True(t, f.offered.Routable(at(40), false, true), "a lapsed claim frees the agent")
	require.Equal(t, f.offered, f.offered.Settle(at(39)))

	s := f.offered.Settle(at(50))
	require.Equal(t, Available, s.State)
	require.Equal(t, at(40), s.Since, "free from the lease's end")
	require.Equal(t, BySystem, s.By)
	require.Equal(t, Millis(30000), s.Times.Offered)

	// Another node claims the agent; node-a's late events are stale.
	b := must(t)(f.offered.Offer(Offer{CallID: "c2", QueueID: 3, Node: "node-b", LeaseUntil: at(80)}, at(50), false, true))
	require.Equal(t, "node-b", b.Current.Node)
	require.Equal(t, at(50), b.Current.OfferedAt)
	_, err := b.OfferAnswered("c1", at(51))
	require.ErrorIs(t, err, ErrStaleOffer)
	require.ErrorIs(t, err, ErrBadTransition)
	_, err = b.OfferMissed("c1", at(51), 3)
	require.ErrorIs(t, err, ErrStaleOffer)

	// Unclaimed, node-a's late answer still counts: call events do not settle.
	late := must(t)(f.offered.OfferAnswered("c1", at(45)))
	require.Equal(t, OnCall, late.State)

	// Renewing keeps the claim.
	r := must(t)(f.offered.Renew("c1", at(70), at(35)))
	require.Equal(t, at(10), r.Current.OfferedAt)
	require.False(t, r.Routable(at(60), false, true))
	require.Equal(t, at(40), f.offered.Current.LeaseUntil, "the receiver's offer is not changed")

	// On a call: the node died with the call; talk counts to the lease's end, no wrap-up.
	c := f.onCall.Settle(at(100))
	require.Equal(t, Available, c.State)
	require.Equal(t, at(40), c.LastCallEnd)
	require.Equal(t, Millis(25000), c.Talk)
	require.Equal(t, 1, c.Answered)
}

func TestWrapUp(t *testing.T) {
	q := Queue{ID: 3, Name: "Support", Strategy: LongestIdle, Members: []Member{
		{UserID: 7}, {UserID: 8, WrapUpSeconds: intp(45)}, {UserID: 9, WrapUpSeconds: intp(0)}}}
	require.Equal(t, 10*time.Second, q.WrapUp(7), "the default")
	require.Equal(t, 45*time.Second, q.WrapUp(8), "the member's override")
	require.Equal(t, time.Duration(0), q.WrapUp(9), "an override of none")
	require.Equal(t, 10*time.Second, q.WrapUp(99), "not a member: the queue's")
	q.WrapUpSeconds = intp(30)
	require.Equal(t, 30*time.Second, q.WrapUp(7))
	require.Equal(t, 45*time.Second, q.WrapUp(8))
	q.WrapUpSeconds = intp(0)
	require.Equal(t, time.Duration(0), q.WrapUp(7))

	f := agents(t)
	for _, tc := range []struct {
		user  int64
		state State
		until time.Time
	}{
		{7, AfterCallWork, at(100)},
		{8, AfterCallWork, at(115)},
		{9, Available, time.Time{}},
	} {
		q.WrapUpSeconds = intp(30)
		a := f.onCall
		a.UserID = tc.user
		a = must(t)(a.CallEnded("c1", at(70), q.WrapUp(tc.user)))
		require.Equal(t, tc.state, a.State, "user %d", tc.user)
		require.Equal(t, tc.until, a.WrapUpUntil)
		require.Equal(t, at(70), a.LastCallEnd)
		require.Equal(t, Millis(55000), a.Talk)
	}

	// Wrap-up ends on time even when nobody reports it; an early report ends it then.
	require.False(t, f.acw.Routable(at(84.9), false, true))
	require.True(t, f.acw.Routable(at(85), false, true))
	done := must(t)(f.acw.WrapUpDone(at(200)))
	require.Equal(t, at(85), done.Since, "a late timer ends wrap-up at its end")
	require.Equal(t, Millis(10000), done.Times.AfterCallWork)
	early := must(t)(f.acw.WrapUpDone(at(80)))
	require.Equal(t, at(80), early.Since)
	require.Equal(t, Millis(5000), early.Times.AfterCallWork)
}

func TestAgentTimeAccounting(t *testing.T) {
	f := agents(t)
	// Session: available 0-10, offered 10-15, on_call 15-75, acw 75-85, available 85-100,
	// not_ready 100-160 (lunch), 160-190 (break), available 190-200, logged out at 200.
	a := f.acw.Settle(at(86))
	a = must(t)(a.Pause(at(100), "lunch", cat))
	a = must(t)(a.Pause(at(160), "break", cat))
	a = must(t)(a.Resume(at(190)))
	require.Equal(t, StateTimes{Available: 25000, NotReady: 90000, Offered: 5000, OnCall: 60000, AfterCallWork: 10000},
		a.Times)
	require.Equal(t, StateTimes{Available: 30000, NotReady: 90000, Offered: 5000, OnCall: 60000, AfterCallWork: 10000},
		a.TimeIn(at(195)))
	a = must(t)(a.Logout(at(200)))
	require.Equal(t, Millis(35000), a.Times.Available)
	require.Equal(t, a.Times, a.TimeIn(at(5000)), "logged-out time is not counted")
	require.Equal(t, Millis(60000), a.Talk)
	require.Equal(t, 1, a.Answered)
	require.Equal(t, at(0), a.LoggedInAt)

	b := must(t)(a.Login(at(300)))
	require.Equal(t, StateTimes{}, b.Times, "a new session starts from zero")
	require.Zero(t, b.Answered)
	require.Zero(t, b.Talk)
	require.Equal(t, at(300), b.LoggedInAt)
	require.Equal(t, at(75), b.LastCallEnd, "kept across sessions")

	t.Run("times before since are taken as since", func(t *testing.T) {
		c := must(t)(f.avail.Pause(at(50), "", cat))
		c = must(t)(c.Resume(at(40))) // another node's clock is 10 s behind
		require.Equal(t, at(50), c.Since)
		require.Equal(t, Millis(0), c.Times.NotReady)
		require.Equal(t, StateTimes{Available: 50000}, c.Times)
	})
	t.Run("spans are rounded to the millisecond", func(t *testing.T) {
		c := must(t)(f.avail.Pause(t0.Add(1499*time.Microsecond), "", cat))
		require.Equal(t, Millis(1), c.Times.Available)
	})
	t.Run("idle", func(t *testing.T) {
		require.Equal(t, 30*time.Second, f.avail.Idle(at(30)))
		require.Equal(t, time.Duration(0), f.onCall.Idle(at(30)))
		require.Equal(t, 15*time.Second, f.acw.Idle(at(100)), "available since wrap-up ended at 85")
	})
}

func TestAgentRequest(t *testing.T) {
	f := agents(t)
	onCall := must(t)(f.onCall.Renew("c1", at(200), at(20))) // still connected at 80
	type want struct {
		state   State
		reason  string
		pending State
		err     error
		field   string // a *ValidationError naming this field
	}
	tests := []struct {
		name   string
		from   Agent
		state  State
		reason string
		by     By
		want   want
	}{
		{"log in", f.out, Available, "", ByAgent, want{state: Available}},
		{"log in paused", f.out, NotReady, "break", ByAgent, want{state: NotReady, reason: "break"}},
		{"logged out again: no-op", f.out, LoggedOut, "", ByAgent, want{state: LoggedOut}},
		{"available again: no-op", f.avail, Available, "", ByAgent, want{state: Available}},
		{"same pause: no-op", f.paused, NotReady, "lunch", ByAgent, want{state: NotReady, reason: "lunch"}},
		{"another pause", f.paused, NotReady, "break", ByAgent, want{state: NotReady, reason: "break"}},
		{"resume", f.paused, Available, "", ByAgent, want{state: Available}},
		{"supervisor logs out", f.paused, LoggedOut, "", BySupervisor, want{state: LoggedOut}},
		{"pause on a call", onCall, NotReady, "lunch", ByAgent, want{state: OnCall, pending: NotReady}},
		{"available on a call: no-op", onCall, Available, "", ByAgent, want{state: OnCall}},
		{"available in wrap-up: ends it", f.acw, Available, "", ByAgent, want{state: Available}},
		{"state missing", f.avail, "", "", ByAgent, want{field: "state"}},
		{"state not askable", f.avail, OnCall, "", ByAgent, want{field: "state"}},
		{"reason without not_ready", f.paused, Available, "lunch", ByAgent, want{field: "reason"}},
		{"reason unknown", f.avail, NotReady, "nap", ByAgent, want{field: "reason"}},
		{"by unknown", f.avail, NotReady, "", "robot", want{field: "by"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.from.Request(at(80), tc.state, tc.reason, tc.by, cat)
			if tc.want.field != "" {
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tc.want.field, ve.Errors[0].Field)
				return
			}
			if tc.want.err != nil {
				require.ErrorIs(t, err, tc.want.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, got.Validate())
			require.Equal(t, tc.want.state, got.State)
			require.Equal(t, tc.want.reason, got.Reason)
			if tc.want.pending == "" {
				require.Nil(t, got.Pending)
			} else {
				require.Equal(t, tc.want.pending, got.Pending.State)
			}
			// Idempotent: asking again changes nothing.
			again, err := got.Request(at(80), tc.state, tc.reason, tc.by, cat)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

func TestAgentValidate(t *testing.T) {
	f := agents(t)
	bad := func(change func(*Agent)) []FieldError {
		a := f.onCall
		o := *a.Current
		a.Current = &o
		change(&a)
		var ve *ValidationError
		if err := a.Validate(); !errors.As(err, &ve) {
			return nil
		}
		return ve.Errors
	}
	require.Nil(t, bad(func(*Agent) {}))
	require.Equal(t, []FieldError{{"state", `unknown state "ringing"`}, {"offer", "only when offered or on_call"}},
		bad(func(a *Agent) { a.State = "ringing" }))
	require.Equal(t, []FieldError{{"reason", "only when not_ready"}}, bad(func(a *Agent) { a.Reason = "lunch" }))
	require.Equal(t, []FieldError{{"offer", "required when on_call"}}, bad(func(a *Agent) { a.Current = nil }))
	require.Equal(t, []FieldError{{"offer.answered_at", "set exactly when on_call"}}, bad(func(a *Agent) { a.Current.AnsweredAt = time.Time{} }))
	require.Equal(t, []FieldError{{"offer", "only when offered or on_call"}}, bad(func(a *Agent) { a.State = Available }))
	require.Equal(t, []FieldError{{"pending.state", "must be logged_out or not_ready"}}, bad(func(a *Agent) { a.Pending = &Pending{State: Available} }))
	require.Equal(t, []FieldError{{"wrap_up_until", "set exactly in after_call_work"}}, bad(func(a *Agent) { a.WrapUpUntil = at(1) }))
	require.Equal(t, []FieldError{{"talk_ms", "negative"}, {"time_in_state_ms.on_call", "negative"}},
		bad(func(a *Agent) { a.Talk, a.Times.OnCall = -1, -1 }))
	require.Equal(t, []FieldError{{"by", "must be agent, supervisor or system"}}, bad(func(a *Agent) { a.By = "boss" }))
}

// TestAgentJSON: the shape the store keeps and GET /api/v1/agents/{user_id}/state answers.
func TestAgentJSON(t *testing.T) {
	f := agents(t)
	a := must(t)(f.onCall.Pause(at(20), "lunch", cat))
	b, err := json.Marshal(a)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"user_id": 7, "state": "on_call", "since": "2026-03-02T09:00:15Z", "by": "agent",
		"pending": {"state": "not_ready", "reason": "lunch", "by": "agent", "asked_at": "2026-03-02T09:00:20Z"},
		"offer": {"call_id": "c1", "queue_id": 3, "node": "node-a", "offered_at": "2026-03-02T09:00:10Z",
		          "lease_expires_at": "2026-03-02T09:00:40Z", "answered_at": "2026-03-02T09:00:15Z"},
		"missed_offers": 0, "logged_in_at": "2026-03-02T09:00:00Z", "answered": 1, "talk_ms": 0,
		"time_in_state_ms": {"available": 10000, "not_ready": 0, "offered": 5000, "on_call": 0, "after_call_work": 0}
	}`, string(b))
	var back Agent
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, a, back)

	b, err = json.Marshal(NewAgent(9))
	require.NoError(t, err)
	require.JSONEq(t, `{"user_id": 9, "state": "logged_out", "missed_offers": 0, "answered": 0, "talk_ms": 0,
		"time_in_state_ms": {"available": 0, "not_ready": 0, "offered": 0, "on_call": 0, "after_call_work": 0}}`, string(b))
}

func TestOfferInput(t *testing.T) {
	f := agents(t)
	_, err := f.avail.Offer(Offer{LeaseUntil: at(20)}, at(20), false, true)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []FieldError{
		{"call_id", "required"},
		{"queue_id", "must be a queue id: a positive integer"},
		{"lease_expires_at", "must be after the offer (2026-03-02T09:00:20Z)"},
	}, ve.Errors)
	require.NotErrorIs(t, err, ErrBadTransition)
}
