package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// A real softphone (baresip) registers with an account made through the API, over UDP and TCP.
// baresip 1.0 gives up on any challenge set with SHA-256 in it, so the server is configured
// the way the README tells operators of such phones: digest_algorithms [MD5].
func TestBaresipRegisters(t *testing.T) {
	pbxtest.Need(t, "baresip", "baresip-core")
	cfg := filepath.Join(t.TempDir(), "centrala.yaml")
	if err := os.WriteFile(cfg, []byte("registrar:\n  digest_algorithms: [MD5]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, map[string]string{"CENTRALA_CONFIG": cfg})
	s.account("201", "agent201", "agent-secret-201")
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			phone := pbxtest.StartBaresip(t, pbxtest.BaresipOptions{Server: s.SIP, Transport: transport, User: "agent201", Password: "agent-secret-201"})
			deadline := time.Now().Add(10 * time.Second)
			for {
				var found *binding
				for _, b := range s.registrations() {
					if b.Username == "agent201" && b.Transport == transport {
						found = &b
					}
				}
				if found != nil {
					if !strings.Contains(strings.ToLower(found.UserAgent), "baresip") || found.ExpiresAt.Before(time.Now().Add(100*time.Second)) {
						t.Fatalf("binding %+v", found)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("baresip did not register over %s in 10s:\n%s", transport, phone.Output())
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	s.stop()
}
