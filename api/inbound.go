package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

// Inbound schemes: numbers, IVRs, ring groups, schedules, queues and prompts, and the graph
// (routing.Graph) a call to a number walks.
//
// The graph is a function of the numbers, IVRs, ring groups, schedules and queues (their ids
// and overflow destinations), the uploaded and
// system prompts and the extensions of active users. Every write that changes one of them
// takes s.routingMu, reads them all (inboundState), applies the change in memory and builds
// the candidate graph; when routing.NewGraph refuses it, nothing is written. Errors in the
// object being written are 422 naming its fields; errors the change would cause in other
// objects (a number pointing at the IVR being deleted, a loop closed through others) are
// 409 naming those objects. After the write the graph is rebuilt from the store and swapped
// into s.inbound, so calls see the change at once and never half of it.
//
// Stored objects that are wrong already (written before these checks existed, e.g. a number
// whose extension's user an older version archived) do not block other writes: their errors
// are remembered at each rebuild (inboundBroken), and only new errors refuse a write. The
// rebuild leaves them out of the graph, with an Error log, so everything else keeps working.

// Inbound returns the holder of the current inbound graph (for the call engine).
func (s *Server) Inbound() *routing.GraphHolder { return &s.inbound }

// RebuildInbound builds the inbound graph from the store and makes it current. New calls
// it; call it again after changing inbound objects or users behind the API's back.
func (s *Server) RebuildInbound(ctx context.Context) error {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	return s.rebuildInboundLocked(ctx)
}

func (s *Server) rebuildInboundLocked(ctx context.Context) error {
	st, err := s.readInbound(ctx)
	if err != nil {
		return err
	}
	ids := st.prompts
	g, broken, err := s.buildGraph(st)
	if err != nil {
		return fmt.Errorf("inbound routing: %w", err)
	}
	s.inbound.Store(g)
	s.inboundBroken = broken
	s.promptIDs.Store(&ids)
	return nil
}

// rebuildInboundAfter rebuilds the graph after a write that was checked; a failure is logged
// (the write is done; the previous graph stays current until the next change).
func (s *Server) rebuildInboundAfter(ctx context.Context, what string) {
	if err := s.rebuildInboundLocked(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("inbound graph not rebuilt after "+what, "error", err)
	}
}

// inboundState is everything the inbound graph is built from, as stored (or as a write
// would leave it).
type inboundState struct {
	numbers    []store.Number
	ivrs       []routing.IVR
	ringGroups []routing.RingGroup
	schedules  []routing.Schedule
	queues     []queue.Queue
	extensions map[string]bool // of active users
	prompts    map[int64]bool  // uploaded prompt ids
}

func (s *Server) readInbound(ctx context.Context) (inboundState, error) {
	var st inboundState
	var err error
	if st.numbers, err = s.store.ListNumbers(ctx); err != nil {
		return st, err
	}
	ivrs, err := s.store.ListIVRs(ctx)
	if err != nil {
		return st, err
	}
	for _, v := range ivrs {
		st.ivrs = append(st.ivrs, v.IVR)
	}
	groups, err := s.store.ListRingGroups(ctx)
	if err != nil {
		return st, err
	}
	for _, g := range groups {
		st.ringGroups = append(st.ringGroups, g.RingGroup)
	}
	schedules, err := s.store.ListSchedules(ctx)
	if err != nil {
		return st, err
	}
	for _, sc := range schedules {
		st.schedules = append(st.schedules, sc.Schedule)
	}
	queues, err := s.store.ListQueues(ctx)
	if err != nil {
		return st, err
	}
	for _, q := range queues {
		st.queues = append(st.queues, q.Queue)
	}
	users, err := s.store.ListUsers(ctx, false)
	if err != nil {
		return st, err
	}
	st.extensions = make(map[string]bool, len(users))
	for _, u := range users {
		if u.Extension != "" && u.ArchivedAt == nil {
			st.extensions[u.Extension] = true
		}
	}
	prompts, err := s.store.ListPrompts(ctx)
	if err != nil {
		return st, err
	}
	st.prompts = make(map[int64]bool, len(prompts))
	for _, p := range prompts {
		st.prompts[p.ID] = true
	}
	return st, nil
}

// graphInput is st as routing.NewGraph takes it.
func (s *Server) graphInput(st *inboundState) routing.GraphInput {
	numbers := make(map[string]routing.Destination, len(st.numbers))
	for _, n := range st.numbers {
		numbers[n.Number] = n.Destination.Routing()
	}
	ids := st.prompts
	queues := make(map[int64]bool, len(st.queues))
	exits := make(map[int64][]routing.QueueExit, len(st.queues))
	for _, q := range st.queues {
		queues[q.ID] = true
		list := []routing.QueueExit{}
		for _, o := range q.Overflows() {
			list = append(list, routing.QueueExit{Field: o.Field, Destination: o.Destination})
		}
		exits[q.ID] = list
	}
	return routing.GraphInput{Numbers: numbers, IVRs: st.ivrs, RingGroups: st.ringGroups, Schedules: st.schedules,
		Extensions: st.extensions, Prompts: func(ref routing.PromptRef) bool { return s.promptKnown(ids, ref) },
		Queues: queues, QueueExits: exits}
}

// buildGraph builds the graph of st. Objects NewGraph finds wrong are left out (and then
// whatever pointed at them), each with an Error log, until the rest builds; broken is what
// NewGraph said of the whole st.
func (s *Server) buildGraph(st inboundState) (*routing.Graph, []routing.GraphError, error) {
	var broken []routing.GraphError
	for {
		g, err := routing.NewGraph(s.graphInput(&st))
		var ve *routing.GraphValidationError
		if !errors.As(err, &ve) {
			return g, broken, err
		}
		if broken == nil {
			broken = slices.Clone(ve.Errors)
		}
		dropped := false
		for _, e := range ve.Errors {
			s.log.Error("inbound routing: a stored object is invalid and left out until it is fixed",
				"object", e.Object, "field", e.Field, "error", e.Message)
			dropped = st.drop(e.Object) || dropped
		}
		if !dropped {
			return nil, broken, err
		}
	}
}

// drop removes the object a GraphError names ("number +48...", "ivr 3"); false when st has
// no such object.
func (st *inboundState) drop(object string) bool {
	kind, key, _ := strings.Cut(object, " ")
	id, _ := strconv.ParseInt(key, 10, 64)
	n := len(st.numbers) + len(st.ivrs) + len(st.ringGroups) + len(st.schedules) + len(st.queues)
	switch kind {
	case "number":
		st.numbers = slices.DeleteFunc(slices.Clone(st.numbers), func(x store.Number) bool { return x.Number == key })
	case objIVR:
		st.ivrs = slices.DeleteFunc(slices.Clone(st.ivrs), func(x routing.IVR) bool { return x.ID == id })
	case objRingGroup:
		st.ringGroups = slices.DeleteFunc(slices.Clone(st.ringGroups), func(x routing.RingGroup) bool { return x.ID == id })
	case objSchedule:
		st.schedules = slices.DeleteFunc(slices.Clone(st.schedules), func(x routing.Schedule) bool { return x.ID == id })
	case objQueue:
		st.queues = slices.DeleteFunc(slices.Clone(st.queues), func(x queue.Queue) bool { return x.ID == id })
	}
	return len(st.numbers)+len(st.ivrs)+len(st.ringGroups)+len(st.schedules)+len(st.queues) < n
}

// Object kinds as routing.GraphError names them ("ivr 3").
const (
	objIVR       = "ivr"
	objRingGroup = "ring_group"
	objSchedule  = "schedule"
	objQueue     = "queue"
)

func numberObject(n string) string { return "number " + n }

// checkInbound builds the graph of the candidate st. self is the object being written as
// GraphError names it ("ivr 3"; "" for a delete): its errors join bad, whose fields answer
// 422; errors the change causes in other objects answer 409 naming them (what says what
// the change is, for the detail).
func (s *Server) checkInbound(st *inboundState, self, what string, bad *fieldErrors) error {
	_, err := routing.NewGraph(s.graphInput(st))
	var ve *routing.GraphValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	var conflicts []routing.GraphError
	if ve != nil {
		for _, e := range ve.Errors {
			switch {
			case self != "" && e.Object == self:
				field := e.Field
				if strings.HasPrefix(self, "number ") {
					field = numberField(field)
				}
				if !slices.ContainsFunc(*bad, func(f fieldError) bool { return f.Field == field }) {
					bad.add(field, "%s", e.Message)
				}
			case slices.Contains(s.inboundBroken, e): // stored that way already
			default:
				conflicts = append(conflicts, e)
			}
		}
	}
	if err := bad.err(); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			he.conflicts = conflicts // what else it would break, so the fix can see everything
		}
		return err
	}
	if len(conflicts) > 0 {
		parts := make([]string, len(conflicts))
		for i, e := range conflicts {
			parts[i] = e.Object + ": " + e.Field + ": " + e.Message
		}
		return &httpError{status: http.StatusConflict, conflicts: conflicts,
			detail: what + " would break other inbound routing: " + strings.Join(parts, "; ")}
	}
	return nil
}

// numberField is the field of a number's body that a GraphError field of the number
// names: its destination ("destination.target"), or the number itself ("").
func numberField(f string) string {
	if f == "" {
		return "number"
	}
	return f
}

// brokenReason says why the stored object was left out of the graph ("" if it was not).
func (s *Server) brokenReason(object string) string {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	var why []string
	for _, e := range s.inboundBroken {
		if e.Object == object {
			why = append(why, e.Field+": "+e.Message)
		}
	}
	return strings.Join(why, "; ")
}

// Users: the graph needs the extensions of active users, so a change of a user's extension,
// archiving and deleting are checked like any other change of the graph.

// checkExtensionChange refuses (409) taking away extension old (when not "") and adding new
// (when not "") if the graph would break. Call with routingMu held.
func (s *Server) checkExtensionChange(ctx context.Context, old, new, what string) error {
	if old == new || old == "" {
		return nil // adding an extension breaks nothing
	}
	st, err := s.readInbound(ctx)
	if err != nil {
		return err
	}
	exts := make(map[string]bool, len(st.extensions)+1)
	for e := range st.extensions {
		if e != old {
			exts[e] = true
		}
	}
	if new != "" {
		exts[new] = true
	}
	st.extensions = exts
	return s.checkInbound(&st, "", what, &fieldErrors{})
}

// Simulation.

type simulateInput struct {
	Number string `json:"number"`
	Caller string `json:"caller"` // default anonymous
	At     string `json:"at"`     // RFC 3339; default now
	Digits string `json:"digits"`
}

const defaultSimCaller = "anonymous"

var (
	simDigitsRe = regexp.MustCompile(`^[0-9*#,]{0,1000}$`)
	simCallerRe = regexp.MustCompile(`^[A-Za-z0-9+*#._@-]{1,64}$`)
)

// simulate answers where a call to a project number would go: the path through schedules,
// menus and ring groups, with the digits given as the caller's key presses.
func (s *Server) simulate(w http.ResponseWriter, r *http.Request) error {
	var in simulateInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var bad fieldErrors
	if !e164Re.MatchString(in.Number) {
		bad.add("number", "must be E.164: + then 7 to 15 digits, the first not 0")
	}
	if in.Caller == "" {
		in.Caller = defaultSimCaller
	}
	if !simCallerRe.MatchString(in.Caller) {
		bad.add("caller", "must be 1 to 64 characters: digits, letters, + * # . _ @ -")
	}
	at := s.now()
	if in.At != "" {
		t, err := time.Parse(time.RFC3339, in.At)
		if err != nil {
			bad.add("at", "must be an RFC 3339 time like 2026-03-02T09:30:00+01:00")
		}
		at = t
	}
	if !simDigitsRe.MatchString(in.Digits) {
		bad.add("digits", "must be at most 1000 of 0-9 * # and , (one menu's input after another)")
	}
	if err := bad.err(); err != nil {
		return err
	}
	sim, err := s.inbound.Load().Simulate(in.Number, in.Caller, at, in.Digits)
	if errors.Is(err, routing.ErrNoNumber) {
		msg := "not a project number"
		if why := s.brokenReason(numberObject(in.Number)); why != "" {
			msg = "left out of inbound routing until fixed: " + why
		}
		bad.add("number", "%s", msg)
		return bad.err()
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sim)
}
