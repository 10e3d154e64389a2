package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

func ext(e string) map[string]any { return map[string]any{"type": "extension", "target": e} }

func to(typ string, id int64) map[string]any {
	return map[string]any{"type": typ, "target": formatID(id)}
}

func hangup(code string) map[string]any { return map[string]any{"type": "hangup", "target": code} }

// createObject POSTs an IVR, ring group or schedule and returns its id.
func (e *env) createObject(path string, body map[string]any) int64 {
	e.t.Helper()
	res := e.do("POST", path, testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var v struct{ ID int64 }
	res.decode(e.t, &v)
	require.Equal(e.t, fmt.Sprintf("%s/%d", path, v.ID), res.header.Get("Location"))
	return v.ID
}

// roundTrip checks POST, GET, the listing, PUT and DELETE of one kind of inbound object:
// every field comes back as sent.
func roundTrip(t *testing.T, e *env, path string, created, replaced map[string]any) {
	t.Helper()
	id := e.createObject(path, created)
	one := fmt.Sprintf("%s/%d", path, id)
	same := func(want map[string]any, res response) {
		t.Helper()
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var got map[string]any
		res.decode(t, &got)
		require.Equal(t, float64(id), got["id"])
		require.NotEmpty(t, got["created_at"])
		require.NotEmpty(t, got["updated_at"])
		for k, v := range want {
			wantJSON, _ := json.Marshal(v)
			gotJSON, _ := json.Marshal(got[k])
			require.JSONEq(t, string(wantJSON), string(gotJSON), "field %s", k)
		}
	}
	same(created, e.do("GET", one, testAdminToken, nil))
	res := e.do("GET", path, testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var list []map[string]any
	res.decode(t, &list)
	require.Len(t, list, 1)
	require.Equal(t, created["name"], list[0]["name"])
	same(replaced, e.do("PUT", one, testAdminToken, replaced))
	same(replaced, e.do("GET", one, testAdminToken, nil))

	require.Equal(t, http.StatusNoContent, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("GET", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", one, testAdminToken, replaced).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("GET", path+"/abc", testAdminToken, nil, specInvalid).status)
	res = e.do("GET", path, testAdminToken, nil)
	require.Equal(t, "[]\n", string(res.body))
}

func TestIVRCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	e.createUser(validUser("bart", "202"))
	p := e.uploadPrompt("menu", wavFile(1, 8000, 1, 16, 800))
	roundTrip(t, e, "/api/v1/ivrs",
		map[string]any{"name": "main menu", "greeting": "system:welcome", "menu": p.Ref,
			"invalid_prompt": "system:digits/1", "no_input_prompt": "system:closed",
			"choices": []any{
				map[string]any{"digits": "1", "destination": ext("201")},
				map[string]any{"digits": "2", "destination": map[string]any{"type": "announcement", "target": "system:closed",
					"then": map[string]any{"type": "external", "target": "+48600100200", "present": "did"}}},
				map[string]any{"digits": "0#", "destination": map[string]any{"type": "back", "target": ""}},
			},
			"dial_extensions": true, "max_digits": 3, "inter_digit_ms": 1500, "no_input_ms": 4000, "retries": 1,
			"no_input": hangup("480"), "max_retries": ext("202"), "answer": "early_media"},
		map[string]any{"name": "night menu", "menu": "system:closed", "choices": []any{},
			"dial_extensions": false})
}

func TestRingGroupCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	e.createUser(validUser("bart", "202"))
	roundTrip(t, e, "/api/v1/ring-groups",
		map[string]any{"name": "sales", "strategy": "round_robin",
			"members":        []any{map[string]any{"extension": "201", "ring_seconds": 10}, map[string]any{"extension": "202"}},
			"member_seconds": 15, "group_seconds": 45, "fallback": hangup("486")},
		map[string]any{"name": "support", "strategy": "ring_all", "members": []any{map[string]any{"extension": "202"}}})
}

func TestScheduleCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	roundTrip(t, e, "/api/v1/schedules",
		map[string]any{"name": "office", "time_zone": "Europe/Warsaw",
			"hours":      []any{map[string]any{"days": []any{"mon", "tue", "wed", "thu", "fri"}, "from": "08:00", "to": "16:00"}},
			"holidays":   []any{map[string]any{"date": "12-25", "name": "Christmas"}, map[string]any{"date": "2026-11-11", "yearly": true}},
			"exceptions": []any{map[string]any{"date": "2026-12-24", "name": "Eve", "hours": []any{"08:00-12:00"}}},
			"caller_rules": []any{map[string]any{"name": "vip", "numbers": []any{"+48600100200"}, "prefixes": []any{"+4860"},
				"destination": ext("201")}},
			"open": ext("201"), "closed": hangup("480"), "holiday": hangup("603")},
		map[string]any{"name": "always", "time_zone": "", "hours": []any{}, "holidays": []any{}, "exceptions": []any{},
			"caller_rules": []any{}, "open": ext("201"), "closed": ext("201")})
}

// Bad references and values are 422 naming the field; nothing is written.
func TestInboundValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	menu := func(choices ...any) map[string]any {
		return map[string]any{"name": "menu", "menu": "system:welcome", "choices": append([]any{}, choices...)}
	}
	group := func(members ...any) map[string]any {
		return map[string]any{"name": "group", "strategy": "linear", "members": append([]any{}, members...)}
	}
	schedule := func(k string, v any) map[string]any {
		b := map[string]any{"name": "schedule", "time_zone": "Europe/Warsaw", "open": ext("201"), "closed": hangup("480")}
		b[k] = v
		return b
	}
	cases := []struct {
		name, path string
		body       map[string]any
		fields     []string
		message    string // of the first field, when set
		mode       specMode
	}{
		{"number to a missing ivr", "/api/v1/numbers", map[string]any{"number": "+48221234567",
			"destination": to("ivr", 999)}, []string{"destination.target"}, "no ivr 999", specValid},
		{"number to a queue", "/api/v1/numbers", map[string]any{"number": "+48221234567",
			"destination": to("queue", 1)}, []string{"destination.target"}, "no queue 1", specValid},
		{"number to a missing prompt", "/api/v1/numbers", map[string]any{"number": "+48221234567",
			"destination": map[string]any{"type": "announcement", "target": "77", "then": to("schedule", 5)}},
			[]string{"destination.target", "destination.then.target"}, "no prompt 77", specValid},
		{"present on an extension", "/api/v1/numbers", map[string]any{"number": "+48221234567",
			"destination": map[string]any{"type": "extension", "target": "201", "present": "did"}},
			[]string{"destination.present"}, "", specValid},
		{"back from a number", "/api/v1/numbers", map[string]any{"number": "+48221234567",
			"destination": map[string]any{"type": "back"}}, []string{"destination.type"}, "", specValid},
		{"choice to a missing ring group", "/api/v1/ivrs", menu(map[string]any{"digits": "1", "destination": to("ring_group", 42)}),
			[]string{"choices[0].destination.target"}, "no ring_group 42", specValid},
		{"choice digits", "/api/v1/ivrs", menu(map[string]any{"digits": "1#2", "destination": ext("201")}),
			[]string{"choices[0].digits"}, "", specInvalid},
		{"missing menu prompt", "/api/v1/ivrs", map[string]any{"name": "menu", "menu": "system:nope"},
			[]string{"menu"}, "no prompt system:nope", specValid},
		{"no name", "/api/v1/ivrs", map[string]any{"name": " ", "menu": "system:welcome"},
			[]string{"name"}, "", specValid},
		{"member not an extension", "/api/v1/ring-groups", group(map[string]any{"extension": "299"}),
			[]string{"members[0].extension"}, "no extension 299", specValid},
		{"no members", "/api/v1/ring-groups", group(), []string{"members"}, "", specValid},
		{"bad time zone", "/api/v1/schedules", schedule("time_zone", "Europe/Atlantis"),
			[]string{"time_zone"}, `unknown time zone "Europe/Atlantis"`, specValid},
		{"bad hours", "/api/v1/schedules", schedule("hours", []any{map[string]any{"days": []any{"mon"}, "from": "25:00", "to": "16:00"}}),
			[]string{"hours[0].from"}, "", specValid},
		{"closed to a missing schedule", "/api/v1/schedules", schedule("closed", to("schedule", 9)),
			[]string{"closed.target"}, "no schedule 9", specValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", tc.path, testAdminToken, tc.body, tc.mode)
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
			p := res.problem(t)
			require.Equal(t, tc.fields, fieldsOf(p))
			if tc.message != "" {
				require.Equal(t, tc.message, p.Errors[0].Message)
			}
		})
	}
	for _, path := range []string{"/api/v1/numbers", "/api/v1/ivrs", "/api/v1/ring-groups", "/api/v1/schedules"} {
		require.Equal(t, "[]\n", string(e.do("GET", path, testAdminToken, nil).body), "nothing written to %s", path)
	}

	// PUT checks the same.
	id := e.createObject("/api/v1/ivrs", menu())
	res := e.do("PUT", fmt.Sprintf("/api/v1/ivrs/%d", id), testAdminToken,
		menu(map[string]any{"digits": "1", "destination": to("ivr", 999)}))
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"choices[0].destination.target"}, fieldsOf(res.problem(t)))

	// Syntax stays 400: an id in the body, an unknown or mistyped field.
	for _, body := range []string{
		`{"id":5,"name":"x","menu":"system:welcome"}`,
		`{"name":"x","menu":"system:welcome","colour":"red"}`,
		`{"name":"x","menu":"system:welcome","choices":[{"digits":"1","destination":{"type":"hangup","target":480}}]}`,
	} {
		res := e.do("POST", "/api/v1/ivrs", testAdminToken, body, specInvalid)
		require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
	}
	res = e.do("POST", "/api/v1/ivrs", testAdminToken,
		`{"name":"x","menu":"system:welcome","choices":[{"digits":"1","destination":{"type":"hangup","target":480}}]}`, specInvalid)
	require.Equal(t, []string{"choices.destination.target"}, fieldsOf(res.problem(t)))
	res = e.do("POST", "/api/v1/ivrs", testAdminToken, `{"id":5,"name":"x","menu":"system:welcome"}`, specInvalid)
	require.Equal(t, []string{"id"}, fieldsOf(res.problem(t)))

	// Names are unique per kind.
	res = e.do("POST", "/api/v1/ivrs", testAdminToken, menu())
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"name"}, fieldsOf(res.problem(t)))
	e.createObject("/api/v1/schedules", schedule("name", "menu"))
}

// A change that would break other objects is 409 naming them, and changes nothing.
func TestInboundConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	ivr := e.createObject("/api/v1/ivrs", map[string]any{"name": "main", "menu": "system:welcome",
		"choices": []any{map[string]any{"digits": "1", "destination": ext("201")}}})
	num := e.createNumber(map[string]any{"number": "+48221234567", "destination": to("ivr", ivr)})

	res := e.do("DELETE", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, nil)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	p := res.problem(t)
	require.Equal(t, []routing.GraphError{{Object: "number +48221234567", Field: "destination.target",
		Message: fmt.Sprintf("no ivr %d", ivr)}}, p.Conflicts)
	require.Equal(t, fmt.Sprintf("deleting ivr %d would break other inbound routing: number +48221234567: destination.target: no ivr %d", ivr, ivr), p.Detail)
	require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, nil).status)

	// The user whose extension the menu offers cannot go, nor lose the extension.
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"POST", fmt.Sprintf("/api/v1/users/%d/archive", anna.ID), nil},
		{"DELETE", fmt.Sprintf("/api/v1/users/%d", anna.ID), nil},
		{"PATCH", fmt.Sprintf("/api/v1/users/%d", anna.ID), map[string]any{"extension": "209"}},
	} {
		res := e.do(rq.method, rq.path, testAdminToken, rq.body)
		require.Equal(t, http.StatusConflict, res.status, "%s %s: %s", rq.method, rq.path, res.body)
		p := res.problem(t)
		require.Equal(t, []routing.GraphError{{Object: fmt.Sprintf("ivr %d", ivr), Field: "choices[0].destination.target",
			Message: "no extension 201"}}, p.Conflicts, "%s %s", rq.method, rq.path)
	}
	var u store.User
	e.do("GET", fmt.Sprintf("/api/v1/users/%d", anna.ID), testAdminToken, nil).decode(t, &u)
	require.Equal(t, "201", u.Extension)
	require.Nil(t, u.ArchivedAt)

	// A loop with no way out: the menu and a schedule send callers to each other, and
	// dialling an extension is the menu's only way out. Archiving the last user with an
	// extension closes it.
	sched := e.createObject("/api/v1/schedules", map[string]any{"name": "hours", "open": hangup("480"), "closed": hangup("480")})
	loop := map[string]any{"name": "main", "menu": "system:welcome", "dial_extensions": true,
		"choices":  []any{map[string]any{"digits": "1", "destination": to("schedule", sched)}},
		"no_input": to("schedule", sched), "invalid": to("schedule", sched)}
	res = e.do("PUT", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, loop)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res = e.do("PUT", fmt.Sprintf("/api/v1/schedules/%d", sched), testAdminToken,
		map[string]any{"name": "hours", "open": to("ivr", ivr), "closed": to("ivr", ivr)})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res = e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", anna.ID), testAdminToken, nil)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	p = res.problem(t)
	require.NotEmpty(t, p.Conflicts)
	for _, c := range p.Conflicts {
		require.Contains(t, c.Message, "no way out", "%s", c)
	}
	require.Contains(t, p.Detail, fmt.Sprintf("ivr %d -> schedule %d -> ivr %d", ivr, sched, ivr))

	// Closing the loop from inside is 422 for the object written (the field that leads into
	// it), with what else it breaks.
	loop["dial_extensions"] = false
	res = e.do("PUT", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, loop)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	p = res.problem(t)
	require.Equal(t, []string{"choices[0].destination.target"}, fieldsOf(p))
	require.Contains(t, p.Errors[0].Message, "no way out")
	var objects []string
	for _, c := range p.Conflicts {
		objects = append(objects, c.Object)
	}
	require.ElementsMatch(t, []string{"number +48221234567", fmt.Sprintf("schedule %d", sched)}, objects)

	// Deleting the number is always possible: nothing leads to a number.
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/numbers/%d", num.ID), testAdminToken, nil).status)
}

// Objects stored invalid (by an older version, or behind the API's back) are left out of
// the graph and do not block other changes; writing them again must fix them.
func TestInboundBrokenStoredObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	ctx := t.Context()
	// A number to an extension nobody has, as an older version could leave it.
	bad, err := e.db.CreateNumber(ctx, store.Number{Number: "+48221234567", Destination: store.Destination{Type: "extension", Target: "299"}})
	require.NoError(t, err)
	require.NoError(t, e.srv.RebuildInbound(ctx))
	require.NotNil(t, e.srv.Inbound().Load())
	require.Empty(t, e.srv.Inbound().Load().Numbers())

	// Others can still be written.
	e.createNumber(validNumber("+48221234568", "201"))
	require.Equal(t, []string{"+48221234568"}, e.srv.Inbound().Load().Numbers())
	res := e.do("POST", "/api/v1/inbound/simulate", testAdminToken, map[string]any{"number": "+48221234567"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, "left out of inbound routing until fixed: destination.target: no extension 299",
		res.problem(t).Errors[0].Message)

	// Writing it again as it is: 422; fixed: back in the graph.
	res = e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", bad.ID), testAdminToken, validNumber("+48221234567", "299"))
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	res = e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", bad.ID), testAdminToken, validNumber("+48221234567", "201"))
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	require.Equal(t, []string{"+48221234567", "+48221234568"}, e.srv.Inbound().Load().Numbers())
}

// simulate walks a small scheme: a schedule, an IVR behind it, a ring group behind that.
func TestSimulate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	e.createUser(validUser("bart", "202"))
	_, sup := e.userWithToken("super", "203", store.RoleSupervisor)
	_, agent := e.userWithToken("agent", "204", store.RoleAgent)
	group := e.createObject("/api/v1/ring-groups", map[string]any{"name": "sales", "strategy": "ring_all",
		"members": []any{map[string]any{"extension": "201"}, map[string]any{"extension": "202"}}})
	menu := e.createObject("/api/v1/ivrs", map[string]any{"name": "main", "greeting": "system:welcome", "menu": "system:digits/1",
		"choices": []any{
			map[string]any{"digits": "1", "destination": to("ring_group", group)},
			map[string]any{"digits": "2", "destination": ext("202")},
		}})
	sched := e.createObject("/api/v1/schedules", map[string]any{"name": "office", "time_zone": "Europe/Warsaw",
		"hours":        []any{map[string]any{"days": []any{"mon", "tue", "wed", "thu", "fri"}, "from": "08:00", "to": "16:00"}},
		"caller_rules": []any{map[string]any{"name": "vip", "numbers": []any{"+48600100200"}, "destination": ext("201")}},
		"open":         to("ivr", menu),
		"closed":       map[string]any{"type": "announcement", "target": "system:closed"}})
	e.createNumber(map[string]any{"number": "+48221234567", "destination": to("schedule", sched)})

	simulate := func(token string, body map[string]any) routing.Simulation {
		t.Helper()
		res := e.do("POST", "/api/v1/inbound/simulate", token, body)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var sim routing.Simulation
		res.decode(t, &sim)
		return sim
	}
	hops := func(sim routing.Simulation) string {
		var parts []string
		for _, h := range sim.Path {
			s := h.Type + " " + h.Target
			if h.Branch != "" {
				s += " " + h.Branch
			}
			if h.Digits != "" {
				s += " " + h.Digits
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", ")
	}

	// Monday 10:00 in Warsaw, pressing 1: the ring group.
	sim := simulate(testAdminToken, map[string]any{"number": "+48221234567", "caller": "+48500600700",
		"at": "2026-03-02T10:00:00+01:00", "digits": "1"})
	require.Equal(t, fmt.Sprintf("number +48221234567, schedule %d open, ivr %d choice 1, ring_group %d", sched, menu, group), hops(sim))
	require.Equal(t, routing.Destination{Type: routing.DestRingGroup, Target: formatID(group)}, sim.Destination)
	require.Equal(t, []string{"system:welcome", "system:digits/1"}, sim.Prompts)

	// A supervisor may ask too; pressing 2 reaches bart.
	sim = simulate(sup, map[string]any{"number": "+48221234567", "at": "2026-03-02T10:00:00+01:00", "digits": "2"})
	require.Equal(t, routing.Destination{Type: routing.DestExtension, Target: "202"}, sim.Destination)

	// Sunday: closed, the announcement, then hang up.
	sim = simulate(testAdminToken, map[string]any{"number": "+48221234567", "at": "2026-03-01T10:00:00+01:00"})
	require.Equal(t, routing.DestHangup, sim.Destination.Type)
	require.Equal(t, []string{"system:closed"}, sim.Prompts)
	require.Equal(t, "closed", sim.Path[1].Branch)

	// The VIP goes straight to anna whatever the time.
	sim = simulate(testAdminToken, map[string]any{"number": "+48221234567", "caller": "+48600100200",
		"at": "2026-03-01T10:00:00+01:00"})
	require.Equal(t, routing.Destination{Type: routing.DestExtension, Target: "201"}, sim.Destination)

	// Bad requests name the field.
	for _, tc := range []struct {
		body  map[string]any
		field string
		mode  specMode
	}{
		{map[string]any{"number": "+48221234599"}, "number", specValid},
		{map[string]any{"number": "0221234567"}, "number", specInvalid},
		{map[string]any{"number": "+48221234567", "at": "yesterday"}, "at", specInvalid},
		{map[string]any{"number": "+48221234567", "digits": "1a"}, "digits", specInvalid},
		{map[string]any{"number": "+48221234567", "caller": "a b"}, "caller", specInvalid},
	} {
		res := e.do("POST", "/api/v1/inbound/simulate", testAdminToken, tc.body, tc.mode)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
		require.Equal(t, []string{tc.field}, fieldsOf(res.problem(t)))
	}
	res := e.do("POST", "/api/v1/inbound/simulate", testAdminToken, map[string]any{"number": "+48221234599"})
	require.Equal(t, "not a project number", res.problem(t).Errors[0].Message)
	require.Equal(t, http.StatusForbidden,
		e.do("POST", "/api/v1/inbound/simulate", agent, map[string]any{"number": "+48221234567"}).status)
}

// Roles: supervisors read inbound objects, only admins write them; agents get nothing.
func TestInboundRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, sup := e.userWithToken("super", "202", store.RoleSupervisor)
	_, agent := e.userWithToken("agent", "203", store.RoleAgent)
	bodies := map[string]map[string]any{
		"/api/v1/ivrs":        {"name": "m", "menu": "system:welcome"},
		"/api/v1/ring-groups": {"name": "g", "strategy": "linear", "members": []any{map[string]any{"extension": "202"}}},
		"/api/v1/schedules":   {"name": "s", "open": hangup("480"), "closed": hangup("480")},
	}
	for path, body := range bodies {
		id := e.createObject(path, body)
		one := fmt.Sprintf("%s/%d", path, id)
		for _, tok := range []string{sup, testAdminToken} {
			require.Equal(t, http.StatusOK, e.do("GET", path, tok, nil).status, path)
			require.Equal(t, http.StatusOK, e.do("GET", one, tok, nil).status, one)
		}
		require.Equal(t, http.StatusForbidden, e.do("GET", path, agent, nil).status, path)
		require.Equal(t, http.StatusForbidden, e.do("GET", one, agent, nil).status, one)
		for _, tok := range []string{sup, agent} {
			require.Equal(t, http.StatusForbidden, e.do("POST", path, tok, body).status, path)
			require.Equal(t, http.StatusForbidden, e.do("PUT", one, tok, body).status, one)
			require.Equal(t, http.StatusForbidden, e.do("DELETE", one, tok, nil).status, one)
		}
		require.Equal(t, http.StatusUnauthorized, e.do("GET", path, "", nil, specInvalid).status)
	}
}

// Changes take effect in the graph the call engine reads at once.
func TestInboundGraphFollowsChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	g := e.srv.Inbound().Load()
	require.NotNil(t, g)
	require.Empty(t, g.Numbers())
	n := e.createNumber(validNumber("+48221234567", "201"))
	d, ok := e.srv.Inbound().Load().Number("+48221234567")
	require.True(t, ok)
	require.Equal(t, routing.Destination{Type: routing.DestExtension, Target: "201"}, d)
	ivr := e.createObject("/api/v1/ivrs", map[string]any{"name": "m", "menu": "system:welcome"})
	res := e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", n.ID), testAdminToken,
		map[string]any{"number": "+48221234567", "destination": to("ivr", ivr)})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	d, _ = e.srv.Inbound().Load().Number("+48221234567")
	require.Equal(t, routing.DestIVR, d.Type)
	_, ok = e.srv.Inbound().Load().IVR(ivr)
	require.True(t, ok)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/numbers/%d", n.ID), testAdminToken, nil).status)
	require.Empty(t, e.srv.Inbound().Load().Numbers())
}
