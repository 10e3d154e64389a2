package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const trunkSecret = "pr0vider-S3cret!"

func validTrunk(name string) map[string]any {
	return map[string]any{"name": name, "kind": "register", "host": "sip.provider.example",
		"username": "acct-1001", "password": trunkSecret}
}

func (e *env) createTrunk(body map[string]any) trunkJSON {
	e.t.Helper()
	res := e.do("POST", "/api/v1/trunks", testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var tr trunkJSON
	res.decode(e.t, &tr)
	return tr
}

// noSecret checks that a trunk's password appears in no answer.
func noSecret(t *testing.T, res response, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, string(res.body), s)
	}
	require.NotContains(t, string(res.body), `"password"`)
}

func TestTrunkCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.do("POST", "/api/v1/trunks", testAdminToken, validTrunk("provider"))
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	noSecret(t, res, trunkSecret)
	var got map[string]any
	res.decode(t, &got)
	id := int64(got["id"].(float64))
	require.Equal(t, fmt.Sprintf("/api/v1/trunks/%d", id), res.header.Get("Location"))
	// Defaults.
	require.Equal(t, "provider", got["name"])
	require.Equal(t, "register", got["kind"])
	require.EqualValues(t, 5060, got["port"])
	require.Equal(t, "udp", got["transport"])
	require.EqualValues(t, 3600, got["register_expires"])
	require.Equal(t, []any{}, got["allowed_sources"])
	require.Equal(t, "e164", got["number_format"])
	require.Equal(t, "pai", got["clip_header"])
	require.EqualValues(t, 0, got["max_calls"])
	require.Equal(t, true, got["enabled"])
	require.Equal(t, true, got["password_set"])

	// Stored sealed, opened with the key.
	st, err := e.db.GetTrunk(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, trunkSecret, st.Password)

	path := fmt.Sprintf("/api/v1/trunks/%d", id)
	res = e.do("GET", path, testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	noSecret(t, res, trunkSecret)
	var one trunkJSON
	res.decode(t, &one)
	require.True(t, one.PasswordSet)
	require.Equal(t, "acct-1001", one.Username)

	// An ip trunk on an IP address: allowed_sources defaults to the host.
	ip := e.createTrunk(map[string]any{"name": "peer", "kind": "ip", "host": "192.0.2.10",
		"transport": "tcp", "port": 5080, "number_format": "national", "clip_header": "rpid",
		"max_calls": 30, "enabled": false})
	require.Equal(t, []string{"192.0.2.10"}, ip.AllowedSources)
	require.False(t, ip.PasswordSet)
	require.Equal(t, 5080, ip.Port)
	require.Equal(t, "tcp", ip.Transport)
	require.Equal(t, "national", ip.NumberFormat)
	require.Equal(t, "rpid", ip.CLIPHeader)
	require.Equal(t, 30, ip.MaxCalls)
	require.False(t, ip.Enabled)
	ip2 := e.createTrunk(map[string]any{"name": "peer2", "kind": "ip", "host": "2001:db8::1",
		"allowed_sources": []string{"198.51.100.0/24", "2001:db8::/32", "203.0.113.7"}})
	require.Equal(t, []string{"198.51.100.0/24", "2001:db8::/32", "203.0.113.7"}, ip2.AllowedSources)

	res = e.do("GET", "/api/v1/trunks", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	noSecret(t, res, trunkSecret)
	var list []trunkJSON
	res.decode(t, &list)
	require.Len(t, list, 3)
	require.Equal(t, []string{"provider", "peer", "peer2"}, []string{list[0].Name, list[1].Name, list[2].Name})

	// PUT without a password keeps the stored one; every other field is replaced.
	upd := validTrunk("provider-renamed")
	delete(upd, "password")
	upd["host"] = "198.51.100.20"
	upd["transport"] = "tls"
	upd["max_calls"] = 10
	res = e.do("PUT", path, testAdminToken, upd)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	noSecret(t, res, trunkSecret)
	res.decode(t, &one)
	require.Equal(t, "provider-renamed", one.Name)
	require.Equal(t, "198.51.100.20", one.Host)
	require.Equal(t, "tls", one.Transport)
	require.Equal(t, 10, one.MaxCalls)
	require.True(t, one.PasswordSet)
	st, err = e.db.GetTrunk(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, trunkSecret, st.Password)

	// PUT with a password replaces it.
	upd["password"] = "a-new-secret-42"
	res = e.do("PUT", path, testAdminToken, upd)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	noSecret(t, res, trunkSecret, "a-new-secret-42")
	st, err = e.db.GetTrunk(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, "a-new-secret-42", st.Password)

	// An ip trunk may drop its password with an empty one.
	res = e.do("PUT", fmt.Sprintf("/api/v1/trunks/%d", ip2.ID), testAdminToken,
		map[string]any{"name": "peer2", "kind": "ip", "host": "2001:db8::1", "password": ""})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &one)
	require.False(t, one.PasswordSet)
	require.Equal(t, []string{"2001:db8::1"}, one.AllowedSources)

	res = e.do("DELETE", path, testAdminToken, nil)
	require.Equal(t, http.StatusNoContent, res.status)
	require.Equal(t, http.StatusNotFound, e.do("GET", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", path, testAdminToken, validTrunk("x")).status)
}

func TestTrunkNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		var body any
		if method == "PUT" {
			body = validTrunk("x")
		}
		res := e.do(method, "/api/v1/trunks/999", testAdminToken, body)
		require.Equal(t, http.StatusNotFound, res.status, method)
		res.problem(t)
	}
	res := e.do("GET", "/api/v1/trunks/abc", testAdminToken, nil, specInvalid)
	require.Equal(t, http.StatusNotFound, res.status)
}

func TestTrunkDuplicateName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTrunk(validTrunk("provider"))
	other := e.createTrunk(validTrunk("other"))
	res := e.do("POST", "/api/v1/trunks", testAdminToken, validTrunk("provider"))
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"name"}, fieldsOf(res.problem(t)))
	res = e.do("PUT", fmt.Sprintf("/api/v1/trunks/%d", other.ID), testAdminToken, validTrunk("provider"))
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"name"}, fieldsOf(res.problem(t)))
}

func TestTrunkValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	with := func(k string, v any) map[string]any {
		b := validTrunk("t")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name   string
		body   map[string]any
		fields []string
		mode   specMode // how the OpenAPI document sees the request
	}{
		{"no name", with("name", nil), []string{"name"}, specInvalid},
		{"blank name", with("name", "  "), []string{"name"}, specValid},
		{"long name", with("name", strings.Repeat("n", 65)), []string{"name"}, specInvalid},
		{"control in name", with("name", "a\tb"), []string{"name"}, specValid},
		{"bad kind", with("kind", "peer"), []string{"kind"}, specInvalid},
		{"no kind", with("kind", nil), []string{"kind"}, specInvalid},
		{"no host", with("host", nil), []string{"host"}, specInvalid},
		{"host with port", with("host", "sip.example.com:5060"), []string{"host"}, specValid},
		{"host with space", with("host", "sip example"), []string{"host"}, specValid},
		{"bad ip host", with("host", "300.1.1.1"), []string{"host"}, specValid},
		{"port 0", with("port", 0), []string{"port"}, specInvalid},
		{"port too big", with("port", 65536), []string{"port"}, specInvalid},
		{"bad transport", with("transport", "sctp"), []string{"transport"}, specInvalid},
		{"register without username", with("username", nil), []string{"username"}, specValid},
		{"username with space", with("username", "a b"), []string{"username"}, specValid},
		{"register without password", with("password", nil), []string{"password"}, specValid},
		{"expires too short", with("register_expires", 59), []string{"register_expires"}, specInvalid},
		{"expires too long", with("register_expires", 86401), []string{"register_expires"}, specInvalid},
		{"bad source", with("allowed_sources", []string{"10.0.0.0/8", "not-an-ip"}), []string{"allowed_sources"}, specValid},
		{"bad prefix", with("allowed_sources", []string{"10.0.0.0/33"}), []string{"allowed_sources"}, specValid},
		{"bad number format", with("number_format", "international"), []string{"number_format"}, specInvalid},
		{"bad clip header", with("clip_header", "to"), []string{"clip_header"}, specInvalid},
		{"negative max calls", with("max_calls", -1), []string{"max_calls"}, specInvalid},
		{"everything", map[string]any{"name": "", "kind": "register", "host": "-bad-", "port": 70000,
			"transport": "x", "register_expires": 1, "allowed_sources": []string{"x"}, "number_format": "x",
			"clip_header": "x", "max_calls": -5},
			[]string{"name", "host", "port", "transport", "username", "password", "register_expires",
				"allowed_sources", "number_format", "clip_header", "max_calls"}, specInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", "/api/v1/trunks", testAdminToken, tc.body, tc.mode)
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
			require.Equal(t, tc.fields, fieldsOf(res.problem(t)))
			require.NotContains(t, string(res.body), trunkSecret)
		})
	}

	// PUT validates the same way; switching to register needs a password.
	ip := e.createTrunk(map[string]any{"name": "peer", "kind": "ip", "host": "peer.example.net"})
	require.Equal(t, []string{}, ip.AllowedSources) // a host name has no default source
	res := e.do("PUT", fmt.Sprintf("/api/v1/trunks/%d", ip.ID), testAdminToken,
		map[string]any{"name": "peer", "kind": "register", "host": "peer.example.net", "username": "u"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
	require.Equal(t, []string{"password"}, fieldsOf(res.problem(t)))

	// Malformed bodies are 400.
	res = e.do("POST", "/api/v1/trunks", testAdminToken, `{"name":"x","kind":"ip","host":"h","bogus":1}`, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status)
	res = e.do("POST", "/api/v1/trunks", testAdminToken, `{"name":`, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status)
}

func TestTrunkRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tr := e.createTrunk(validTrunk("provider"))
	_, agent := e.userWithToken("agent", "201", "agent")
	_, sup := e.userWithToken("super", "202", "supervisor")
	one := fmt.Sprintf("/api/v1/trunks/%d", tr.ID)

	for _, tok := range []string{agent} {
		for _, rq := range []struct {
			method, path string
			body         any
		}{{"GET", "/api/v1/trunks", nil}, {"GET", one, nil}, {"POST", "/api/v1/trunks", validTrunk("x")},
			{"PUT", one, validTrunk("x")}, {"DELETE", one, nil}} {
			res := e.do(rq.method, rq.path, tok, rq.body)
			require.Equal(t, http.StatusForbidden, res.status, "%s %s", rq.method, rq.path)
		}
	}
	res := e.do("GET", "/api/v1/trunks", sup, nil)
	require.Equal(t, http.StatusOK, res.status)
	noSecret(t, res, trunkSecret)
	res = e.do("GET", one, sup, nil)
	require.Equal(t, http.StatusOK, res.status)
	noSecret(t, res, trunkSecret)
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/trunks", sup, validTrunk("x")).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", one, sup, validTrunk("x")).status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", one, sup, nil).status)
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/trunks", "bad-token", nil).status)
	// Nothing changed.
	res = e.do("GET", one, testAdminToken, nil)
	var got trunkJSON
	res.decode(t, &got)
	require.Equal(t, "provider", got.Name)
}
