package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
)

// Agent state (GET and PUT /api/v1/agents/{user_id}/state) and queue status (GET
// /api/v1/queues/{id}/status) read the shared ACD state: a queue.Store (queue/memstore in
// process, queue/redisstore across nodes) given with WithAgents. Without it these routes
// answer 503.

// WithAgents connects the agent state store and the catalogue of not_ready reasons agents
// and supervisors choose from (queue.DefaultReasons when empty). The catalogue must be
// valid (Reasons.Validate).
func WithAgents(st queue.Store, reasons queue.Reasons) Option {
	return func(s *Server) error {
		if st == nil {
			return errors.New("api: WithAgents: a nil store")
		}
		if len(reasons) == 0 {
			reasons = queue.DefaultReasons
		}
		if err := reasons.Validate(); err != nil {
			return fmt.Errorf("api: WithAgents: %w", err)
		}
		s.agents, s.reasons = st, slices.Clone(reasons)
		return nil
	}
}

// EventAgentState is published on the bus after each change of an agent's state; its
// data is the new queue.Agent.
const EventAgentState = "agent.state"

var errNoAgents = errorf(http.StatusServiceUnavailable, "agent state not configured")

// agentRequest is the body of PUT /api/v1/agents/{user_id}/state.
type agentRequest struct {
	State  queue.State `json:"state"`
	Reason string      `json:"reason"`
}

func (s *Server) getAgentState(w http.ResponseWriter, r *http.Request) error {
	if s.agents == nil {
		return errNoAgents
	}
	id, err := s.pathUser(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	a, err := s.agents.Agent(ctx, id, s.now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// pathUser reads {user_id} of an existing user (404 otherwise).
func (s *Server) pathUser(r *http.Request) (int64, error) {
	id, err := pathInt(r, "user_id")
	if err != nil {
		return 0, err
	}
	_, err = s.store.GetUser(r.Context(), id)
	return id, err
}

func (s *Server) putAgentState(w http.ResponseWriter, r *http.Request) error {
	if s.agents == nil {
		return errNoAgents
	}
	var in agentRequest
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	id, err := pathInt(r, "user_id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.ArchivedAt != nil && in.State != queue.LoggedOut {
		return errorf(http.StatusConflict, fmt.Sprintf("user %d is archived: an archived user can only be logged out", id))
	}
	p := principalFrom(ctx)
	by := queue.BySupervisor
	if p.user.ID == id {
		by = queue.ByAgent
	}
	now := s.now()
	var before queue.Agent
	a, err := s.agents.Update(ctx, id, now, func(a queue.Agent) (queue.Agent, error) {
		before = a
		return a.Request(now, in.State, in.Reason, by, s.reasons)
	})
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(before, a) {
		s.bus.Publish(event.Event{Type: EventAgentState, Time: now, Data: a})
		s.log.Info("agent state changed", "user_id", id, "state", a.State, "reason", a.Reason, "by", p.user.ID)
	}
	return writeJSON(w, http.StatusOK, a)
}

// waitingCaller is one caller of GET /api/v1/queues/{id}/status.
type waitingCaller struct {
	CallID   string       `json:"call_id"`
	Position int          `json:"position"` // 1: next to be offered
	Priority int          `json:"priority"`
	JoinedAt time.Time    `json:"joined_at"`
	Wait     queue.Millis `json:"wait_ms"`
}

// memberStatus is one member of GET /api/v1/queues/{id}/status.
type memberStatus struct {
	UserID     int64        `json:"user_id"`
	Penalty    int          `json:"penalty"`
	State      queue.State  `json:"state"`
	Reason     string       `json:"reason,omitempty"`
	Since      *time.Time   `json:"since"`
	InState    queue.Millis `json:"in_state_ms"`
	Busy       bool         `json:"busy"`       // on any call on any device
	Registered bool         `json:"registered"` // at least one SIP account has a binding
	Routable   bool         `json:"routable"`   // could be offered a call now
}

// queueStatus is GET /api/v1/queues/{id}/status.
type queueStatus struct {
	QueueID     int64           `json:"queue_id"`
	Name        string          `json:"name"`
	At          time.Time       `json:"at"`
	Waiting     []waitingCaller `json:"waiting"`
	LongestWait queue.Millis    `json:"longest_wait_ms"`
	Agents      []memberStatus  `json:"agents"`
	Census      queue.Census    `json:"census"`
	// ServiceLevel is today's service level in percent (0 to 100, two decimals: see
	// queue.QueueStats) of the calls that joined the queue since the start of the UTC day;
	// null when none counts.
	ServiceLevel *float64 `json:"service_level"`
}

func (s *Server) queueStatus(w http.ResponseWriter, r *http.Request) error {
	if s.agents == nil {
		return errNoAgents
	}
	q, err := fromPath(r, s.store.GetQueue)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := s.now()
	callers, err := s.agents.Waiting(ctx, q.ID)
	if err != nil {
		return fmt.Errorf("queue %d status: waiting callers: %w", q.ID, err)
	}
	out := queueStatus{QueueID: q.ID, Name: q.Name, At: now, Waiting: []waitingCaller{}, Agents: []memberStatus{}}
	for i, c := range callers {
		wait := queue.Millis(max(now.Sub(c.JoinedAt), 0) / time.Millisecond)
		out.Waiting = append(out.Waiting, waitingCaller{CallID: c.CallID, Position: i + 1, Priority: c.Priority,
			JoinedAt: c.JoinedAt, Wait: wait})
		out.LongestWait = max(out.LongestWait, wait)
	}
	presence, err := s.presence(ctx, q.Members, now)
	if err != nil {
		return fmt.Errorf("queue %d status: %w", q.ID, err)
	}
	look := func(id int64) (queue.Presence, bool) { p, ok := presence[id]; return p, ok }
	for _, m := range q.Members {
		p := presence[m.UserID]
		a := p.Agent
		ms := memberStatus{UserID: m.UserID, Penalty: m.Penalty, State: a.State, Reason: a.Reason,
			Busy: p.Busy, Registered: p.Registered, Routable: a.Routable(now, p.Busy, p.Registered)}
		if !a.Since.IsZero() {
			since := a.Since
			ms.Since = &since
			ms.InState = queue.Millis(max(now.Sub(since), 0) / time.Millisecond)
		}
		out.Agents = append(out.Agents, ms)
	}
	out.Census = q.Census(now, look)
	if out.ServiceLevel, err = ServiceLevelToday(ctx, s.stats, q.Queue, now); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// presence reads the members' agent state (settled at now), whether each is on a call, and
// whether any of their SIP accounts has a binding at the registrar.
func (s *Server) presence(ctx context.Context, members []queue.Member, now time.Time) (map[int64]queue.Presence, error) {
	ids := make([]int64, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	agents, err := s.agents.Agents(ctx, ids, now)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	bound := map[string]bool{}
	if len(ids) > 0 {
		bindings, err := s.reg.Bindings(ctx)
		if err != nil {
			return nil, fmt.Errorf("list bindings: %w", err)
		}
		for _, b := range bindings {
			bound[b.AOR] = true
		}
	}
	busy, err := s.agents.BusyMany(ctx, ids, now)
	if err != nil {
		return nil, fmt.Errorf("busy: %w", err)
	}
	out := make(map[int64]queue.Presence, len(ids))
	for i, id := range ids {
		p := queue.Presence{Agent: agents[i], Busy: busy[i]}
		p.Agent.UserID = id
		accts, err := s.store.ListSIPAccounts(ctx, id)
		if err != nil {
			return nil, err
		}
		p.Registered = slices.ContainsFunc(accts, func(a store.SIPAccount) bool { return bound[a.Username] })
		out[id] = p
	}
	return out, nil
}

// priorityRequest is the body of PUT /api/v1/queues/{id}/waiting/{call_id}.
type priorityRequest struct {
	Priority *int `json:"priority"`
}

// EventQueuePriority is published after a waiting caller's priority changed; its data is
// {queue_id, call_id, priority, by}.
const EventQueuePriority = "queue.priority"

// setCallerPriority changes the priority of a caller waiting in a queue: it moves ahead of
// every caller of a lower priority at the next dispatch.
func (s *Server) setCallerPriority(w http.ResponseWriter, r *http.Request) error {
	if s.agents == nil {
		return errNoAgents
	}
	var in priorityRequest
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var f fieldErrors
	switch {
	case in.Priority == nil:
		f.add("priority", "required")
	case *in.Priority < queue.MinPriority || *in.Priority > queue.MaxPriority:
		f.add("priority", "must be between %d and %d", queue.MinPriority, queue.MaxPriority)
	}
	if err := f.err(); err != nil {
		return err
	}
	q, err := fromPath(r, s.store.GetQueue)
	if err != nil {
		return err
	}
	callID := r.PathValue("call_id")
	ctx := r.Context()
	if err := s.agents.SetPriority(ctx, q.ID, callID, *in.Priority); errors.Is(err, queue.ErrNotWaiting) {
		return errorf(http.StatusNotFound, fmt.Sprintf("call %q is not waiting in queue %d", callID, q.ID))
	} else if err != nil {
		return err
	}
	callers, err := s.agents.Waiting(ctx, q.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for i, c := range callers {
		if c.CallID == callID {
			by := principalFrom(ctx).user.ID
			s.bus.Publish(event.Event{Type: EventQueuePriority, Time: now, CallID: callID,
				Data: map[string]any{"queue_id": q.ID, "call_id": callID, "priority": c.Priority, "by": by}})
			s.log.Info("queue caller priority changed", "queue_id", q.ID, "call_id", callID, "priority", c.Priority, "by", by)
			return writeJSON(w, http.StatusOK, waitingCaller{CallID: c.CallID, Position: i + 1, Priority: c.Priority,
				JoinedAt: c.JoinedAt, Wait: queue.Millis(max(now.Sub(c.JoinedAt), 0) / time.Millisecond)})
		}
	}
	return errorf(http.StatusNotFound, fmt.Sprintf("call %q is not waiting in queue %d", callID, q.ID))
}
