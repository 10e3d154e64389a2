package queue

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// State is an agent's state. Availability (logged_out, available, not_ready) is what the
// agent or a supervisor chooses; offered, on_call and after_call_work follow a queue call.
type State string

// Agent states.
const (
	LoggedOut     State = "logged_out"      // not taking queue calls
	Available     State = "available"       // may be offered a call (when not busy and registered)
	NotReady      State = "not_ready"       // logged in, paused, with a reason from the catalogue
	Offered       State = "offered"         // a queue call rings the agent's devices
	OnCall        State = "on_call"         // the agent answered a queue call
	AfterCallWork State = "after_call_work" // wrap-up after a queue call, until WrapUpUntil
)

// States lists every State (the OpenAPI document lists the same).
var States = []State{LoggedOut, Available, NotReady, Offered, OnCall, AfterCallWork}

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Handling reports whether s follows a queue call (offered, on_call, after_call_work): a
// logout or pause asked for in these states is kept pending until the call's work ends.
func (s State) Handling() bool { return s == Offered || s == OnCall || s == AfterCallWork }

// By says who made a change.
type By string

// Who made a change.
const (
	ByAgent      By = "agent"      // the agent: API, feature code, answering
	BySupervisor By = "supervisor" // a supervisor forced it
	BySystem     By = "system"     // Centrala: offers, call ends, wrap-up ends, missed offers, leases, idle logout
)

// ReasonMissedOffers is the not_ready reason the system sets after
// Queue.NotReadyAfterMissed unanswered offers in a row. It is reserved: a catalogue may not
// hold it and agents may not choose it.
const ReasonMissedOffers = "missed_offers"

// Reasons is the catalogue of not_ready reasons agents and supervisors choose from, as
// short names ("break", "lunch"): 1 to 32 of a-z 0-9 _ -, no duplicates. An empty reason
// ("not ready, no reason given", e.g. the pause feature code without digits) is always
// allowed.
type Reasons []string

// DefaultReasons is the catalogue used when the configuration names none.
var DefaultReasons = Reasons{"break", "lunch", "meeting", "training", "admin"}

const maxReasonLen = 32

// Validate checks the catalogue and returns a *ValidationError naming each bad entry
// ("reasons[2]"), or nil.
func (r Reasons) Validate() error {
	c := &collector{what: "reasons"}
	seen := map[string]int{}
	for i, s := range r {
		p := "reasons[" + strconv.Itoa(i) + "]"
		switch j, dup := seen[s]; {
		case !validReason(s):
			c.bad(p, "must be 1 to %d of a-z 0-9 _ -", maxReasonLen)
		case s == ReasonMissedOffers:
			c.bad(p, "%s is reserved for the system", ReasonMissedOffers)
		case dup:
			c.bad(p, "duplicate: reasons[%d] is %s", j, s)
		default:
			seen[s] = i
		}
	}
	return c.err()
}

// Has reports whether reason may be chosen: it is empty or in the catalogue.
func (r Reasons) Has(reason string) bool { return reason == "" || slices.Contains(r, reason) }

func validReason(s string) bool {
	if s == "" || len(s) > maxReasonLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Millis is a length of time kept in whole milliseconds; JSON writes it as an integer
// (fields named *_ms). Spans are rounded to the millisecond when added, so a value read
// back from JSON is exactly the one written.
type Millis int64

// Duration converts m to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// ms rounds d to milliseconds; a negative d (clocks of two nodes disagreeing) counts as 0.
func ms(d time.Duration) Millis {
	if d <= 0 {
		return 0
	}
	return Millis(d.Round(time.Millisecond) / time.Millisecond)
}

// StateTimes is time spent in each logged-in state.
type StateTimes struct {
	Available     Millis `json:"available"`
	NotReady      Millis `json:"not_ready"`
	Offered       Millis `json:"offered"`
	OnCall        Millis `json:"on_call"`
	AfterCallWork Millis `json:"after_call_work"`
}

// Of returns the time in state s (0 for logged_out, which is not counted).
func (t StateTimes) Of(s State) Millis {
	if p := t.field(s); p != nil {
		return *p
	}
	return 0
}

func (t *StateTimes) field(s State) *Millis {
	switch s {
	case Available:
		return &t.Available
	case NotReady:
		return &t.NotReady
	case Offered:
		return &t.Offered
	case OnCall:
		return &t.OnCall
	case AfterCallWork:
		return &t.AfterCallWork
	}
	return nil
}

func (t *StateTimes) add(s State, d Millis) {
	if p := t.field(s); p != nil {
		*p += d
	}
}

// Offer is the queue call an agent is offered or on: which call, from which queue, rung by
// which node, and the lease of the claim. The node that made the offer renews the lease
// (Agent.Renew) while the call rings and while it is connected; when it stops (the node
// crashed), the offer expires and the agent is free again (Agent.Settle, LeaseExpired).
type Offer struct {
	CallID     string    `json:"call_id"`
	QueueID    int64     `json:"queue_id"`
	Node       string    `json:"node"`
	OfferedAt  time.Time `json:"offered_at"`
	LeaseUntil time.Time `json:"lease_expires_at"`
	AnsweredAt time.Time `json:"answered_at,omitzero"` // on_call: when the agent answered
}

// Pending is a change asked for while the agent handles a queue call (offered, on_call,
// after_call_work): it applies when that work ends, instead of becoming available.
type Pending struct {
	State   State     `json:"state"` // logged_out or not_ready
	Reason  string    `json:"reason,omitempty"`
	By      By        `json:"by"`
	AskedAt time.Time `json:"asked_at"`
}

// Agent is one user's agent state: what the store keeps per user and what GET
// /api/v1/agents/{user_id}/state answers. Its transitions are methods that return the new
// Agent, leaving the receiver untouched (pointer fields are copied, never changed), or the
// receiver and an error wrapping ErrBadTransition (or a *ValidationError for a bad
// argument); they never read the clock.
//
// One state per user, shared by every queue the user is a member of: logging in logs in to
// all of them, and an agent handles one queue call at a time.
//
// Counters are per login session: Login resets Times, Answered, Talk and MissedOffers
// (fewest_calls and least_talk_time compare agents since they logged in; per-day figures
// are the statistics' job). Logout keeps them, so the last session can still be read.
// Times holds the spans of states already left; the current state's span is now - Since
// (TimeIn adds it). Time logged out is not counted.
//
// Times a caller passes in that are before Since (two nodes' clocks disagreeing) are taken
// as Since, so no span is negative and Since never goes back.
type Agent struct {
	UserID int64     `json:"user_id"`
	State  State     `json:"state"`
	Reason string    `json:"reason,omitempty"` // not_ready only
	Since  time.Time `json:"since,omitzero"`   // entered State
	By     By        `json:"by,omitempty"`     // who made the last change

	Pending *Pending `json:"pending,omitempty"` // only while offered, on_call or after_call_work
	Current *Offer   `json:"offer,omitempty"`   // the queue call, offered and on_call only

	MissedOffers int        `json:"missed_offers"`          // unanswered offers in a row
	WrapUpUntil  time.Time  `json:"wrap_up_until,omitzero"` // after_call_work only
	LastCallEnd  time.Time  `json:"last_call_end,omitzero"` // end of the last queue call (longest_idle)
	LoggedInAt   time.Time  `json:"logged_in_at,omitzero"`  // start of the session
	Answered     int        `json:"answered"`               // queue calls answered this session
	Talk         Millis     `json:"talk_ms"`                // queue talk time this session (calls that ended)
	Times        StateTimes `json:"time_in_state_ms"`       // this session, states already left
}

// Clone returns a copy of a that shares no pointer with it (Pending, Current), for a cache
// that hands the same record out more than once.
func (a Agent) Clone() Agent {
	if a.Pending != nil {
		p := *a.Pending
		a.Pending = &p
	}
	if a.Current != nil {
		o := *a.Current
		a.Current = &o
	}
	return a
}

// NewAgent is a user who never logged in.
func NewAgent(userID int64) Agent { return Agent{UserID: userID, State: LoggedOut} }

// norm treats the zero State as logged_out.
func (a Agent) norm() Agent {
	if a.State == "" {
		a.State = LoggedOut
	}
	return a
}

func later(t, than time.Time) time.Time {
	if t.Before(than) {
		return than
	}
	return t
}

// enter leaves the current state at `at` (counting its span) and enters s.
func (a Agent) enter(s State, reason string, at time.Time, by By) Agent {
	at = later(at, a.Since)
	if a.State != LoggedOut {
		a.Times.add(a.State, ms(at.Sub(a.Since)))
	}
	a.State, a.Reason, a.Since, a.By = s, reason, at, by
	if s != AfterCallWork {
		a.WrapUpUntil = time.Time{}
	}
	if s != Offered && s != OnCall {
		a.Current = nil
	}
	if !s.Handling() {
		a.Pending = nil
	}
	return a
}

// login starts a session in state s.
func (a Agent) login(s State, reason string, at time.Time, by By) Agent {
	at = later(at, a.Since)
	a.Times, a.Answered, a.Talk, a.MissedOffers = StateTimes{}, 0, 0, 0
	a.LoggedInAt = at
	return a.enter(s, reason, at, by)
}

// release ends the handling of a queue call at `at`: the pending change applies, else the
// agent is available again.
func (a Agent) release(at time.Time, by By) Agent {
	if p := a.Pending; p != nil {
		return a.enter(p.State, p.Reason, at, p.By)
	}
	return a.enter(Available, "", at, by)
}

// endCall closes a connected call at `at`: talk time and the last call's end.
func (a Agent) endCall(at time.Time) Agent {
	at = later(at, a.Since)
	a.Talk += ms(at.Sub(later(a.Current.AnsweredAt, a.Current.OfferedAt)))
	a.LastCallEnd = at
	return a
}

// Settle applies the changes that are due by now without anyone reporting them: the end of
// wrap-up (at WrapUpUntil) and the expiry of an offer's lease (at its LeaseUntil), so an
// agent is never stuck because the node that ran a timer died. Each applies at its due time,
// by the system. Routable and Offer settle first, and so do the agent's and supervisor's
// requests; the call events (OfferAnswered, CallEnded, ...) do not, so a node whose lease
// lapsed but whose agent was not taken still reports its call. A store settles on read.
func (a Agent) Settle(now time.Time) Agent {
	a = a.norm()
	if a.State == AfterCallWork && !a.WrapUpUntil.After(now) {
		a = a.release(a.WrapUpUntil, BySystem)
	}
	if (a.State == Offered || a.State == OnCall) && a.Current != nil && !a.Current.LeaseUntil.After(now) {
		a, _ = a.LeaseExpired(now)
	}
	return a
}

// Routable reports whether the agent may be offered a call now: available (after settling),
// not busy on any call on any of their devices (direct and outbound calls too), and with at
// least one registered device. busy and registered come from the store, which tracks
// devices and calls across nodes.
func (a Agent) Routable(now time.Time, busy, registered bool) bool {
	return a.Settle(now).State == Available && !busy && registered
}

// TimeIn is Times plus the current state's span up to now.
func (a Agent) TimeIn(now time.Time) StateTimes {
	t := a.Times
	if a.State != LoggedOut && a.State != "" {
		t.add(a.State, ms(now.Sub(a.Since)))
	}
	return t
}

// Idle is how long a logged-in agent has been without queue work and without changing
// state (available or not_ready since Since), for the user's idle auto-logout; 0 otherwise.
func (a Agent) Idle(now time.Time) time.Duration {
	a = a.Settle(now)
	if a.State != Available && a.State != NotReady || !now.After(a.Since) {
		return 0
	}
	return now.Sub(a.Since)
}

// Login starts a session: logged_out -> available, by the agent. Times and counters start
// from zero.
func (a Agent) Login(now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if a.State != LoggedOut {
		return orig, refuse(a, "login", "already logged in (%s)", a.State)
	}
	return a.login(Available, "", now, ByAgent), nil
}

// Logout ends the session, by the agent. Handling a call, it is pending until the call's
// work ends.
func (a Agent) Logout(now time.Time) (Agent, error) {
	return a.change("logout", now, LoggedOut, "", ByAgent, false)
}

// ForceLogout is Logout by a supervisor: immediate unless the agent handles a queue call,
// then pending (the call is never cut; the supervisor may barge or hang it up instead).
func (a Agent) ForceLogout(now time.Time) (Agent, error) {
	return a.change("force logout", now, LoggedOut, "", BySupervisor, false)
}

// Pause makes a logged-in agent not_ready with reason (empty or from the catalogue), by the
// agent: immediate when available or not_ready (a new reason replaces the old), pending
// while handling a call.
func (a Agent) Pause(now time.Time, reason string, catalogue Reasons) (Agent, error) {
	orig := a
	if err := checkReason(reason, catalogue); err != nil {
		return orig, err
	}
	return a.change("pause", now, NotReady, reason, ByAgent, false)
}

// ForceNotReady is Pause by a supervisor (the same rules: pending during a call).
func (a Agent) ForceNotReady(now time.Time, reason string, catalogue Reasons) (Agent, error) {
	orig := a
	if err := checkReason(reason, catalogue); err != nil {
		return orig, err
	}
	return a.change("force not_ready", now, NotReady, reason, BySupervisor, false)
}

// Resume makes a not_ready agent available, by the agent. While offered or on a call it
// cancels a pending change (the agent will be available when the call's work ends); during
// after_call_work it ends wrap-up early (the "ready" button).
func (a Agent) Resume(now time.Time) (Agent, error) {
	return a.change("resume", now, Available, "", ByAgent, false)
}

// IdleTimeout logs out an agent idle too long (the user's idle auto-logout), by the
// system: only from available or not_ready.
func (a Agent) IdleTimeout(now time.Time) (Agent, error) {
	orig := a
	a = a.Settle(now)
	if a.State != Available && a.State != NotReady {
		return orig, refuse(a, "idle timeout", "not idle (%s)", a.State)
	}
	return a.enter(LoggedOut, "", now, BySystem), nil
}

// Request applies PUT /api/v1/agents/{user_id}/state {state, reason} made by `by` (the
// agent themself, or a supervisor): state logged_out, available or not_ready (reason only
// with not_ready, empty or from the catalogue). From logged_out, available logs in and
// not_ready logs in paused. Asking for the state the agent is in (with the same reason) is
// a no-op, so PUT is idempotent. A bad state or reason is a *ValidationError naming the
// field; a refused change wraps ErrBadTransition.
func (a Agent) Request(now time.Time, state State, reason string, by By, catalogue Reasons) (Agent, error) {
	orig := a
	c := &collector{what: "request"}
	switch state {
	case LoggedOut, Available, NotReady:
	case "":
		c.bad("state", "required: logged_out, available or not_ready")
	default:
		c.bad("state", "must be logged_out, available or not_ready")
	}
	switch {
	case reason != "" && state != NotReady:
		c.bad("reason", "only with not_ready")
	case state == NotReady && !catalogue.Has(reason):
		c.bad("reason", "unknown reason %q: want %s", reason, reasonList(catalogue))
	}
	if by != ByAgent && by != BySupervisor && by != BySystem {
		c.bad("by", "must be agent, supervisor or system")
	}
	if err := c.err(); err != nil {
		return orig, err
	}
	s := a.Settle(now)
	switch {
	case s.State == state && s.Reason == reason:
		return s, nil
	case s.State.Handling() && state == Available && s.Pending == nil && s.State != AfterCallWork:
		return s, nil
	case s.State.Handling() && s.Pending != nil && s.Pending.State == state && s.Pending.Reason == reason:
		return s, nil
	}
	return a.change("set "+string(state), now, state, reason, by, true)
}

func checkReason(reason string, catalogue Reasons) error {
	if catalogue.Has(reason) {
		return nil
	}
	return &ValidationError{What: "request", Errors: []FieldError{{Field: "reason",
		Message: "unknown reason " + strconv.Quote(reason) + ": want " + reasonList(catalogue)}}}
}

func reasonList(r Reasons) string {
	if len(r) == 0 {
		return "none (the catalogue is empty)"
	}
	return "one of " + strings.Join(r, ", ")
}

// change is the one rule for logout, pause and resume, whoever asks. login says whether a
// logged-out agent may be logged in by it (Request), or is refused (Pause, Resume).
func (a Agent) change(op string, now time.Time, to State, reason string, by By, login bool) (Agent, error) {
	orig := a
	a = a.Settle(now)
	at := later(now, a.Since)
	switch a.State {
	case LoggedOut:
		switch {
		case to == LoggedOut:
			return orig, refuse(a, op, "already logged out")
		case !login:
			return orig, refuse(a, op, "logged out: log in first")
		}
		return a.login(to, reason, at, by), nil
	case Available:
		if to == Available {
			return orig, refuse(a, op, "already available")
		}
		return a.enter(to, reason, at, by), nil
	case NotReady:
		switch {
		case to == NotReady && reason == a.Reason:
			return orig, refuse(a, op, "already not_ready (%s)", reasonOrNone(reason))
		case to == Available:
			a.MissedOffers = 0
		}
		return a.enter(to, reason, at, by), nil
	}
	// Handling a queue call: the change waits for the call's work to end.
	if to == Available {
		a.Pending = nil
		if a.State == AfterCallWork {
			return a.release(at, by), nil
		}
		return a, nil
	}
	a.Pending = &Pending{State: to, Reason: reason, By: by, AskedAt: at}
	return a, nil
}

func reasonOrNone(r string) string {
	if r == "" {
		return "no reason"
	}
	return r
}

// Offer gives the agent call o at now, by the system: only when Routable (available after
// settling, not busy, registered). o needs a CallID and a LeaseUntil after now; OfferedAt is
// set to now. This is the claim: a store does it atomically.
func (a Agent) Offer(o Offer, now time.Time, busy, registered bool) (Agent, error) {
	orig := a
	a = a.Settle(now)
	at := later(now, a.Since)
	c := &collector{what: "offer"}
	if o.CallID == "" {
		c.bad("call_id", "required")
	}
	if o.QueueID <= 0 {
		c.bad("queue_id", "must be a queue id: a positive integer")
	}
	if !o.LeaseUntil.After(at) {
		c.bad("lease_expires_at", "must be after the offer (%s)", at.Format(time.RFC3339Nano))
	}
	if err := c.err(); err != nil {
		return orig, err
	}
	switch {
	case a.State != Available:
		return orig, refuse(a, "offer", "not available (%s)", a.State)
	case busy:
		return orig, refuse(a, "offer", "busy on another call")
	case !registered:
		return orig, refuse(a, "offer", "no registered device")
	}
	o.OfferedAt, o.AnsweredAt = at, time.Time{}
	a = a.enter(Offered, "", at, BySystem)
	a.Current = &o
	return a, nil
}

// current checks that callID is the agent's offer and the agent is in state want.
func (a Agent) current(op, callID string, want State) error {
	if a.Current == nil || a.Current.CallID != callID {
		return stale(a, op, callID)
	}
	if a.State != want {
		return refuse(a, op, "call %q is %s, not %s", callID, a.State, want)
	}
	return nil
}

// Renew extends the lease of call callID (offered or on_call) to until, after now.
func (a Agent) Renew(callID string, until, now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if a.Current == nil || a.Current.CallID != callID || (a.State != Offered && a.State != OnCall) {
		return orig, stale(a, "renew", callID)
	}
	if !until.After(now) {
		return orig, refuse(a, "renew", "lease must end after now")
	}
	o := *a.Current
	o.LeaseUntil = until
	a.Current = &o
	return a, nil
}

// OfferAnswered: the agent answered call callID: offered -> on_call, by the agent; the
// missed-offers streak ends and the session's answered count grows. A pending change is
// kept for the end of the call.
func (a Agent) OfferAnswered(callID string, now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if err := a.current("answer", callID, Offered); err != nil {
		return orig, err
	}
	o := *a.Current
	a = a.enter(OnCall, "", now, ByAgent)
	o.AnsweredAt = a.Since
	a.Current = &o
	a.MissedOffers = 0
	a.Answered++
	return a, nil
}

// OfferMissed: the offer of call callID was not answered by the agent (it rang for the ring
// time, or the agent declined it). The streak of missed offers grows; the agent goes to the
// pending change if one was asked for, else to not_ready with reason missed_offers when the
// streak reaches limit (the queue's MissedLimit; 0: never), else back to available. By the
// system.
func (a Agent) OfferMissed(callID string, now time.Time, limit int) (Agent, error) {
	orig := a
	a = a.norm()
	if err := a.current("missed offer", callID, Offered); err != nil {
		return orig, err
	}
	a.MissedOffers++
	if a.Pending == nil && limit > 0 && a.MissedOffers >= limit {
		return a.enter(NotReady, ReasonMissedOffers, now, BySystem), nil
	}
	return a.release(now, BySystem), nil
}

// OfferFailed: the offer of call callID ended for a reason that is not the agent's: the
// caller hung up or was answered by another agent (ring_all), or the device could not be
// reached. The agent goes to the pending change or back to available; the missed streak is
// unchanged. By the system.
func (a Agent) OfferFailed(callID string, now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if err := a.current("failed offer", callID, Offered); err != nil {
		return orig, err
	}
	return a.release(now, BySystem), nil
}

// CallEnded: queue call callID, connected, ended. Its talk time is added and LastCallEnd
// set; the agent does wrap-up for wrap (Queue.WrapUp of the agent: the member's override or
// the queue's) in after_call_work until now+wrap, or with no wrap-up goes straight to the
// pending change or available. By the system.
func (a Agent) CallEnded(callID string, now time.Time, wrap time.Duration) (Agent, error) {
	orig := a
	a = a.norm()
	if err := a.current("call end", callID, OnCall); err != nil {
		return orig, err
	}
	a = a.endCall(now)
	at := a.LastCallEnd
	if wrap > 0 {
		a = a.enter(AfterCallWork, "", at, BySystem)
		a.WrapUpUntil = a.Since.Add(wrap)
		return a, nil
	}
	return a.release(at, BySystem), nil
}

// WrapUpDone ends after_call_work, at WrapUpUntil or now if earlier: the pending change
// applies, else the agent is available. By the system (the wrap-up timer; the agent ends it
// early with Resume).
func (a Agent) WrapUpDone(now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if a.State != AfterCallWork {
		return orig, refuse(a, "wrap-up done", "not in after_call_work (%s)", a.State)
	}
	at := now
	if a.WrapUpUntil.Before(at) {
		at = a.WrapUpUntil
	}
	return a.release(at, BySystem), nil
}

// LeaseExpired frees an agent whose offer's lease ran out (the node that made the offer
// stopped renewing it: it crashed or lost Redis), at the lease's end, by the system. An
// offered agent goes back to available (or the pending change) with the missed streak
// unchanged; an agent on a call, whose call died with the node, too, without wrap-up: the
// talk time counts up to the lease's end. Refused before the lease ends.
func (a Agent) LeaseExpired(now time.Time) (Agent, error) {
	orig := a
	a = a.norm()
	if a.Current == nil || (a.State != Offered && a.State != OnCall) {
		return orig, refuse(a, "lease expired", "no offer (%s)", a.State)
	}
	end := a.Current.LeaseUntil
	if end.After(now) {
		return orig, refuse(a, "lease expired", "the lease of call %q runs until %s", a.Current.CallID, end.Format(time.RFC3339Nano))
	}
	if a.State == OnCall {
		a = a.endCall(end)
	}
	return a.release(end, BySystem), nil
}

// Validate checks the invariants of a stored agent and returns a *ValidationError naming
// each broken one, or nil: a known state; a reason only when not_ready; an offer exactly
// when offered or on_call (answered_at exactly on_call); a pending change only while
// handling a call, and only to logged_out or not_ready; wrap_up_until exactly in
// after_call_work; no negative counter or time.
func (a Agent) Validate() error {
	c := &collector{what: "agent"}
	if !a.State.Valid() {
		c.bad("state", "unknown state %q", a.State)
	}
	if a.Reason != "" && a.State != NotReady {
		c.bad("reason", "only when not_ready")
	}
	switch a.By {
	case "", ByAgent, BySupervisor, BySystem:
	default:
		c.bad("by", "must be agent, supervisor or system")
	}
	hasOffer := a.State == Offered || a.State == OnCall
	switch {
	case hasOffer && a.Current == nil:
		c.bad("offer", "required when %s", a.State)
	case !hasOffer && a.Current != nil:
		c.bad("offer", "only when offered or on_call")
	case a.Current != nil:
		if a.Current.CallID == "" {
			c.bad("offer.call_id", "required")
		}
		if (a.State == OnCall) != !a.Current.AnsweredAt.IsZero() {
			c.bad("offer.answered_at", "set exactly when on_call")
		}
	}
	if p := a.Pending; p != nil {
		if !a.State.Handling() {
			c.bad("pending", "only while offered, on_call or after_call_work")
		}
		if p.State != LoggedOut && p.State != NotReady {
			c.bad("pending.state", "must be logged_out or not_ready")
		}
		if p.Reason != "" && p.State != NotReady {
			c.bad("pending.reason", "only with not_ready")
		}
	}
	if (a.State == AfterCallWork) != !a.WrapUpUntil.IsZero() {
		c.bad("wrap_up_until", "set exactly in after_call_work")
	}
	if a.MissedOffers < 0 {
		c.bad("missed_offers", "negative")
	}
	if a.Answered < 0 {
		c.bad("answered", "negative")
	}
	if a.Talk < 0 {
		c.bad("talk_ms", "negative")
	}
	for _, s := range States[1:] {
		if a.Times.Of(s) < 0 {
			c.bad("time_in_state_ms."+string(s), "negative")
		}
	}
	return c.err()
}
