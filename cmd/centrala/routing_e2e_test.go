package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRoutingExplainE2E: on the real binary, a trunk, a number and an outbound rule made
// through the API decide a call at once (explain), with the routing section of the config.
func TestRoutingExplainE2E(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "centrala.yaml")
	if err := os.WriteFile(cfg, []byte("routing:\n  country_code: \"48\"\n  national_length: 9\n  emergency_trunks: [1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, map[string]string{"CENTRALA_CONFIG": cfg})
	uid := s.account("201", "anna-desk", "anna-secret-1")
	if code := s.api("PATCH", fmt.Sprintf("/api/v1/users/%d", uid), map[string]any{"may_dial_any": true,
		"default_clip": "+48221234567"}, nil); code != 200 {
		t.Fatalf("patch user: %d", code)
	}
	var tr struct{ ID int64 }
	if code := s.api("POST", "/api/v1/trunks", map[string]any{"name": "provider", "kind": "ip",
		"host": "127.0.0.1", "allowed_sources": []string{"127.0.0.1/32"}}, &tr); code != 201 {
		t.Fatalf("create trunk: %d", code)
	}
	if code := s.api("POST", "/api/v1/numbers", map[string]any{"number": "+48221234567",
		"destination": map[string]any{"type": "extension", "target": "201"}}, nil); code != 201 {
		t.Fatalf("create number: %d", code)
	}

	type explanation struct {
		RuleID  *int64  `json:"rule_id"`
		Action  string  `json:"action"`
		SIPCode int     `json:"sip_code"`
		Dialled string  `json:"dialled"`
		CLIP    *string `json:"clip"`
		Trunks  []int64 `json:"trunks"`
	}
	explain := func(to string) explanation {
		t.Helper()
		var x explanation
		if code := s.api("POST", "/api/v1/routing/explain", map[string]any{"from": "anna-desk", "to": to}, &x); code != 200 {
			t.Fatalf("explain %s: %d", to, code)
		}
		return x
	}
	if x := explain("601234567"); x.Action != "deny" || x.SIPCode != 403 || x.RuleID != nil {
		t.Fatalf("no rule: %+v", x)
	}
	var rule struct{ ID int64 }
	if code := s.api("POST", "/api/v1/outbound-rules", map[string]any{"name": "mobiles",
		"dest": map[string]any{"pattern": "_[5-8]XXXXXXXX"},
		"action": map[string]any{"kind": "allow", "clip": map[string]any{"mode": "number", "number": "+48221234567"},
			"trunks": []int64{tr.ID}}}, &rule); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	x := explain("601 234 567")
	if x.Action != "allow" || x.RuleID == nil || *x.RuleID != rule.ID || x.CLIP == nil || *x.CLIP != "+48221234567" ||
		len(x.Trunks) != 1 || x.Trunks[0] != tr.ID {
		t.Fatalf("allowed call: %+v", x)
	}
	// No rule matches 112: the configured emergency trunk (the first trunk made) carries it.
	if x := explain("112"); x.Action != "allow" || len(x.Trunks) != 1 || x.Trunks[0] != tr.ID {
		t.Fatalf("emergency: %+v", x)
	}
	// A spoofed CLIP is refused.
	if code := s.api("PUT", fmt.Sprintf("/api/v1/outbound-rules/%d", rule.ID), map[string]any{"name": "spoof",
		"action": map[string]any{"kind": "allow", "clip": map[string]any{"mode": "number", "number": "+48229999999"},
			"trunks": []int64{tr.ID}}}, nil); code != 422 {
		t.Fatalf("spoofed clip: %d", code)
	}
}
