package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// SIPp registers 20 accounts made through the API with digest over UDP and TCP, then
// unregisters them; a password guesser gets its address banned.
func TestSIPpRegisterWithDigest(t *testing.T) {
	pbxtest.Need(t, "sipp", "sip-tester")
	s := start(t, nil)
	var rows [][]string
	uid := s.account("300", "sipp300", "sipp-secret-300")
	for i := 1; i <= 20; i++ {
		user, pass := fmt.Sprintf("sipp%d", 300+i), fmt.Sprintf("sipp-secret-%d", 300+i)
		if code := s.api("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", uid), map[string]any{"username": user, "password": pass}, nil); code != 201 {
			t.Fatalf("sip account %s: %d", user, code)
		}
		rows = append(rows, []string{user, pass})
	}
	// the same local port for registering and unregistering: the Contact names the binding
	port := map[string]int{"udp": pbxtest.FreePort(t), "tcp": pbxtest.FreePort(t)}
	for _, transport := range []string{"udp", "tcp"} {
		res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/register_digest.xml", Target: s.SIP, LocalPort: port[transport],
			Transport: transport, Rows: rows, Calls: len(rows), Rate: 50, Vars: map[string]string{"expires": "300"}})
		if res.Successful != len(rows) || res.Failed != 0 {
			t.Fatalf("%s: %d successful, %d failed\n%s", transport, res.Successful, res.Failed, res)
		}
	}
	regs := s.registrations()
	per := map[string]int{}
	for _, b := range regs {
		per[b.Username+"/"+b.Transport]++
		if !strings.HasPrefix(b.UserAgent, "SIPp") {
			t.Fatalf("binding %+v", b)
		}
	}
	for _, r := range rows {
		if per[r[0]+"/udp"] != 1 || per[r[0]+"/tcp"] != 1 {
			t.Fatalf("%s bindings by transport: udp %d tcp %d", r[0], per[r[0]+"/udp"], per[r[0]+"/tcp"])
		}
	}
	for _, transport := range []string{"udp", "tcp"} {
		res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/unregister_digest.xml", Target: s.SIP, LocalPort: port[transport],
			Transport: transport, Rows: rows, Calls: len(rows), Rate: 50})
		if res.Successful != len(rows) {
			t.Fatalf("unregister over %s: %s", transport, res)
		}
	}
	if regs := s.registrations(); len(regs) != 0 {
		t.Fatalf("left after unregistering: %+v", regs)
	}

	// a guesser: after 10 failures its address is banned and answered no more
	guess := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/register_wrong_password.xml", Target: s.SIP,
		Transport: "udp", Rows: rows, Calls: 14, Rate: 5, Limit: 1, Timeout: 60 * time.Second})
	if silent := guess.Count("", "Timeout"); silent < 3 {
		t.Fatalf("banned guesser still answered (%d silent calls)\n%s", silent, guess)
	}
	metrics, err := httpGet(s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"centrala_sip_blocked_sources 1", "centrala_sip_source_bans_total 1"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	if !strings.Contains(s.Stderr(), "source banned after repeated authentication failures") {
		t.Fatal("ban not logged")
	}
	s.stop()
}
