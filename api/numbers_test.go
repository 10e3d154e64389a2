package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
)

func validNumber(number, ext string) map[string]any {
	return map[string]any{"number": number, "description": "sales line",
		"destination": map[string]any{"type": "extension", "target": ext}}
}

func (e *env) createNumber(body map[string]any) store.Number {
	e.t.Helper()
	res := e.do("POST", "/api/v1/numbers", testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var n store.Number
	res.decode(e.t, &n)
	return n
}

func TestNumberCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	e.createUser(validUser("bart", "202"))
	tr := e.createTrunk(validTrunk("provider"))

	body := validNumber("+48221234567", "201")
	body["trunk_id"] = tr.ID
	res := e.do("POST", "/api/v1/numbers", testAdminToken, body)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var n store.Number
	res.decode(t, &n)
	require.Equal(t, fmt.Sprintf("/api/v1/numbers/%d", n.ID), res.header.Get("Location"))
	require.Equal(t, "+48221234567", n.Number)
	require.Equal(t, "sales line", n.Description)
	require.NotNil(t, n.TrunkID)
	require.Equal(t, tr.ID, *n.TrunkID)
	require.Equal(t, store.Destination{Type: "extension", Target: "201"}, n.Destination)

	// hangup defaults to 480; no trunk is null.
	h := e.createNumber(map[string]any{"number": "+48221234568", "destination": map[string]any{"type": "hangup"}})
	require.Equal(t, store.Destination{Type: "hangup", Target: "480"}, h.Destination)
	require.Nil(t, h.TrunkID)
	h2 := e.createNumber(map[string]any{"number": "+12025550123", "destination": map[string]any{"type": "hangup", "target": "603"}})
	require.Equal(t, "603", h2.Destination.Target)

	path := fmt.Sprintf("/api/v1/numbers/%d", n.ID)
	res = e.do("GET", path, testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var got store.Number
	res.decode(t, &got)
	require.Equal(t, n.Destination, got.Destination)

	res = e.do("GET", "/api/v1/numbers", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var list []store.Number
	res.decode(t, &list)
	require.Len(t, list, 3)
	require.Equal(t, "+12025550123", list[0].Number) // ordered by number

	// PUT replaces every field: no trunk_id is no trunk.
	res = e.do("PUT", path, testAdminToken, validNumber("+48221234569", "202"))
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &got)
	require.Equal(t, "+48221234569", got.Number)
	require.Nil(t, got.TrunkID)
	require.Equal(t, "202", got.Destination.Target)

	// Deleting the trunk keeps its numbers, without a trunk.
	body = validNumber("+48221234570", "201")
	body["trunk_id"] = tr.ID
	withTrunk := e.createNumber(body)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/trunks/%d", tr.ID), testAdminToken, nil).status)
	res = e.do("GET", fmt.Sprintf("/api/v1/numbers/%d", withTrunk.ID), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	res.decode(t, &got)
	require.Nil(t, got.TrunkID)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("GET", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", path, testAdminToken, validNumber("+48221234569", "202")).status)
	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/numbers/abc", testAdminToken, nil, specInvalid).status)
}

func TestNumberDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	e.createNumber(validNumber("+48221234567", "201"))
	other := e.createNumber(validNumber("+48221234568", "201"))
	res := e.do("POST", "/api/v1/numbers", testAdminToken, validNumber("+48221234567", "201"))
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"number"}, fieldsOf(res.problem(t)))
	res = e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", other.ID), testAdminToken, validNumber("+48221234567", "201"))
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"number"}, fieldsOf(res.problem(t)))
}

func TestNumberValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	gone := e.createUser(validUser("olga", "209"))
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", gone.ID), testAdminToken, nil).status)
	dest := func(typ, target string) map[string]any {
		b := validNumber("+48221234567", "201")
		d := map[string]any{"type": typ}
		if target != "" {
			d["target"] = target
		}
		b["destination"] = d
		return b
	}
	with := func(k string, v any) map[string]any {
		b := validNumber("+48221234567", "201")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name    string
		body    map[string]any
		fields  []string
		message string // of the first field, when set
		mode    specMode
	}{
		{"no number", with("number", nil), []string{"number"}, "", specInvalid},
		{"no plus", with("number", "48221234567"), []string{"number"}, "", specInvalid},
		{"leading zero", with("number", "+0221234567"), []string{"number"}, "", specInvalid},
		{"too short", with("number", "+123456"), []string{"number"}, "", specInvalid},
		{"too long", with("number", "+1234567890123456"), []string{"number"}, "", specInvalid},
		{"long description", with("description", strings.Repeat("d", 101)), []string{"description"}, "", specInvalid},
		{"control in description", with("description", "a\nb"), []string{"description"}, "", specValid},
		{"unknown trunk", with("trunk_id", 999), []string{"trunk_id"}, "", specValid},
		{"no destination", with("destination", nil), []string{"destination"}, "", specInvalid},
		{"unknown type", dest("voicemail", "1"), []string{"destination.type"}, "", specInvalid},
		{"ring group", dest("ring_group", "1"), []string{"destination.target"}, "no ring_group 1", specValid},
		{"ivr", dest("ivr", "1"), []string{"destination.target"}, "no ivr 1", specValid},
		{"queue", dest("queue", "1"), []string{"destination.target"}, "no queue 1", specValid},
		{"external", dest("external", "call me"), []string{"destination.target"}, "", specValid},
		{"announcement", dest("announcement", "1"), []string{"destination.target"}, "no prompt 1", specValid},
		{"schedule", dest("schedule", "1"), []string{"destination.target"}, "no schedule 1", specValid},
		{"ring group id", dest("ring_group", "01"), []string{"destination.target"}, "", specValid},
		{"unknown extension", dest("extension", "299"), []string{"destination.target"}, "no extension 299", specValid},
		{"archived user's extension", dest("extension", "209"), []string{"destination.target"}, "", specValid},
		{"no extension", dest("extension", ""), []string{"destination.target"}, "", specValid},
		{"hangup 399", dest("hangup", "399"), []string{"destination.target"}, "", specValid},
		{"hangup 700", dest("hangup", "700"), []string{"destination.target"}, "", specValid},
		{"hangup text", dest("hangup", "busy"), []string{"destination.target"}, "", specValid},
		{"priority off a queue", func() map[string]any {
			b := dest("extension", "201")
			b["destination"].(map[string]any)["priority"] = 5
			return b
		}(), []string{"destination.priority"}, "only for queue destinations", specValid},
		{"everything", map[string]any{"number": "", "description": "x\x00", "trunk_id": 12345,
			"destination": map[string]any{"type": "hangup", "target": "200"}},
			[]string{"number", "description", "trunk_id", "destination.target"}, "", specInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", "/api/v1/numbers", testAdminToken, tc.body, tc.mode)
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
			p := res.problem(t)
			require.Equal(t, tc.fields, fieldsOf(p))
			if tc.message != "" {
				require.Equal(t, tc.message, p.Errors[0].Message)
			}
		})
	}

	// PUT checks the same.
	n := e.createNumber(validNumber("+48221234567", "201"))
	res := e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", n.ID), testAdminToken, with("trunk_id", 999))
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"trunk_id"}, fieldsOf(res.problem(t)))
	res = e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", n.ID), testAdminToken, dest("queue", "1"))
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"destination.target"}, fieldsOf(res.problem(t)))

	// A queue destination keeps its priority.
	q := e.createObject("/api/v1/queues", validQueue("support"))
	vip := dest("queue", fmt.Sprint(q))
	vip["number"] = "+48221234599"
	vip["destination"].(map[string]any)["priority"] = 40
	created := e.createNumber(vip)
	require.Equal(t, 40, created.Destination.Priority)
	got := e.do("GET", fmt.Sprintf("/api/v1/numbers/%d", created.ID), testAdminToken, nil)
	require.Contains(t, string(got.body), `"priority":40`)
	vip["destination"].(map[string]any)["priority"] = 101
	res = e.do("PUT", fmt.Sprintf("/api/v1/numbers/%d", created.ID), testAdminToken, vip, specInvalid)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"destination.priority"}, fieldsOf(res.problem(t)))

	res = e.do("POST", "/api/v1/numbers", testAdminToken, `{"number":"+48221234567","destination":{"type":"hangup","x":1}}`, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
}

func TestNumberRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, agent := e.userWithToken("agent", "201", "agent")
	_, sup := e.userWithToken("super", "202", "supervisor")
	n := e.createNumber(validNumber("+48221234567", "201"))
	one := fmt.Sprintf("/api/v1/numbers/%d", n.ID)
	body := validNumber("+48221234568", "202")

	for _, rq := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/v1/numbers", nil}, {"GET", one, nil}, {"POST", "/api/v1/numbers", body},
		{"PUT", one, body}, {"DELETE", one, nil}} {
		require.Equal(t, http.StatusForbidden, e.do(rq.method, rq.path, agent, rq.body).status, "%s %s", rq.method, rq.path)
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/numbers", sup, nil).status)
	require.Equal(t, http.StatusOK, e.do("GET", one, sup, nil).status)
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/numbers", sup, body).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", one, sup, body).status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", one, sup, nil).status)
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/numbers", "", nil, specInvalid).status)
	var got store.Number
	e.do("GET", one, testAdminToken, nil).decode(t, &got)
	require.Equal(t, "+48221234567", got.Number)
}
