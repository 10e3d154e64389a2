package queue

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadTransition is wrapped by every refusal of the agent state machine: the change asked
// for does not fit the agent's state ("agent 7: login: bad agent state transition: already
// logged in"; "agent 7: offer: ...: busy on another call"). The API answers it with 409. A
// change asked for during a call is not refused: it is kept pending (see Agent).
var ErrBadTransition = errors.New("bad agent state transition")

// ErrStaleOffer is returned by the call events (OfferAnswered, OfferMissed, OfferFailed,
// CallEnded, Renew) for a call that is not the agent's current offer: the event is late (the
// offer's lease expired and another node offered the agent a new call) or a duplicate. It
// wraps ErrBadTransition; a store may drop such events after logging them.
var ErrStaleOffer = fmt.Errorf("%w: not the agent's current offer", ErrBadTransition)

// FieldError is one bad field: Field is its JSON path ("members[2].penalty",
// "on_full.then.target", "reasons[1]", "state").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) String() string { return e.Field + ": " + e.Message }

// ValidationError lists every bad field found, so one answer names them all. Validate
// methods return it, and so do transitions given a bad argument (an unknown reason, a state
// that cannot be asked for); the API answers it with 422 and the list.
type ValidationError struct {
	What   string // "queue", "reasons", "agent", "request", "offer"
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.String()
	}
	return "queue: invalid " + e.What + ": " + strings.Join(parts, "; ")
}

// collector gathers field errors.
type collector struct {
	what string
	list []FieldError
}

func (c *collector) bad(field, format string, args ...any) {
	c.list = append(c.list, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &ValidationError{What: c.what, Errors: c.list}
}

// refuse builds a state machine refusal.
func refuse(a Agent, op, format string, args ...any) error {
	return fmt.Errorf("agent %d: %s: %w: %s", a.UserID, op, ErrBadTransition, fmt.Sprintf(format, args...))
}

// stale builds an ErrStaleOffer for an event about callID.
func stale(a Agent, op, callID string) error {
	if a.Current == nil {
		return fmt.Errorf("agent %d: %s of call %q: %w (the agent has none, state %s)", a.UserID, op, callID, ErrStaleOffer, a.State)
	}
	return fmt.Errorf("agent %d: %s of call %q: %w (it is %q)", a.UserID, op, callID, ErrStaleOffer, a.Current.CallID)
}
