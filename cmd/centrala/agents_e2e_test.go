package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// TestAgentFeatureCodesE2E: an agent's phone dials the feature codes through the binary and
// GET /api/v1/agents/{user_id}/state follows: *45 available, *472 not_ready (lunch, the
// second reason), *48 available, *46 logged_out.
func TestAgentFeatureCodesE2E(t *testing.T) {
	s := start(t, nil)
	var u struct{ ID int64 }
	if code := s.api("POST", "/api/v1/users", map[string]any{"login": "ewa", "password": "ewa-password-1", "role": "agent",
		"first_name": "Ewa", "last_name": "Kowalska", "extension": "301", "is_agent": true}, &u); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	if code := s.api("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID),
		map[string]any{"username": "ewa-desk", "password": "ewa-desk-secret"}, nil); code != 201 {
		t.Fatalf("create sip account: %d", code)
	}
	ph := pbxtest.NewPhone(t, pbxtest.PhoneOptions{Server: s.SIP, Username: "ewa-desk", Password: "ewa-desk-secret", Silent: true})
	if res, err := ph.Register(300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	state := func() (string, string) {
		var st struct{ State, Reason string }
		if code := s.api("GET", fmt.Sprintf("/api/v1/agents/%d/state", u.ID), nil, &st); code != 200 {
			t.Fatalf("agent state: %d", code)
		}
		return st.State, st.Reason
	}
	for _, tc := range []struct{ dial, state, reason string }{
		{"*45", "available", ""}, {"*472", "not_ready", "lunch"}, {"*48", "available", ""}, {"*46", "logged_out", ""},
	} {
		call, err := ph.Dial(tc.dial)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call.WaitEnded(5 * time.Second); err != nil {
			t.Fatalf("%s: %v", tc.dial, err)
		}
		if got, reason := state(); got != tc.state || reason != tc.reason {
			t.Fatalf("after %s: %s %q, want %s %q", tc.dial, got, reason, tc.state, tc.reason)
		}
	}
}
