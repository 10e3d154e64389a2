package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
)

func withAgents(st queue.Store) envOpt {
	return withOption(WithAgents(st, queue.Reasons{"break", "lunch"}))
}

func TestAgentStateNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	q := e.createObject("/api/v1/queues", validQueue("support", u.ID))
	for _, res := range []response{
		e.do("GET", fmt.Sprintf("/api/v1/agents/%d/state", u.ID), testAdminToken, nil),
		e.do("PUT", fmt.Sprintf("/api/v1/agents/%d/state", u.ID), testAdminToken, map[string]any{"state": "available"}),
		e.do("GET", fmt.Sprintf("/api/v1/queues/%d/status", q), testAdminToken, nil),
	} {
		require.Equal(t, http.StatusServiceUnavailable, res.status, "body: %s", res.body)
		require.Equal(t, "agent state not configured", res.problem(t).Detail)
	}
}

func TestWithAgentsRefusesBadCatalogue(t *testing.T) {
	t.Parallel()
	s := &Server{}
	require.Error(t, WithAgents(memstore.New(), queue.Reasons{"Bad Reason"})(s))
	require.Error(t, WithAgents(nil, nil)(s))
	require.NoError(t, WithAgents(memstore.New(), nil)(s))
	require.Equal(t, queue.DefaultReasons, s.reasons)
}

func TestAgentState(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := newEnv(t, withAgents(st))
	agent, agentTok := e.userWithToken("agent", "201", "agent")
	other, otherTok := e.userWithToken("other", "202", "agent")
	_, supTok := e.userWithToken("sup", "203", "supervisor")
	sub := e.bus.Subscribe(16, func(ev event.Event) bool { return ev.Type == EventAgentState })
	defer sub.Close()
	path := fmt.Sprintf("/api/v1/agents/%d/state", agent.ID)

	get := func(token string) queue.Agent {
		t.Helper()
		res := e.do("GET", path, token, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var a queue.Agent
		res.decode(t, &a)
		return a
	}
	put := func(token string, body map[string]any, mode ...specMode) response {
		t.Helper()
		return e.do("PUT", path, token, body, mode...)
	}
	published := func() queue.Agent {
		t.Helper()
		select {
		case ev := <-sub.C:
			return ev.Data.(queue.Agent)
		case <-time.After(5 * time.Second):
			t.Fatal("no agent.state event")
		}
		return queue.Agent{}
	}

	// Never logged in: logged_out. The agent, a supervisor and an admin may read it.
	require.Equal(t, queue.LoggedOut, get(agentTok).State)
	require.Equal(t, queue.LoggedOut, get(supTok).State)
	require.Equal(t, agent.ID, get(testAdminToken).UserID)
	require.Equal(t, http.StatusForbidden, e.do("GET", path, otherTok, nil).status)
	require.Equal(t, http.StatusForbidden, put(otherTok, map[string]any{"state": "available"}).status)

	// The agent logs in: by agent, published.
	res := put(agentTok, map[string]any{"state": "available"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var a queue.Agent
	res.decode(t, &a)
	require.Equal(t, queue.Available, a.State)
	require.Equal(t, queue.ByAgent, a.By)
	require.False(t, a.LoggedInAt.IsZero())
	require.Equal(t, queue.Available, published().State)
	stored, err := st.Agent(t.Context(), agent.ID, time.Now())
	require.NoError(t, err)
	require.Equal(t, queue.Available, stored.State)

	// Asking again is a no-op: 200, nothing published.
	require.Equal(t, http.StatusOK, put(agentTok, map[string]any{"state": "available"}).status)

	// A supervisor pauses them with a reason: by supervisor.
	res = put(supTok, map[string]any{"state": "not_ready", "reason": "lunch"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &a)
	require.Equal(t, queue.NotReady, a.State)
	require.Equal(t, "lunch", a.Reason)
	require.Equal(t, queue.BySupervisor, a.By)
	p := published()
	require.Equal(t, queue.NotReady, p.State)
	require.Equal(t, queue.BySupervisor, p.By)

	// The admin logs them out.
	res = put(testAdminToken, map[string]any{"state": "logged_out"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	require.Equal(t, queue.LoggedOut, published().State)

	// Validation: 422 naming the field.
	for _, tc := range []struct {
		body   map[string]any
		mode   specMode
		fields []string
	}{
		{map[string]any{"state": "not_ready", "reason": "nap"}, specValid, []string{"reason"}},
		{map[string]any{"state": "available", "reason": "lunch"}, specValid, []string{"reason"}},
		{map[string]any{"state": "on_call"}, specValid, []string{"state"}},
		{map[string]any{"state": "dancing"}, specInvalid, []string{"state"}},
	} {
		res := put(agentTok, tc.body, tc.mode)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
		require.Equal(t, tc.fields, fieldsOf(res.problem(t)), "%v", tc.body)
	}
	res = put(agentTok, map[string]any{"state": "available", "extra": 1}, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)

	// Users that do not exist: 404.
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/agents/999/state", testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", "/api/v1/agents/999/state", supTok,
		map[string]any{"state": "available"}).status)

	// An archived user can only be logged out.
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", other.ID), testAdminToken, nil).status)
	res = e.do("PUT", fmt.Sprintf("/api/v1/agents/%d/state", other.ID), testAdminToken, map[string]any{"state": "available"})
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	select {
	case ev := <-sub.C:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// A change asked for during a queue call is kept pending, and the refusals of the state
// machine are 409 with the reason.
func TestAgentStateDuringCall(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := newEnv(t, withAgents(st))
	agent, agentTok := e.userWithToken("agent", "201", "agent")
	path := fmt.Sprintf("/api/v1/agents/%d/state", agent.ID)
	require.Equal(t, http.StatusOK, e.do("PUT", path, agentTok, map[string]any{"state": "available"}).status)
	now := time.Now()
	_, err := st.Claim(t.Context(), agent.ID, queue.Offer{CallID: "c1", QueueID: 1, Node: "n1", OfferedAt: now,
		LeaseUntil: now.Add(time.Minute)}, now, true)
	require.NoError(t, err)

	res := e.do("PUT", path, agentTok, map[string]any{"state": "not_ready", "reason": "break"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var a queue.Agent
	res.decode(t, &a)
	require.Equal(t, queue.Offered, a.State)
	require.NotNil(t, a.Pending)
	require.Equal(t, queue.NotReady, a.Pending.State)
	require.Equal(t, "c1", a.Current.CallID)
}

// The one HTTP mapping: refusals of the state machine are 409 with their reason.
func TestAgentErrorsMapping(t *testing.T) {
	t.Parallel()
	_, err := queue.NewAgent(7).Pause(time.Now(), "break", queue.DefaultReasons)
	require.ErrorIs(t, err, queue.ErrBadTransition)
	p, _ := toProblem(fmt.Errorf("set state: %w", err))
	require.Equal(t, http.StatusConflict, p.Status)
	require.Contains(t, p.Detail, "log in first")
	p, _ = toProblem(queue.ErrConflict)
	require.Equal(t, http.StatusConflict, p.Status)
	_, err = queue.NewAgent(7).Request(time.Now(), "nap", "", queue.ByAgent, nil)
	p, _ = toProblem(err)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, []fieldError{{Field: "state", Message: "must be logged_out, available or not_ready"}}, p.Errors)
}

func TestQueueStatus(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := newEnv(t, withAgents(st))
	anna, annaTok := e.userWithToken("anna", "201", "agent")
	bart, bartTok := e.userWithToken("bart", "202", "agent")
	carl := e.createUser(validUser("carl", "203"))
	_, supTok := e.userWithToken("sup", "204", "supervisor")
	acct := e.createSIPAccount(anna.ID, map[string]any{"username": "anna-desk", "password": "s3cret-s3cret-s3cret", "kind": "desk"})
	e.createSIPAccount(bart.ID, map[string]any{"username": "bart-desk", "password": "s3cret-s3cret-s3cret", "kind": "desk"})
	e.mu.Lock()
	e.bindings = []registrar.Binding{{AOR: acct.Username, Contact: "sip:anna@192.0.2.1", Transport: "udp"}}
	e.mu.Unlock()
	id := e.createObject("/api/v1/queues", validQueue("support", anna.ID, bart.ID, carl.ID))
	for tok, uid := range map[string]int64{annaTok: anna.ID, bartTok: bart.ID} {
		res := e.do("PUT", fmt.Sprintf("/api/v1/agents/%d/state", uid), tok, map[string]any{"state": "available"})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	}
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, st.CallStarted(ctx, bart.ID, "direct-1", now.Add(time.Hour)))
	require.NoError(t, st.Join(ctx, queue.Caller{CallID: "c1", QueueID: id, JoinedAt: now.Add(-30 * time.Second), Node: "n"}))
	require.NoError(t, st.Join(ctx, queue.Caller{CallID: "c2", QueueID: id, Priority: 10, JoinedAt: now.Add(-5 * time.Second), Node: "n"}))

	res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d/status", id), supTok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var s queueStatus
	res.decode(t, &s)
	require.Equal(t, id, s.QueueID)
	require.Len(t, s.Waiting, 2)
	require.Equal(t, []string{"c2", "c1"}, []string{s.Waiting[0].CallID, s.Waiting[1].CallID}, "priority first")
	require.Equal(t, []int{1, 2}, []int{s.Waiting[0].Position, s.Waiting[1].Position})
	require.GreaterOrEqual(t, s.Waiting[1].Wait, queue.Millis(30000))
	require.Equal(t, s.Waiting[1].Wait, s.LongestWait)
	require.Nil(t, s.ServiceLevel)

	require.Len(t, s.Agents, 3)
	require.Equal(t, memberStatus{UserID: anna.ID, Penalty: 0, State: queue.Available, Registered: true, Routable: true},
		withoutSince(s.Agents[0]))
	require.Equal(t, memberStatus{UserID: bart.ID, Penalty: 1, State: queue.Available, Busy: true},
		withoutSince(s.Agents[1]))
	require.Equal(t, memberStatus{UserID: carl.ID, Penalty: 2, State: queue.LoggedOut}, s.Agents[2])
	require.Equal(t, 3, s.Census.Members)
	require.Equal(t, 2, s.Census.LoggedIn)
	require.Equal(t, 2, s.Census.Serving)
	require.Equal(t, 1, s.Census.Routable)
	require.Equal(t, map[queue.State]int{queue.LoggedOut: 1, queue.Available: 2, queue.NotReady: 0, queue.Offered: 0,
		queue.OnCall: 0, queue.AfterCallWork: 0}, s.Census.States)

	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/queues/999/status", supTok, nil).status)
}

func withoutSince(m memberStatus) memberStatus {
	m.Since, m.InState = nil, 0
	return m
}

func TestQueueCallerPriority(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := newEnv(t, withAgents(st))
	anna, annaTok := e.userWithToken("anna", "201", "agent")
	_, supTok := e.userWithToken("sup", "204", "supervisor")
	id := e.createObject("/api/v1/queues", validQueue("support", anna.ID))
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, st.Join(ctx, queue.Caller{CallID: "c1", QueueID: id, JoinedAt: now.Add(-30 * time.Second), Node: "n"}))
	require.NoError(t, st.Join(ctx, queue.Caller{CallID: "c2", QueueID: id, JoinedAt: now.Add(-5 * time.Second), Node: "n"}))
	events := e.srv.bus.Subscribe(8, func(ev event.Event) bool { return ev.Type == EventQueuePriority })
	defer events.Close()

	path := fmt.Sprintf("/api/v1/queues/%d/waiting/c2", id)
	res := e.do("PUT", path, supTok, map[string]any{"priority": 20})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var c waitingCaller
	res.decode(t, &c)
	require.Equal(t, "c2", c.CallID)
	require.Equal(t, 1, c.Position, "ahead of the caller who waited longer")
	require.Equal(t, 20, c.Priority)
	ev := <-events.C
	require.Equal(t, "c2", ev.CallID)
	callers, err := st.Waiting(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []string{"c2", "c1"}, []string{callers[0].CallID, callers[1].CallID})

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"priority": 101}, "priority"},
		{map[string]any{"priority": -1}, "priority"},
		{map[string]any{}, "priority"},
	} {
		res := e.do("PUT", path, supTok, tc.body, specInvalid)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
		require.Contains(t, string(res.body), `"field":"`+tc.field+`"`)
	}
	require.Equal(t, http.StatusNotFound, e.do("PUT", fmt.Sprintf("/api/v1/queues/%d/waiting/gone", id), supTok, map[string]any{"priority": 5}).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", "/api/v1/queues/999/waiting/c2", supTok, map[string]any{"priority": 5}).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", path, annaTok, map[string]any{"priority": 5}).status)
}
