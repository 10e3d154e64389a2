package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/digest"
)

func TestCreateSIPAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	const secret = "s3cret-for-the-desk-phone"

	res := e.do("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID), testAdminToken,
		map[string]any{"username": "anna-desk", "password": secret, "kind": "desk", "max_contacts": 2, "outbound_blocked": true})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var got map[string]any
	res.decode(t, &got)
	id := int64(got["id"].(float64))
	require.Equal(t, fmt.Sprintf("/api/v1/sip-accounts/%d", id), res.header.Get("Location"))
	require.Equal(t, "anna-desk", got["username"])
	require.EqualValues(t, u.ID, got["user_id"])
	require.Equal(t, "desk", got["kind"])
	require.EqualValues(t, 2, got["max_contacts"])
	require.Equal(t, true, got["outbound_blocked"])

	// The secret is stored only as its two HA1s for the realm, and never answered.
	a, err := e.db.GetSIPAccount(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, testRealm, a.Realm)
	require.Equal(t, digest.HA1(digest.MD5, "anna-desk", testRealm, secret), a.HA1MD5)
	require.Equal(t, digest.HA1(digest.SHA256, "anna-desk", testRealm, secret), a.HA1SHA256)
	for _, body := range [][]byte{res.body, e.do("GET", fmt.Sprintf("/api/v1/sip-accounts/%d", id), testAdminToken, nil).body,
		e.do("GET", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID), testAdminToken, nil).body} {
		s := strings.ToLower(string(body))
		for _, leak := range []string{secret, a.HA1MD5, a.HA1SHA256, "ha1", "password", "secret", "realm"} {
			require.NotContains(t, s, strings.ToLower(leak))
		}
	}
	// The registrar forgets a cached "no such account".
	require.Equal(t, []accountChange{{"anna-desk", false}}, e.accountChanges())

	// Defaults.
	b := e.createSIPAccount(u.ID, map[string]any{"username": "anna-soft", "password": secret})
	require.Equal(t, "softphone", b.Kind)
	require.Equal(t, 3, b.MaxContacts)
	require.False(t, b.OutboundBlocked)

	res = e.do("GET", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var list []store.SIPAccount
	res.decode(t, &list)
	require.Len(t, list, 2)
}

func TestCreateSIPAccountRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.createUser(validUser("anna", "201"))
	bob := e.createUser(validUser("bob", "202"))
	e.createSIPAccount(anna.ID, map[string]any{"username": "shared-name", "password": "long enough"})

	with := func(changes map[string]any) map[string]any {
		b := map[string]any{"username": "bob-desk", "password": "long enough"}
		for k, v := range changes {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		body   any
		mode   specMode
		status int
		fields []string
	}{
		{"username of another user's account", with(map[string]any{"username": "shared-name"}), specUnchecked, 409, []string{"username"}},
		{"username with a space", with(map[string]any{"username": "bob desk"}), specInvalid, 422, []string{"username"}},
		{"username with @", with(map[string]any{"username": "bob@desk"}), specInvalid, 422, []string{"username"}},
		{"username too long", with(map[string]any{"username": strings.Repeat("b", 65)}), specInvalid, 422, []string{"username"}},
		{"username missing", with(map[string]any{"username": nil}), specInvalid, 422, []string{"username"}},
		{"short secret", with(map[string]any{"password": "1234"}), specUnchecked, 422, []string{"password"}},
		{"unknown kind", with(map[string]any{"kind": "fax"}), specInvalid, 422, []string{"kind"}},
		{"no contacts", with(map[string]any{"max_contacts": 0}), specInvalid, 422, []string{"max_contacts"}},
		{"too many contacts", with(map[string]any{"max_contacts": 101}), specInvalid, 422, []string{"max_contacts"}},
		{"several", with(map[string]any{"username": "", "kind": "x", "max_contacts": -1}), specInvalid, 422, []string{"username", "kind", "max_contacts"}},
		{"a HA1 instead of a secret", with(map[string]any{"ha1": "abc"}), specInvalid, 400, []string{"ha1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", bob.ID), testAdminToken, tc.body, tc.mode)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			require.ElementsMatch(t, tc.fields, fieldsOf(res.problem(t)))
		})
	}
	accts, err := e.db.ListSIPAccounts(t.Context(), bob.ID)
	require.NoError(t, err)
	require.Empty(t, accts)
}

func TestPatchSIPAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	a := e.createSIPAccount(u.ID, map[string]any{"username": "anna-desk", "password": "first secret"})
	e.resetAccountChanges()
	path := fmt.Sprintf("/api/v1/sip-accounts/%d", a.ID)

	res := e.do("PATCH", path, testAdminToken, map[string]any{"max_contacts": 5, "outbound_blocked": true})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var got store.SIPAccount
	res.decode(t, &got)
	require.Equal(t, 5, got.MaxContacts)
	require.True(t, got.OutboundBlocked)
	require.Equal(t, "softphone", got.Kind)
	stored, err := e.db.GetSIPAccount(t.Context(), a.ID)
	require.NoError(t, err)
	require.Equal(t, digest.HA1(digest.SHA256, "anna-desk", testRealm, "first secret"), stored.HA1SHA256, "secret unchanged")

	res = e.do("PATCH", path, testAdminToken, map[string]any{"password": "second secret", "kind": "mobile"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	require.NotContains(t, string(res.body), "second secret")
	stored, err = e.db.GetSIPAccount(t.Context(), a.ID)
	require.NoError(t, err)
	require.Equal(t, "mobile", stored.Kind)
	require.Equal(t, digest.HA1(digest.MD5, "anna-desk", testRealm, "second secret"), stored.HA1MD5)
	require.Equal(t, digest.HA1(digest.SHA256, "anna-desk", testRealm, "second secret"), stored.HA1SHA256)
	require.Equal(t, []accountChange{{"anna-desk", false}, {"anna-desk", false}}, e.accountChanges())

	for _, tc := range []struct {
		name   string
		body   map[string]any
		mode   specMode
		status int
		field  string
	}{
		{"rename", map[string]any{"username": "other"}, specInvalid, 400, "username"},
		{"short secret", map[string]any{"password": "x"}, specUnchecked, 422, "password"},
		{"bad kind", map[string]any{"kind": "pager"}, specInvalid, 422, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do("PATCH", path, testAdminToken, tc.body, tc.mode)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			require.Equal(t, []string{tc.field}, fieldsOf(res.problem(t)))
		})
	}
	require.Len(t, e.accountChanges(), 2, "rejected changes tell the registrar nothing")
}

func TestDeleteSIPAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(validUser("anna", "201"))
	a := e.createSIPAccount(u.ID, map[string]any{"username": "anna-desk", "password": "first secret"})
	e.resetAccountChanges()
	path := fmt.Sprintf("/api/v1/sip-accounts/%d", a.ID)

	res := e.do("DELETE", path, testAdminToken, nil)
	require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
	require.Equal(t, []accountChange{{"anna-desk", true}}, e.accountChanges())
	require.Equal(t, http.StatusNotFound, e.do("GET", path, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", path, testAdminToken, nil).status)

	// The username is free again.
	e.createSIPAccount(u.ID, map[string]any{"username": "anna-desk", "password": "first secret"})
}
