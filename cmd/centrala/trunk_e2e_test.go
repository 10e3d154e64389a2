package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A register trunk: our Centrala registers to a provider (another Centrala with the account
// "acme"), shows the status in the API, and unregisters when the trunk is deleted.
func TestTrunkRegistersToProvider(t *testing.T) {
	provider := start(t, nil)
	provider.account("900", "acme", "provider-secret-1")
	ours := start(t, nil)

	var tr struct{ ID int64 }
	if code := ours.api("POST", "/api/v1/trunks", map[string]any{"name": "acme", "kind": "register",
		"host": "127.0.0.1", "port": mustPort(t, provider.SIP), "transport": "udp", "username": "acme",
		"password": "provider-secret-1", "register_expires": 120}, &tr); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	type status struct {
		State     string    `json:"state"`
		LastCode  int       `json:"last_code"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	var got struct {
		Status *status `json:"status"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Status == nil || got.Status.State != "registered" {
		if time.Now().After(deadline) {
			t.Fatalf("trunk not registered in 10s: %+v", got.Status)
		}
		time.Sleep(100 * time.Millisecond)
		ours.api("GET", fmt.Sprintf("/api/v1/trunks/%d", tr.ID), nil, &got)
	}
	if got.Status.LastCode != 200 || got.Status.ExpiresAt.Before(time.Now().Add(100*time.Second)) {
		t.Fatalf("status %+v", got.Status)
	}
	regs := provider.registrations()
	if len(regs) != 1 || regs[0].Username != "acme" || regs[0].Source != ours.SIP {
		t.Fatalf("provider's bindings %+v, want acme from %s", regs, ours.SIP)
	}
	if code := ours.api("DELETE", fmt.Sprintf("/api/v1/trunks/%d", tr.ID), nil, nil); code != 204 {
		t.Fatalf("delete trunk: %d", code)
	}
	if regs := provider.registrations(); len(regs) != 0 {
		t.Fatalf("no unREGISTER on delete: provider still has %+v", regs)
	}
	ours.stop()
	provider.stop()
}

func mustPort(t *testing.T, hostport string) int {
	var port int
	if _, err := fmt.Sscanf(hostport[len("127.0.0.1:"):], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}

// A register trunk over TLS: the provider's certificate is verified against sip.tls_ca.
func TestTrunkRegistersOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	port := freePort(t)
	provider := start(t, map[string]string{"CENTRALA_SIP_TLS_ADDR": fmt.Sprintf("127.0.0.1:%d", port),
		"CENTRALA_TLS_CERT": cert, "CENTRALA_TLS_KEY": key})
	provider.account("900", "acme", "provider-secret-1")
	ours := start(t, map[string]string{"CENTRALA_TLS_CA": cert})
	var tr struct{ ID int64 }
	if code := ours.api("POST", "/api/v1/trunks", map[string]any{"name": "acme-tls", "kind": "register",
		"host": "127.0.0.1", "port": port, "transport": "tls", "username": "acme",
		"password": "provider-secret-1", "register_expires": 120}, &tr); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		regs := provider.registrations()
		if len(regs) == 1 && regs[0].Transport == "tls" && regs[0].Username == "acme" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS registration at the provider: %+v\n%s", regs, ours.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// without the CA the provider's certificate is refused: no registration
	other := start(t, nil)
	if code := other.api("POST", "/api/v1/trunks", map[string]any{"name": "acme-untrusted", "kind": "register",
		"host": "127.0.0.1", "port": port, "transport": "tls", "username": "acme",
		"password": "provider-secret-1", "register_expires": 120}, &tr); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	// the attempt is made and fails on the certificate; the provider gets nothing
	var got struct {
		Status *struct {
			State      string `json:"state"`
			LastReason string `json:"last_reason"`
		} `json:"status"`
	}
	deadline = time.Now().Add(10 * time.Second)
	for got.Status == nil || got.Status.State != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("untrusted TLS trunk: status %+v", got.Status)
		}
		time.Sleep(100 * time.Millisecond)
		other.api("GET", fmt.Sprintf("/api/v1/trunks/%d", tr.ID), nil, &got)
	}
	if !strings.Contains(got.Status.LastReason, "certificate") {
		t.Fatalf("failure reason %q does not name the certificate", got.Status.LastReason)
	}
	if regs := provider.registrations(); len(regs) != 1 {
		t.Fatalf("an unverified TLS peer was used: %+v", regs)
	}
	ours.stop()
	other.stop()
	provider.stop()
}
