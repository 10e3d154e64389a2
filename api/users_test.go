package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]any{"login": "anna.nowak", "password": "correct horse", "role": "agent",
		"first_name": "Anna", "last_name": "Nowak", "extension": "201", "email": "anna@example.com",
		"agent_number": "A17", "department": "Sales", "default_clip": "+48221234567",
		"idle_timeout": 900, "phone_type": "desk", "is_agent": true, "may_dial_any": true}
	res := e.do("POST", "/api/v1/users", testAdminToken, body)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)

	var got map[string]any
	res.decode(t, &got)
	for k, v := range body {
		if k == "password" {
			continue
		}
		if n, ok := v.(int); ok {
			require.EqualValues(t, n, got[k], k)
			continue
		}
		require.Equal(t, v, got[k], k)
	}
	require.NotContains(t, got, "password")
	require.NotContains(t, string(res.body), "correct horse")
	require.Nil(t, got["archived_at"])
	id := int64(got["id"].(float64))
	require.Positive(t, id)
	require.Equal(t, fmt.Sprintf("/api/v1/users/%d", id), res.header.Get("Location"))

	// What GET answers is what POST answered; the password was stored hashed.
	again := e.do("GET", res.header.Get("Location"), testAdminToken, nil)
	require.Equal(t, http.StatusOK, again.status)
	require.JSONEq(t, string(res.body), string(again.body))
	_, hash, err := e.db.UserCredentials(t.Context(), "anna.nowak")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$"), hash)

	// Defaults: phone_type softphone.
	u := e.createUser(validUser("bob", "202"))
	require.Equal(t, "softphone", u.PhoneType)
	require.Equal(t, store.RoleAgent, u.Role)
}

// A user with phone_type none needs no extension (CRM-only users, the bootstrap admin), and
// several such users do not collide.
func TestUserWithoutExtension(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, login := range []string{"crm1", "crm2"} {
		b := validUser(login, "")
		b["phone_type"] = "none"
		u := e.createUser(b)
		require.Empty(t, u.Extension)
	}
}

func TestCreateUserRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := validUser("taken", "300")
	first["agent_number"] = "7"
	e.createUser(first)

	with := func(changes map[string]any) map[string]any {
		b := validUser("fresh", "301")
		for k, v := range changes {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name   string
		body   any
		mode   specMode
		status int
		fields []string
	}{
		{"duplicate extension", with(map[string]any{"extension": "300"}), specUnchecked, 409, []string{"extension"}},
		{"duplicate login", with(map[string]any{"login": "taken"}), specUnchecked, 409, []string{"login"}},
		{"duplicate agent number", with(map[string]any{"agent_number": "7"}), specUnchecked, 409, []string{"agent_number"}},
		{"login with a space", with(map[string]any{"login": "anna nowak"}), specInvalid, 422, []string{"login"}},
		{"login missing", with(map[string]any{"login": nil}), specInvalid, 422, []string{"login"}},
		{"short password", with(map[string]any{"password": "short"}), specUnchecked, 422, []string{"password"}},
		{"unknown role", with(map[string]any{"role": "root"}), specInvalid, 422, []string{"role"}},
		{"extension with letters", with(map[string]any{"extension": "20a"}), specInvalid, 422, []string{"extension"}},
		{"extension too long", with(map[string]any{"extension": "1234567"}), specUnchecked, 422, []string{"extension"}},
		{"extension too short", with(map[string]any{"extension": "1"}), specUnchecked, 422, []string{"extension"}},
		{"extension missing for a phone user", with(map[string]any{"extension": nil}), specUnchecked, 422, []string{"extension"}},
		{"email without domain", with(map[string]any{"email": "anna@"}), specUnchecked, 422, []string{"email"}},
		{"email with a display name", with(map[string]any{"email": "Anna <anna@example.com>"}), specUnchecked, 422, []string{"email"}},
		{"negative idle timeout", with(map[string]any{"idle_timeout": -1}), specInvalid, 422, []string{"idle_timeout"}},
		{"unknown phone type", with(map[string]any{"phone_type": "fax"}), specInvalid, 422, []string{"phone_type"}},
		{"empty first name", with(map[string]any{"first_name": " "}), specUnchecked, 422, []string{"first_name"}},
		{"several bad fields", with(map[string]any{"login": "-", "role": "boss", "extension": "x", "password": "1"}),
			specInvalid, 422, []string{"login", "password", "role", "extension"}},
		{"unknown field", with(map[string]any{"nickname": "annie"}), specInvalid, 400, []string{"nickname"}},
		{"wrong JSON type", with(map[string]any{"extension": 301}), specInvalid, 400, []string{"extension"}},
		{"malformed JSON", `{"login": "x",`, specInvalid, 400, nil},
		{"not an object", `[1, 2]`, specInvalid, 400, nil},
		{"two objects", `{} {}`, specInvalid, 400, nil},
		{"empty body", ``, specInvalid, 400, nil},
		{"oversize body", with(map[string]any{"department": strings.Repeat("x", 2<<20)}), specInvalid, 413, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", "/api/v1/users", testAdminToken, tc.body, tc.mode)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			p := res.problem(t)
			require.ElementsMatch(t, tc.fields, fieldsOf(p), "problem: %+v", p)
			for _, f := range p.Errors {
				require.NotEmpty(t, f.Message)
			}
		})
	}
	// Nothing was half-written.
	users, err := e.db.ListUsers(t.Context(), true)
	require.NoError(t, err)
	require.Len(t, users, 1)
}

func TestUnknownIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/users/999", nil},
		{"PUT", "/api/v1/users/999", map[string]any{"login": "x", "role": "agent", "first_name": "X", "last_name": "Y", "extension": "10"}},
		{"PATCH", "/api/v1/users/999", map[string]any{"department": "x"}},
		{"DELETE", "/api/v1/users/999", nil},
		{"POST", "/api/v1/users/999/archive", nil},
		{"PUT", "/api/v1/users/999/password", map[string]any{"password": "long enough"}},
		{"GET", "/api/v1/users/999/sip-accounts", nil},
		{"POST", "/api/v1/users/999/sip-accounts", map[string]any{"username": "x", "password": "long enough"}},
		{"GET", "/api/v1/sip-accounts/999", nil},
		{"PATCH", "/api/v1/sip-accounts/999", map[string]any{"max_contacts": 2}},
		{"DELETE", "/api/v1/sip-accounts/999", nil},
	} {
		t.Run(req.method+" "+req.path, func(t *testing.T) {
			res := e.do(req.method, req.path, testAdminToken, req.body)
			require.Equal(t, http.StatusNotFound, res.status, "body: %s", res.body)
			res.problem(t)
		})
	}
	res := e.do("GET", "/api/v1/users/abc", testAdminToken, nil, specInvalid)
	require.Equal(t, http.StatusNotFound, res.status)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name   string
		header string
		status int
		mode   specMode
	}{
		{"no token", "", 401, specInvalid},
		{"unknown token", "Bearer not-a-token", 401, specValid},
		{"basic auth", "Basic YWRtaW46YWRtaW4=", 401, specInvalid},
		{"admin token", "Bearer " + testAdminToken, 200, specValid},
		{"admin token, scheme in lower case", "bearer " + testAdminToken, 200, specValid},
		{"admin token with a suffix", "Bearer " + testAdminToken + "x", 401, specValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/api/v1/users", nil)
			require.NoError(t, err)
			req = req.WithContext(contextWithMode(req, tc.mode))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := e.client.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, tc.status, res.StatusCode)
			if tc.status == 401 {
				require.True(t, strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer"), res.Header.Get("WWW-Authenticate"))
				require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			}
		})
	}
}

func TestLoginAndPersonalTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))

	res := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "anna", "password": "correct horse"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var lr struct {
		Token     string     `json:"token"`
		ExpiresAt time.Time  `json:"expires_at"`
		User      store.User `json:"user"`
	}
	res.decode(t, &lr)
	require.Len(t, lr.Token, 43) // 32 bytes, base64url without padding
	require.Equal(t, u.ID, lr.User.ID)
	require.WithinDuration(t, time.Now().Add(12*time.Hour), lr.ExpiresAt, time.Minute)

	me := e.do("GET", "/api/v1/me", lr.Token, nil)
	require.Equal(t, http.StatusOK, me.status)
	var got store.User
	me.decode(t, &got)
	require.Equal(t, "anna", got.Login)

	// Wrong password and unknown login are indistinguishable.
	wrong := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "anna", "password": "wrong horse"})
	unknown := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "nobody", "password": "wrong horse"})
	require.Equal(t, http.StatusUnauthorized, wrong.status)
	require.Equal(t, wrong.status, unknown.status)
	require.Equal(t, string(wrong.body), string(unknown.body))
	require.Equal(t, wrong.header.Get("WWW-Authenticate"), unknown.header.Get("WWW-Authenticate"))

	missing := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "anna", "password": ""}, specInvalid)
	require.Equal(t, http.StatusUnprocessableEntity, missing.status)
	require.Equal(t, []string{"password"}, fieldsOf(missing.problem(t)))

	// The token expires after token_ttl.
	e.offset.Store(int64(13 * time.Hour))
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/me", lr.Token, nil).status)
	e.offset.Store(0)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/me", lr.Token, nil).status)

	// A changed password: the old one no longer logs in, the new one does.
	pw := e.do("PUT", fmt.Sprintf("/api/v1/users/%d/password", u.ID), lr.Token, map[string]any{"password": "battery staple"})
	require.Equal(t, http.StatusNoContent, pw.status, "body: %s", pw.body)
	require.Equal(t, http.StatusUnauthorized, e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "anna", "password": "correct horse"}).status)
	e.login("anna", "battery staple")

	// Archived: the token stops working and the user cannot log in.
	arch := e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", u.ID), testAdminToken, nil)
	require.Equal(t, http.StatusOK, arch.status, "body: %s", arch.body)
	after := e.do("GET", "/api/v1/me", lr.Token, nil)
	require.Equal(t, http.StatusUnauthorized, after.status)
	after.problem(t)
	again := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": "anna", "password": "battery staple"})
	require.Equal(t, http.StatusUnauthorized, again.status)
	require.Equal(t, string(wrong.body), string(again.body))
}

func TestAdminTokenMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("GET", "/api/v1/me", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var me store.User
	res.decode(t, &me)
	require.Equal(t, int64(0), me.ID)
	require.Equal(t, store.RoleAdmin, me.Role)
}

func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent, agentTok := e.userWithToken("agent1", "201", store.RoleAgent)
	other, _ := e.userWithToken("agent2", "202", store.RoleAgent)
	sup, supTok := e.userWithToken("sup", "203", store.RoleSupervisor)
	_, adminTok := e.userWithToken("boss", "204", store.RoleAdmin)
	acct := e.createSIPAccount(agent.ID, map[string]any{"username": "agent1-desk", "password": "sip secret 1"})

	newUser := validUser("new", "250")
	cases := []struct {
		method, path string
		body         any
		want         map[string]int // token -> status
	}{
		{"GET", "/api/v1/me", nil, map[string]int{agentTok: 200, supTok: 200, adminTok: 200}},
		{"GET", "/api/v1/users", nil, map[string]int{agentTok: 403, supTok: 200, adminTok: 200}},
		{"GET", fmt.Sprintf("/api/v1/users/%d", agent.ID), nil, map[string]int{agentTok: 403, supTok: 200, adminTok: 200}},
		{"GET", fmt.Sprintf("/api/v1/users/%d/sip-accounts", agent.ID), nil, map[string]int{agentTok: 403, supTok: 200, adminTok: 200}},
		{"GET", fmt.Sprintf("/api/v1/sip-accounts/%d", acct.ID), nil, map[string]int{agentTok: 403, supTok: 200, adminTok: 200}},
		{"GET", "/api/v1/registrations", nil, map[string]int{agentTok: 403, supTok: 200, adminTok: 200}},
		{"GET", "/api/v1/events", nil, map[string]int{agentTok: 403}}, // streams: see TestEvents
		{"POST", "/api/v1/users", newUser, map[string]int{agentTok: 403, supTok: 403}},
		{"PUT", fmt.Sprintf("/api/v1/users/%d", other.ID), map[string]any{"login": "agent2", "role": "admin", "first_name": "A", "last_name": "B", "extension": "202"},
			map[string]int{agentTok: 403, supTok: 403}},
		{"PATCH", fmt.Sprintf("/api/v1/users/%d", agent.ID), map[string]any{"role": "admin"}, map[string]int{agentTok: 403, supTok: 403}},
		{"POST", fmt.Sprintf("/api/v1/users/%d/archive", other.ID), nil, map[string]int{agentTok: 403, supTok: 403}},
		{"DELETE", fmt.Sprintf("/api/v1/users/%d", other.ID), nil, map[string]int{agentTok: 403, supTok: 403}},
		{"POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", agent.ID), map[string]any{"username": "x1", "password": "long enough"}, map[string]int{agentTok: 403, supTok: 403}},
		{"PATCH", fmt.Sprintf("/api/v1/sip-accounts/%d", acct.ID), map[string]any{"max_contacts": 5}, map[string]int{agentTok: 403, supTok: 403}},
		{"DELETE", fmt.Sprintf("/api/v1/sip-accounts/%d", acct.ID), nil, map[string]int{agentTok: 403, supTok: 403}},
		// Passwords: one's own, or anyone's for an admin.
		{"PUT", fmt.Sprintf("/api/v1/users/%d/password", agent.ID), map[string]any{"password": "correct horse"}, map[string]int{agentTok: 204, supTok: 403, adminTok: 204}},
		{"PUT", fmt.Sprintf("/api/v1/users/%d/password", other.ID), map[string]any{"password": "correct horse"}, map[string]int{agentTok: 403, supTok: 403}},
		{"PUT", fmt.Sprintf("/api/v1/users/%d/password", sup.ID), map[string]any{"password": "correct horse"}, map[string]int{supTok: 204, agentTok: 403}},
	}
	names := map[string]string{agentTok: "agent", supTok: "supervisor", adminTok: "admin"}
	for _, tc := range cases {
		for tok, want := range tc.want {
			t.Run(names[tok]+" "+tc.method+" "+tc.path, func(t *testing.T) {
				res := e.do(tc.method, tc.path, tok, tc.body)
				require.Equal(t, want, res.status, "body: %s", res.body)
				if want == 403 {
					res.problem(t)
				}
			})
		}
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	e.createUser(validUser("bob", "202"))
	path := fmt.Sprintf("/api/v1/users/%d", u.ID)

	put := map[string]any{"login": "anna.n", "role": "supervisor", "first_name": "Anna", "last_name": "Kowalska",
		"extension": "211", "department": "Support", "phone_type": "browser", "idle_timeout": 60}
	res := e.do("PUT", path, testAdminToken, put)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var got store.User
	res.decode(t, &got)
	require.Equal(t, "anna.n", got.Login)
	require.Equal(t, store.RoleSupervisor, got.Role)
	require.Equal(t, "Kowalska", got.LastName)
	require.Equal(t, "211", got.Extension)
	require.Equal(t, "browser", got.PhoneType)
	require.Equal(t, 60, got.IdleTimeout)
	require.False(t, got.UpdatedAt.Before(u.UpdatedAt))

	// PUT is a full replacement: omitted optional fields are cleared, phone_type defaults.
	res = e.do("PUT", path, testAdminToken, map[string]any{"login": "anna.n", "role": "agent", "first_name": "Anna", "last_name": "K", "extension": "211"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &got)
	require.Empty(t, got.Department)
	require.Equal(t, "softphone", got.PhoneType)

	// PATCH changes only what it names.
	res = e.do("PATCH", path, testAdminToken, map[string]any{"department": "Sales", "is_agent": true})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &got)
	require.Equal(t, "Sales", got.Department)
	require.True(t, got.IsAgent)
	require.Equal(t, "211", got.Extension)

	for _, tc := range []struct {
		name   string
		method string
		body   map[string]any
		mode   specMode
		status int
		field  string
	}{
		{"PATCH to a taken extension", "PATCH", map[string]any{"extension": "202"}, specUnchecked, 409, "extension"},
		{"PATCH to a taken login", "PATCH", map[string]any{"login": "bob"}, specUnchecked, 409, "login"},
		{"PATCH a bad email", "PATCH", map[string]any{"email": "nope"}, specUnchecked, 422, "email"},
		{"PATCH the password", "PATCH", map[string]any{"password": "new password"}, specInvalid, 400, "password"},
		{"PUT without last name", "PUT", map[string]any{"login": "anna.n", "role": "agent", "first_name": "Anna", "extension": "211"}, specInvalid, 422, "last_name"},
		{"PUT with a password", "PUT", map[string]any{"login": "anna.n", "role": "agent", "first_name": "A", "last_name": "K", "extension": "211", "password": "x"}, specInvalid, 400, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(tc.method, path, testAdminToken, tc.body, tc.mode)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			require.Equal(t, []string{tc.field}, fieldsOf(res.problem(t)))
		})
	}
}

// The last active admin user cannot be demoted, archived or deleted, and nobody archives or
// deletes themselves.
func TestKeepsAnAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	boss, bossTok := e.userWithToken("boss", "201", store.RoleAdmin)
	path := fmt.Sprintf("/api/v1/users/%d", boss.ID)

	res := e.do("PATCH", path, testAdminToken, map[string]any{"role": "agent"})
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"role"}, fieldsOf(res.problem(t)))
	require.Equal(t, http.StatusConflict, e.do("POST", path+"/archive", testAdminToken, nil).status)
	require.Equal(t, http.StatusConflict, e.do("DELETE", path, testAdminToken, nil).status)

	second, _ := e.userWithToken("second", "202", store.RoleAdmin)
	require.Equal(t, http.StatusConflict, e.do("DELETE", path, bossTok, nil).status, "deleting oneself")
	require.Equal(t, http.StatusConflict, e.do("POST", path+"/archive", bossTok, nil).status, "archiving oneself")
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/users/%d", second.ID), bossTok, nil).status)
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createUser(validUser("anna", "201"))
	b := e.createUser(validUser("bob", "202"))
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", b.ID), testAdminToken, nil).status)

	list := func(query string) []int64 {
		res := e.do("GET", "/api/v1/users"+query, testAdminToken, nil)
		require.Equal(t, http.StatusOK, res.status)
		var us []store.User
		res.decode(t, &us)
		var ids []int64
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return ids
	}
	require.Equal(t, []int64{a.ID}, list(""))
	require.Equal(t, []int64{a.ID, b.ID}, list("?archived=true"))
	res := e.do("GET", "/api/v1/users?archived=maybe", testAdminToken, nil, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status)
	res.problem(t)

	// An archived user frees the extension.
	e.createUser(validUser("carl", "202"))
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	e.createSIPAccount(u.ID, map[string]any{"username": "anna-desk", "password": "sip secret 1", "kind": "desk"})
	e.createSIPAccount(u.ID, map[string]any{"username": "anna-mobile", "password": "sip secret 2", "kind": "mobile"})
	e.resetAccountChanges()

	// The SIP side hears of each account once it is gone, so a REGISTER racing the delete
	// cannot put it back into the registrar's credentials cache.
	stillThere := map[string]bool{}
	e.onChange(func(ctx context.Context, c accountChange) {
		_, err := e.db.AuthAccount(ctx, c.Username)
		stillThere[c.Username] = err == nil
	})
	res := e.do("DELETE", fmt.Sprintf("/api/v1/users/%d", u.ID), testAdminToken, nil)
	require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
	require.Empty(t, res.body)
	require.ElementsMatch(t, []accountChange{{"anna-desk", true}, {"anna-mobile", true}}, e.accountChanges())
	e.mu.Lock()
	require.Equal(t, map[string]bool{"anna-desk": false, "anna-mobile": false}, stillThere)
	e.mu.Unlock()

	require.Equal(t, http.StatusNotFound, e.do("GET", fmt.Sprintf("/api/v1/users/%d", u.ID), testAdminToken, nil).status)
	accts, err := e.db.ListAllSIPAccounts(t.Context())
	require.NoError(t, err)
	require.Empty(t, accts)
}

func TestArchiveUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	e.createSIPAccount(u.ID, map[string]any{"username": "anna-desk", "password": "sip secret 1"})
	e.createSIPAccount(u.ID, map[string]any{"username": "anna-soft", "password": "sip secret 2"})
	e.resetAccountChanges()

	res := e.do("POST", fmt.Sprintf("/api/v1/users/%d/archive", u.ID), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var got store.User
	res.decode(t, &got)
	require.NotNil(t, got.ArchivedAt)
	require.ElementsMatch(t, []accountChange{{"anna-desk", true}, {"anna-soft", true}}, e.accountChanges())

	// History stays: the user and the accounts are still there.
	require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/api/v1/users/%d", u.ID), testAdminToken, nil).status)
	acct, err := e.db.AuthAccount(t.Context(), "anna-desk")
	require.NoError(t, err)
	require.True(t, acct.UserArchived)

	// An archived user gets no new SIP account.
	res = e.do("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID), testAdminToken,
		map[string]any{"username": "anna-new", "password": "sip secret 3"}, specUnchecked)
	require.Equal(t, http.StatusConflict, res.status)
	res.problem(t)
}

func TestMuxErrorsAreProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("POST", "/healthz", "", nil, offContract)
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	res.problem(t)
	require.Contains(t, res.header.Get("Allow"), "GET")

	res = e.do("DELETE", "/api/v1/users", testAdminToken, nil, offContract)
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	res.problem(t)

	res = e.do("GET", "/api/v1/nothing-here", testAdminToken, nil, offContract)
	require.Equal(t, http.StatusNotFound, res.status)
	res.problem(t)
}
