package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

func validQueue(name string, members ...int64) map[string]any {
	list := []map[string]any{}
	for i, id := range members {
		list = append(list, map[string]any{"user_id": id, "penalty": i})
	}
	return map[string]any{"name": name, "strategy": "longest_idle", "members": list}
}

func TestQueueCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	bart := e.createUser(validUser("bart", "202"))
	ivr := e.createObject("/api/v1/ivrs", map[string]any{"name": "menu", "menu": "system:welcome",
		"choices": []map[string]any{{"digits": "1", "destination": ext("201")}}})
	created := validQueue("support", anna.ID)
	created["max_callers"] = 5
	created["on_full"] = to("ivr", ivr)
	created["wrap_up_seconds"] = 0
	replaced := validQueue("support desk", bart.ID, anna.ID)
	replaced["strategy"] = "ring_all"
	replaced["members"].([]map[string]any)[0]["wrap_up_seconds"] = 30
	replaced["join_empty"] = "destination"
	replaced["on_empty"] = hangup("486")
	replaced["announce_position_seconds"] = 60
	roundTrip(t, e, "/api/v1/queues", created, replaced)

	// Defaults are filled in and shown.
	id := e.createObject("/api/v1/queues", map[string]any{"name": "bare", "strategy": "linear"})
	res := e.do("GET", fmt.Sprintf("/api/v1/queues/%d", id), testAdminToken, nil)
	require.JSONEq(t, fmt.Sprintf(`{"id": %d, "name": "bare", "strategy": "linear", "members": [], "ring_seconds": 20,
		"retry_delay_seconds": 5, "join_empty": "allow", "wrap_up_seconds": 10, "music_on_hold": "default",
		"service_level_seconds": 20, "not_ready_after_missed": 3}`, id), withoutTimes(t, res.body))
}

func withoutTimes(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	delete(m, "created_at")
	delete(m, "updated_at")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestQueueRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, supTok := e.userWithToken("sup", "201", "supervisor")
	agent, agentTok := e.userWithToken("agent", "202", "agent")
	id := e.createObject("/api/v1/queues", validQueue("support", agent.ID))
	one := fmt.Sprintf("/api/v1/queues/%d", id)
	for _, path := range []string{"/api/v1/queues", one, one + "/members"} {
		require.Equal(t, http.StatusOK, e.do("GET", path, supTok, nil).status, path)
		require.Equal(t, http.StatusForbidden, e.do("GET", path, agentTok, nil).status, path)
	}
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/queues", supTok, validQueue("x")).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", one, supTok, validQueue("x")).status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", one, supTok, nil).status)
	require.Equal(t, http.StatusForbidden, e.do("POST", one+"/members", supTok, map[string]any{"user_id": agent.ID}).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", fmt.Sprintf("%s/members/%d", one, agent.ID), supTok, map[string]any{"penalty": 1}).status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", fmt.Sprintf("%s/members/%d", one, agent.ID), supTok, nil).status)
	require.Equal(t, http.StatusForbidden, e.do("GET", one+"/status", agentTok, nil).status)
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/queues", "", nil, specInvalid).status)
}

func TestQueueValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	gone := e.createUser(validUser("gone", "202"))
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", gone.ID), testAdminToken, nil).status)
	e.createObject("/api/v1/queues", validQueue("taken"))

	tests := []struct {
		name   string
		body   map[string]any
		mode   specMode
		status int
		fields []string
	}{
		{"unknown and archived users", validQueue("q", 999, gone.ID, anna.ID), specValid, 422,
			[]string{"members[0].user_id", "members[1].user_id"}},
		{"duplicate member", validQueue("q", anna.ID, anna.ID), specValid, 422, []string{"members[1].user_id"}},
		{"overflow required", map[string]any{"name": "q", "strategy": "linear", "max_callers": 3, "max_wait_seconds": 60},
			specValid, 422, []string{"on_max_wait", "on_full"}},
		{"overflow target missing", map[string]any{"name": "q", "strategy": "linear", "max_callers": 3,
			"on_full": to("ivr", 42), "leave_when_empty": true, "on_empty": ext("299")}, specValid, 422,
			[]string{"on_full.target", "on_empty.target"}},
		{"overflow to a queue that does not exist", map[string]any{"name": "q", "strategy": "linear",
			"max_callers": 3, "on_full": to("queue", 77)}, specValid, 422, []string{"on_full.target"}},
		{"bad strategy and ring time", map[string]any{"name": "q", "strategy": "loudest", "ring_seconds": 2},
			specInvalid, 422, []string{"strategy", "ring_seconds"}},
		{"blank name", map[string]any{"name": " ", "strategy": "linear"}, specValid, 422, []string{"name"}},
		{"name taken", validQueue("taken"), specValid, 409, []string{"name"}},
		{"id is the store's", map[string]any{"id": 3, "name": "q", "strategy": "linear"}, specInvalid, 400, []string{"id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", "/api/v1/queues", testAdminToken, tc.body, tc.mode)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			require.Equal(t, tc.fields, fieldsOf(res.problem(t)))
		})
	}
}

// A number and an IVR choice may lead to a queue; the simulation ends there; a queue still
// used cannot be deleted; a queue's overflow may lead to another queue.
func TestQueueDestinations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	support := e.createObject("/api/v1/queues", validQueue("support"))
	overflow := map[string]any{"name": "sales", "strategy": "linear", "max_callers": 2, "on_full": to("queue", support)}
	sales := e.createObject("/api/v1/queues", overflow)
	num := e.createNumber(map[string]any{"number": "+48221234567", "destination": to("queue", sales)})
	ivr := e.createObject("/api/v1/ivrs", map[string]any{"name": "menu", "menu": "system:welcome",
		"choices": []map[string]any{{"digits": "1", "destination": to("queue", support)}}})

	res := e.do("POST", "/api/v1/inbound/simulate", testAdminToken, map[string]any{"number": "+48221234567"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var sim routing.Simulation
	res.decode(t, &sim)
	require.Equal(t, routing.Destination{Type: routing.DestQueue, Target: formatID(sales)}, sim.Destination)

	// Deleting a queue something leads to: 409 naming each user of it.
	res = e.do("DELETE", fmt.Sprintf("/api/v1/queues/%d", support), testAdminToken, nil)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	var objects []string
	for _, c := range res.problem(t).Conflicts {
		objects = append(objects, c.Object+" "+c.Field)
	}
	require.ElementsMatch(t, []string{fmt.Sprintf("ivr %d choices[0].destination.target", ivr),
		fmt.Sprintf("queue %d on_full.target", sales)}, objects)
	res = e.do("DELETE", fmt.Sprintf("/api/v1/queues/%d", sales), testAdminToken, nil)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, "number +48221234567", res.problem(t).Conflicts[0].Object)

	// A queue cannot overflow to itself; a PUT naming the queue's own overflow target fails on it.
	overflow["on_full"] = to("queue", sales)
	res = e.do("PUT", fmt.Sprintf("/api/v1/queues/%d", sales), testAdminToken, overflow)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"on_full.target"}, fieldsOf(res.problem(t)))

	// Once nothing leads to them they go.
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/numbers/%d", num.ID), testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/queues/%d", sales), testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/queues/%d", support), testAdminToken, nil).status)
}

func TestQueueMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	bart := e.createUser(validUser("bart", "202"))
	gone := e.createUser(validUser("gone", "203"))
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", gone.ID), testAdminToken, nil).status)
	id := e.createObject("/api/v1/queues", validQueue("support", anna.ID))
	path := fmt.Sprintf("/api/v1/queues/%d/members", id)
	members := func() []queue.Member {
		res := e.do("GET", path, testAdminToken, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var m []queue.Member
		res.decode(t, &m)
		return m
	}
	require.Equal(t, []queue.Member{{UserID: anna.ID}}, members())

	res := e.do("POST", path, testAdminToken, map[string]any{"user_id": bart.ID, "penalty": 2, "wrap_up_seconds": 15})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	require.Equal(t, fmt.Sprintf("%s/%d", path, bart.ID), res.header.Get("Location"))
	wrap := 15
	require.Equal(t, []queue.Member{{UserID: anna.ID}, {UserID: bart.ID, Penalty: 2, WrapUpSeconds: &wrap}}, members())

	res = e.do("POST", path, testAdminToken, map[string]any{"user_id": bart.ID})
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"user_id"}, fieldsOf(res.problem(t)))
	res = e.do("POST", path, testAdminToken, map[string]any{"user_id": gone.ID})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"user_id"}, fieldsOf(res.problem(t)))
	res = e.do("POST", path, testAdminToken, map[string]any{"user_id": 999, "penalty": 101}, specInvalid)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"penalty", "user_id"}, fieldsOf(res.problem(t)))
	require.Equal(t, http.StatusNotFound, e.do("POST", "/api/v1/queues/999/members", testAdminToken,
		map[string]any{"user_id": bart.ID}).status)

	one := fmt.Sprintf("%s/%d", path, bart.ID)
	res = e.do("PUT", one, testAdminToken, map[string]any{"penalty": 1})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	require.JSONEq(t, fmt.Sprintf(`{"user_id": %d, "penalty": 1}`, bart.ID), string(res.body))
	res = e.do("PUT", one, testAdminToken, map[string]any{"wrap_up_seconds": 4000}, specInvalid)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"wrap_up_seconds"}, fieldsOf(res.problem(t)))
	require.Equal(t, http.StatusNotFound, e.do("PUT", fmt.Sprintf("%s/%d", path, gone.ID), testAdminToken,
		map[string]any{"penalty": 1}).status)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, []queue.Member{{UserID: anna.ID}}, members())
}
