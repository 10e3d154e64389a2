package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestExampleConfigIsTheDefaults(t *testing.T) {
	fromFile, err := loadConfig("../../deploy/centrala.example.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	defaults, err := loadConfig("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile.Security.Allow) == 0 {
		fromFile.Security.Allow = nil // allow: [] and no allow are the same
	}
	if !reflect.DeepEqual(fromFile, defaults) {
		t.Fatalf("deploy/centrala.example.yaml differs from the embedded defaults:\nfile:     %+v\ndefaults: %+v", fromFile, defaults)
	}
	if defaults.Registrar.NonceTTL != 5*time.Minute || defaults.Security.MaxFailures != 10 || defaults.Security.Window != 10*time.Minute {
		t.Fatalf("defaults: %+v", defaults)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("sip:\n  realm: fromfile\n  addr: 127.0.0.1:5070\nregistrar:\n  min_expires: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CENTRALA_SIP_REALM": "fromenv", "CENTRALA_CONFIG": path, "CENTRALA_REDIS_URL": "redis://127.0.0.1:1/0"}
	c, err := loadConfig("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Realm != "fromenv" || c.SIP.Addr != "127.0.0.1:5070" || c.Registrar.MinExpires != 30*time.Second ||
		c.Registrar.Realm != "fromenv" || c.API.Realm != "fromenv" || c.RedisURL != "redis://127.0.0.1:1/0" {
		t.Fatalf("config %+v", c)
	}
}

func TestBadConfigRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key":   "sip:\n  adress: x\n",
		"bad duration":  "registrar:\n  min_expires: soon\n",
		"bad addr":      "sip:\n  addr: nowhere\n",
		"bad log level": "log_level: loud\n",
		"tls half set":  "sip:\n  tls_addr: 127.0.0.1:5061\n",
		"bad limits":    "registrar:\n  min_expires: 2h\n  max_expires: 1h\n",
		"bad country":   "routing:\n  country_code: \"+48\"\n",
		"bad emergency": "routing:\n  emergency: [\"11a\"]\n",
		"prefix alone":  "routing:\n  national_prefix: \"0\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".yaml")
			_ = os.WriteFile(path, []byte(body), 0o600)
			if _, err := loadConfig(path, func(string) string { return "" }); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
