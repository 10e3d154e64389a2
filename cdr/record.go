package cdr

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/centrala/centrala/queue"
)

// Direction of a call, seen from the PBX.
type Direction string

const (
	Internal Direction = "internal" // one of our users to another
	Inbound  Direction = "inbound"  // from a trunk to a number (DID) of ours
	Outbound Direction = "outbound" // from one of our users to a trunk
)

// Directions lists every Direction (the OpenAPI document lists the same).
var Directions = []Direction{Internal, Inbound, Outbound}

// Valid reports whether d is one of Directions.
func (d Direction) Valid() bool { return slices.Contains(Directions, d) }

// Disposition is how a call ended. The zero Disposition is a call that has not ended yet; it
// is JSON null.
type Disposition string

const (
	Answered  Disposition = "answered"  // someone answered; billsec counts from then
	NoAnswer  Disposition = "no_answer" // rang until the ring timeout, or 480/408 from the callee side
	Busy      Disposition = "busy"      // 486/600 from every callee
	Failed    Disposition = "failed"    // our failure or the network's (5xx, no route, crash)
	Cancelled Disposition = "cancelled" // the caller gave up before an answer (487)
	Rejected  Disposition = "rejected"  // refused by policy or the callee (403, 404, 603, ...)
)

// Dispositions lists every Disposition of an ended call (the OpenAPI document lists the same).
var Dispositions = []Disposition{Answered, NoAnswer, Busy, Failed, Cancelled, Rejected}

// Valid reports whether d is one of Dispositions (the zero Disposition is not).
func (d Disposition) Valid() bool { return slices.Contains(Dispositions, d) }

// MarshalJSON writes the zero Disposition (a live call) as null.
func (d Disposition) MarshalJSON() ([]byte, error) { return nullableString(string(d)) }

// UnmarshalJSON reads null as the zero Disposition.
func (d *Disposition) UnmarshalJSON(b []byte) error { return readNullable(b, (*string)(d)) }

// HangupBy is the side that ended the call. The zero HangupBy is a call that has not ended
// yet; it is JSON null.
type HangupBy string

const (
	ByCaller HangupBy = "caller" // the caller hung up or cancelled
	ByCallee HangupBy = "callee" // the callee hung up, or answered the INVITE with a final error
	BySystem HangupBy = "system" // the PBX: ring timeout, no route, limits, RTP timeout, stop
)

// HangupSides lists every HangupBy of an ended call (the OpenAPI document lists the same).
var HangupSides = []HangupBy{ByCaller, ByCallee, BySystem}

// Valid reports whether h is one of HangupSides (the zero HangupBy is not).
func (h HangupBy) Valid() bool { return slices.Contains(HangupSides, h) }

// MarshalJSON writes the zero HangupBy (a live call) as null.
func (h HangupBy) MarshalJSON() ([]byte, error) { return nullableString(string(h)) }

// UnmarshalJSON reads null as the zero HangupBy.
func (h *HangupBy) UnmarshalJSON(b []byte) error { return readNullable(b, (*string)(h)) }

// LegKind is the side of the call a leg connects.
type LegKind string

const (
	// LegCaller is the leg toward whoever placed the call: a device of ours (internal and
	// outbound calls) or a trunk (inbound calls, with TrunkID set).
	LegCaller LegKind = "caller"
	// LegCallee is a leg toward a party being called: one per device contact rung, or the
	// trunk tried (outbound calls, with TrunkID set; one leg per trunk on failover).
	LegCallee LegKind = "callee"
)

// LegKinds lists every LegKind (the OpenAPI document lists the same).
var LegKinds = []LegKind{LegCaller, LegCallee}

// Valid reports whether k is one of LegKinds.
func (k LegKind) Valid() bool { return slices.Contains(LegKinds, k) }

// Record is one call detail record: one per call, with its legs. Times are UTC with
// millisecond precision; durations are whole seconds rounded half up (1.499 s is 1, 1.5 s
// is 2): DurationS from StartedAt to EndedAt, BillsecS from AnsweredAt to EndedAt (0 when
// never answered). While the call is live EndedAt is nil, Disposition and HangupBy are zero
// (JSON null), SIPCode is 0 and the durations are 0.
type Record struct {
	ID          int64       `json:"id"`
	StartedAt   time.Time   `json:"started_at"`
	AnsweredAt  *time.Time  `json:"answered_at"`
	EndedAt     *time.Time  `json:"ended_at"`
	DurationS   int64       `json:"duration_s"`
	BillsecS    int64       `json:"billsec_s"`
	Direction   Direction   `json:"direction"`
	Caller      string      `json:"caller"`      // who called: an extension, or the number a trunk sent
	Callee      string      `json:"callee"`      // who was called: an extension, or the digits dialled
	DID         string      `json:"did"`         // our number the call came in on ("" unless inbound)
	CLIP        *string     `json:"clip"`        // the calling number presented; nil when withheld
	TrunkID     *int64      `json:"trunk_id"`    // the trunk that carried it; nil for internal calls
	UserID      *int64      `json:"user_id"`     // our user: the caller (internal, outbound) or the called user (inbound)
	Disposition Disposition `json:"disposition"` // zero (null) while live
	SIPCode     int         `json:"sip_code"`    // the final response to the caller's INVITE (200 when answered); 0 while live
	SIPReason   string      `json:"sip_reason"`  // its reason phrase, or why the PBX ended the call
	HangupBy    HangupBy    `json:"hangup_by"`   // zero (null) while live
	CallID      string      `json:"call_id"`     // SIP Call-ID of the first leg
	// Node is the name of the Centrala node that carried the call (Recover closes only the
	// node's own records). Not part of the API.
	Node string `json:"-"`
	Legs []Leg  `json:"legs"` // in the order they started (by id); never nil from the store
	// Path is the way an inbound call took through the inbound scheme (schedule branches,
	// IVR choices, ring group members tried), a JSON array of steps (routing.Hop); [] for
	// other calls.
	Path json.RawMessage `json:"path"`
	// Queues are the call's stays in call queues, in the order it joined them (a queue's
	// overflow may lead to another queue); [] for calls that reached no queue.
	Queues []QueueStay `json:"queues"`
}

// QueueStay is one stay of a call in a call queue: when it joined and left, how it left
// (Exit: one of queue.Exits, "answered", "abandoned", "timeout", "full", "empty"), who
// answered, and every offer made to an agent for it.
type QueueStay struct {
	QueueID    int64        `json:"queue_id"`
	Priority   int          `json:"priority"` // when it left (a supervisor may have raised it meanwhile)
	JoinedAt   time.Time    `json:"joined_at"`
	LeftAt     time.Time    `json:"left_at"`
	WaitMS     int64        `json:"wait_ms"`     // LeftAt - JoinedAt: for answered calls, the speed of answer
	Exit       string       `json:"exit"`        // answered, abandoned, timeout, full, empty
	AnsweredBy *int64       `json:"answered_by"` // the agent's user id; nil unless answered
	TalkMS     int64        `json:"talk_ms"`     // answered: the time connected to the agent
	WrapUpMS   int64        `json:"wrap_up_ms"`  // answered: the after-call work the agent was given
	Offers     []QueueOffer `json:"offers"`      // in the order made; never nil from the store
}

// QueueOffer is one offer of a queued call to an agent: when, how long the agent's devices
// rang, and how it ended (Outcome: one of queue.Outcomes, "answered", "no_answer",
// "rejected", "failed", "cancelled", "lease_expired").
type QueueOffer struct {
	UserID    int64     `json:"user_id"`
	OfferedAt time.Time `json:"offered_at"`
	RingMS    int64     `json:"ring_ms"`
	Outcome   string    `json:"outcome"`
}

// Live reports whether the call has not ended yet.
func (r Record) Live() bool { return r.EndedAt == nil }

// Leg is one SIP dialog of a call: the caller's, and one per callee device or trunk tried.
type Leg struct {
	ID         int64      `json:"id"`
	CDRID      int64      `json:"cdr_id"` // the Record it belongs to
	Kind       LegKind    `json:"kind"`
	Peer       string     `json:"peer"`     // the SIP account username, or the trunk's name
	UserID     *int64     `json:"user_id"`  // the user of the SIP account; nil for trunks
	TrunkID    *int64     `json:"trunk_id"` // the trunk; nil for devices
	CallID     string     `json:"call_id"`  // SIP Call-ID of this leg's dialog
	StartedAt  time.Time  `json:"started_at"`
	AnsweredAt *time.Time `json:"answered_at"`
	EndedAt    *time.Time `json:"ended_at"`
	SIPCode    int        `json:"sip_code"`   // the final response on this leg; 0 while ringing
	SIPReason  string     `json:"sip_reason"` // its reason phrase
}

// Start describes a call when it starts: what Recorder.Start writes.
type Start struct {
	At        time.Time // when the INVITE arrived
	CallID    string    // SIP Call-ID of the first leg
	Direction Direction
	Caller    string
	Callee    string
	DID       string
	CLIP      *string // nil when withheld
	TrunkID   *int64
	UserID    *int64
	Legs      []Leg // legs known at the start (the caller's), written with the record
}

// End describes how a call ended: what Recorder.End writes.
type End struct {
	At          time.Time
	Disposition Disposition
	SIPCode     int    // final response to the caller's INVITE: 200 when answered
	SIPReason   string // its reason phrase, or why the PBX ended the call
	HangupBy    HangupBy
	TrunkID     *int64          // the trunk that carried an outbound call (the last one tried); nil keeps the record's
	Legs        []Leg           // legs to write with the end: added (ID 0) or replaced
	Path        json.RawMessage // the inbound path, a JSON array; nil keeps the record's
	UserID      *int64          // inbound: the user who answered; nil keeps the record's
	Queues      []QueueStay     // the call's queue stays, written with the end
}

// Errors. A write that breaks an invariant wraps ErrInvalid; a change to a record that has
// already ended wraps ErrEnded.
var (
	ErrInvalid = errors.New("cdr: invalid")
	ErrEnded   = errors.New("cdr: call already ended")
)

func (s Start) validate() error {
	switch {
	case s.At.IsZero():
		return fmt.Errorf("%w: start time is zero", ErrInvalid)
	case !s.Direction.Valid():
		return fmt.Errorf("%w: direction %q", ErrInvalid, s.Direction)
	}
	return validLegs(s.Legs)
}

func validLegs(ls []Leg) error {
	for _, l := range ls {
		if err := l.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (e End) validate() error {
	switch {
	case e.At.IsZero():
		return fmt.Errorf("%w: end time is zero", ErrInvalid)
	case !e.Disposition.Valid():
		return fmt.Errorf("%w: disposition %q", ErrInvalid, e.Disposition)
	case !e.HangupBy.Valid():
		return fmt.Errorf("%w: hangup_by %q", ErrInvalid, e.HangupBy)
	case e.SIPCode != 0 && (e.SIPCode < 100 || e.SIPCode > 699):
		return fmt.Errorf("%w: sip code %d", ErrInvalid, e.SIPCode)
	}
	for i, q := range e.Queues {
		if err := q.validate(); err != nil {
			return fmt.Errorf("queues[%d]: %w", i, err)
		}
	}
	return validLegs(e.Legs)
}

func (q QueueStay) validate() error {
	switch {
	case q.QueueID <= 0:
		return fmt.Errorf("%w: queue_id %d", ErrInvalid, q.QueueID)
	case !slices.Contains(queue.Exits, queue.Exit(q.Exit)):
		return fmt.Errorf("%w: exit %q", ErrInvalid, q.Exit)
	case q.JoinedAt.IsZero() || q.LeftAt.IsZero():
		return fmt.Errorf("%w: joined_at or left_at is zero", ErrInvalid)
	case q.LeftAt.Before(q.JoinedAt):
		return fmt.Errorf("%w: left_at %s before joined_at %s", ErrInvalid, q.LeftAt, q.JoinedAt)
	case q.AnsweredBy != nil && *q.AnsweredBy <= 0:
		return fmt.Errorf("%w: answered_by %d", ErrInvalid, *q.AnsweredBy)
	case q.WaitMS < 0 || q.TalkMS < 0 || q.WrapUpMS < 0:
		return fmt.Errorf("%w: negative duration", ErrInvalid)
	}
	for i, o := range q.Offers {
		switch {
		case o.UserID <= 0:
			return fmt.Errorf("%w: offers[%d]: user_id %d", ErrInvalid, i, o.UserID)
		case !slices.Contains(queue.Outcomes, queue.Outcome(o.Outcome)):
			return fmt.Errorf("%w: offers[%d]: outcome %q", ErrInvalid, i, o.Outcome)
		case o.OfferedAt.IsZero():
			return fmt.Errorf("%w: offers[%d]: offered_at is zero", ErrInvalid, i)
		case o.RingMS < 0:
			return fmt.Errorf("%w: offers[%d]: ring_ms %d", ErrInvalid, i, o.RingMS)
		}
	}
	return nil
}

func (l Leg) validate() error {
	switch {
	case !l.Kind.Valid():
		return fmt.Errorf("%w: leg kind %q", ErrInvalid, l.Kind)
	case l.StartedAt.IsZero():
		return fmt.Errorf("%w: leg start time is zero", ErrInvalid)
	case l.SIPCode != 0 && (l.SIPCode < 100 || l.SIPCode > 699):
		return fmt.Errorf("%w: leg sip code %d", ErrInvalid, l.SIPCode)
	}
	return nil
}

func nullableString(s string) ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(s)
}

func readNullable(b []byte, dst *string) error {
	if string(b) == "null" {
		*dst = ""
		return nil
	}
	return json.Unmarshal(b, dst)
}
