package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
)

var bootstrapLine = regexp.MustCompile(`^centrala: first start: created admin user "admin" with password (\S{20}) ` +
	`\(shown once; change it with PUT /api/v1/users/(\d+)/password\)\n$`)

func TestBootstrap(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	e := newEnv(t, withConfig(func(c *Config) { c.AdminToken = "" }),
		withOption(WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))))

	var out bytes.Buffer
	require.NoError(t, e.srv.Bootstrap(t.Context(), &out))
	m := bootstrapLine.FindStringSubmatch(out.String())
	require.NotNil(t, m, "output: %q", out.String())
	pw := m[1]
	id, _ := strconv.ParseInt(m[2], 10, 64)

	// The password logs in as an admin, who can then work and change it.
	tok := e.login("admin", pw)
	res := e.do("GET", "/api/v1/me", tok, nil)
	var me store.User
	res.decode(t, &me)
	require.Equal(t, id, me.ID)
	require.Equal(t, store.RoleAdmin, me.Role)
	require.Equal(t, "none", me.PhoneType)
	require.Empty(t, me.Extension)
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/users", tok, validUser("anna", "201")).status)
	require.Equal(t, http.StatusNoContent,
		e.do("PUT", fmt.Sprintf("/api/v1/users/%d/password", id), tok, map[string]any{"password": "my own password"}).status)
	e.login("admin", "my own password")

	// Once users exist it does nothing.
	out.Reset()
	require.NoError(t, e.srv.Bootstrap(t.Context(), &out))
	require.Empty(t, out.String())
	n, err := e.db.CountUsers(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Neither the password nor a token ever reaches the log.
	require.NotContains(t, logs.String(), pw)
	require.NotContains(t, logs.String(), tok)
	require.NotContains(t, logs.String(), "my own password")
}

func TestBootstrapWithAdminToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // an admin token is configured
	var out bytes.Buffer
	require.NoError(t, e.srv.Bootstrap(t.Context(), &out))
	require.Empty(t, out.String())
	n, err := e.db.CountUsers(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
}
