package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/routing"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	var c Config
	c.Defaults()
	require.Equal(t, Config{Addr: "127.0.0.1:8080", MinPasswordLength: 8, ExtensionMinDigits: 2,
		ExtensionMaxDigits: 6, TokenTTL: 12 * time.Hour, MaxBodyBytes: 1 << 20, MaxPromptBytes: 20 << 20,
		SystemPromptsDir: "/usr/share/asterisk/sounds/en",
		Routing: RoutingConfig{Numbering: routing.Numbering{InternationalPrefix: "00"},
			Emergency: []string{"112", "911", "999"}, EmergencyTrunks: []int64{}}}, c)
	require.ErrorContains(t, c.Validate(), "realm")
	c.Realm = "r"
	require.NoError(t, c.Validate())

	for name, f := range map[string]func(*Config){
		"bad addr":            func(c *Config) { c.Addr = "8080" },
		"short admin token":   func(c *Config) { c.AdminToken = "secret" },
		"min above max":       func(c *Config) { c.ExtensionMinDigits, c.ExtensionMaxDigits = 5, 3 },
		"short token ttl":     func(c *Config) { c.TokenTTL = time.Second },
		"tiny body limit":     func(c *Config) { c.MaxBodyBytes = 10 },
		"tiny prompt limit":   func(c *Config) { c.MaxPromptBytes = 10 },
		"negative min length": func(c *Config) { c.MinPasswordLength = -1 },
		"bad country code":    func(c *Config) { c.Routing.CountryCode = "0" },
		"bad emergency":       func(c *Config) { c.Routing.Emergency = []string{"1x2"} },
		"bad emergency trunk": func(c *Config) { c.Routing.EmergencyTrunks = []int64{0} },
		"bad emergency clip":  func(c *Config) { c.Routing.EmergencyCLIP = "abc" },
	} {
		t.Run(name, func(t *testing.T) {
			bad := c
			f(&bad)
			require.Error(t, bad.Validate())
		})
	}
}

// Extension lengths follow the configuration.
func TestExtensionDigitsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.ExtensionMinDigits, c.ExtensionMaxDigits = 3, 3 }))
	res := e.do("POST", "/api/v1/users", testAdminToken, validUser("anna", "20"), specUnchecked)
	require.Equal(t, 422, res.status)
	p := res.problem(t)
	require.Equal(t, []string{"extension"}, fieldsOf(p))
	require.Equal(t, "must be 3 digits", p.Errors[0].Message)
	e.createUser(validUser("anna", "201"))
}
