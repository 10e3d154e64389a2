package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// numberInput is the body of POST and PUT /api/v1/numbers[/{id}] (PUT is a full update).
type numberInput struct {
	Number      string             `json:"number"`
	Description string             `json:"description"`
	TrunkID     *int64             `json:"trunk_id"`
	Destination *store.Destination `json:"destination"`
}

var e164Re = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

const defaultHangupCode = "480"

func (in numberInput) apply(n *store.Number) {
	n.Number, n.Description, n.TrunkID = in.Number, in.Description, in.TrunkID
	n.Destination = store.Destination{}
	if in.Destination != nil {
		n.Destination = *in.Destination
		if n.Destination.Type == string(routing.DestHangup) && n.Destination.Target == "" {
			n.Destination.Target = defaultHangupCode
		}
	}
}

// checkNumber validates the fields of a number that are not its destination, looking up its
// trunk in the store (the destination is the inbound graph's: see checkInbound). hasDest is
// false when the body had no destination.
func (s *Server) checkNumber(ctx context.Context, f *fieldErrors, n store.Number, hasDest bool) error {
	if !e164Re.MatchString(n.Number) {
		f.add("number", "must be E.164: + then 7 to 15 digits, the first not 0")
	}
	checkName(f, "description", n.Description, false)
	if n.TrunkID != nil {
		if _, err := s.store.GetTrunk(ctx, *n.TrunkID); errors.Is(err, store.ErrNotFound) {
			f.add("trunk_id", "no trunk has this id")
		} else if err != nil {
			return err
		}
	}
	if !hasDest {
		f.add("destination", "is required")
	}
	return nil
}

// checkNumberGraph checks the inbound graph with n in place of the number with n.ID (or
// added, when n.ID is 0). Call with routingMu held.
func (s *Server) checkNumberGraph(ctx context.Context, bad *fieldErrors, n store.Number, hasDest bool) error {
	if !hasDest {
		return bad.err()
	}
	st, err := s.readInbound(ctx)
	if err != nil {
		return err
	}
	st.numbers = slices.DeleteFunc(slices.Clone(st.numbers), func(o store.Number) bool { return n.ID != 0 && o.ID == n.ID })
	st.numbers = append(st.numbers, n)
	return s.checkInbound(&st, numberObject(n.Number), "this number", bad)
}

func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request) error {
	ns, err := s.store.ListNumbers(r.Context())
	if err != nil {
		return err
	}
	if ns == nil {
		ns = []store.Number{}
	}
	return writeJSON(w, http.StatusOK, ns)
}

func (s *Server) numberFromPath(r *http.Request) (store.Number, error) {
	return fromPath(r, s.store.GetNumber)
}

func (s *Server) getNumber(w http.ResponseWriter, r *http.Request) error {
	n, err := s.numberFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

// errTrunkGone answers a write that lost a race with the deletion of its trunk.
var errTrunkGone = &httpError{status: http.StatusUnprocessableEntity, detail: "invalid fields: trunk_id",
	fields: []fieldError{{Field: "trunk_id", Message: "no trunk has this id"}}}

func (s *Server) createNumber(w http.ResponseWriter, r *http.Request) error {
	var in numberInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var n store.Number
	in.apply(&n)
	var bad fieldErrors
	if err := s.checkNumber(ctx, &bad, n, in.Destination != nil); err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if err := s.checkNumberGraph(ctx, &bad, n, in.Destination != nil); err != nil {
		return err
	}
	n, err := s.store.CreateNumber(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return errTrunkGone
	}
	if err != nil {
		return err
	}
	s.rebuildAfter(ctx, "creating a number")
	s.rebuildInboundAfter(ctx, "creating a number")
	s.log.Info("number created", "number_id", n.ID, "number", n.Number, "destination", n.Destination.Type,
		"by", principalFrom(ctx).user.ID)
	w.Header().Set("Location", "/api/v1/numbers/"+formatID(n.ID))
	return writeJSON(w, http.StatusCreated, n)
}

func (s *Server) putNumber(w http.ResponseWriter, r *http.Request) error {
	var in numberInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	old, err := s.numberFromPath(r)
	if err != nil {
		return err
	}
	n := store.Number{ID: old.ID}
	in.apply(&n)
	var bad fieldErrors
	if err := s.checkNumber(ctx, &bad, n, in.Destination != nil); err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if err := s.checkNumberGraph(ctx, &bad, n, in.Destination != nil); err != nil {
		return err
	}
	if n.Number != old.Number {
		numbers, err := s.numbersWithout(ctx, old.ID, n.Number)
		if err != nil {
			return err
		}
		if err := s.checkNumbersChange(ctx, numbers); err != nil {
			return err
		}
	}
	n, err = s.store.UpdateNumber(ctx, n)
	if errors.Is(err, store.ErrNotFound) && in.TrunkID != nil {
		// The number or its trunk went meanwhile: tell which.
		if _, gerr := s.store.GetNumber(ctx, old.ID); gerr == nil {
			return errTrunkGone
		}
	}
	if err != nil {
		return err
	}
	s.rebuildAfter(ctx, "updating a number")
	s.rebuildInboundAfter(ctx, "updating a number")
	s.log.Info("number updated", "number_id", n.ID, "number", n.Number, "destination", n.Destination.Type,
		"by", principalFrom(ctx).user.ID)
	return writeJSON(w, http.StatusOK, n)
}

func (s *Server) deleteNumber(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	numbers, err := s.numbersWithout(ctx, id, "")
	if err != nil {
		return err
	}
	if err := s.checkNumbersChange(ctx, numbers); err != nil {
		return err
	}
	if err := s.store.DeleteNumber(ctx, id); err != nil {
		return err
	}
	s.rebuildAfter(ctx, "deleting a number")
	s.rebuildInboundAfter(ctx, "deleting a number")
	s.log.Info("number deleted", "number_id", id, "by", principalFrom(r.Context()).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
