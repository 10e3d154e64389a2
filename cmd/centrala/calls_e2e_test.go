package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// cdrJSON is a call record as GET /api/v1/cdrs answers it.
type cdrJSON struct {
	ID          int64   `json:"id"`
	Direction   string  `json:"direction"`
	Caller      string  `json:"caller"`
	Callee      string  `json:"callee"`
	DID         string  `json:"did"`
	CLIP        *string `json:"clip"`
	TrunkID     *int64  `json:"trunk_id"`
	UserID      *int64  `json:"user_id"`
	Disposition *string `json:"disposition"`
	SIPCode     int     `json:"sip_code"`
	HangupBy    *string `json:"hangup_by"`
	BillsecS    int64   `json:"billsec_s"`
	AnsweredAt  *string `json:"answered_at"`
	EndedAt     *string `json:"ended_at"`
	Legs        []struct {
		Kind    string `json:"kind"`
		Peer    string `json:"peer"`
		SIPCode int    `json:"sip_code"`
	} `json:"legs"`
}

// lastCDR waits for the newest call record to end and returns it.
func (s *server) lastCDR() cdrJSON {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var recs []cdrJSON
		if code := s.api("GET", "/api/v1/cdrs?limit=1", nil, &recs); code != 200 {
			s.t.Fatalf("cdrs: %d", code)
		}
		if len(recs) == 1 && recs[0].EndedAt != nil {
			return recs[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no ended call record: %+v", recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantMetrics waits for each series of /metrics to read its value (waitMetric) and reports
// those that do not.
func (s *server) wantMetrics(want map[string]float64) {
	s.t.Helper()
	for series, v := range want {
		if got := s.waitMetric(series, v); got != v {
			s.t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
}

// ipTrunk creates the ip trunk "provider" whose calls come from host (its allowed source)
// and go to host:port, E.164 numbers, CLIP in P-Asserted-Identity; it returns its id.
func (s *server) ipTrunk(host string, port int) int64 {
	s.t.Helper()
	var tr struct{ ID int64 }
	if code := s.api("POST", "/api/v1/trunks", map[string]any{"name": "provider", "kind": "ip", "host": host,
		"port": port, "allowed_sources": []string{host + "/32"}, "number_format": "e164", "clip_header": "pai"}, &tr); code != 201 {
		s.t.Fatalf("create trunk: %d", code)
	}
	return tr.ID
}

// waitMetric waits until a sample of /metrics reads want (counters and gauges are updated
// just after the call record the test waited for) and returns what it read last.
func (s *server) waitMetric(series string, want float64) float64 {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := s.metric(series)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads one sample of /metrics (0 when absent).
func (s *server) metric(series string) float64 {
	s.t.Helper()
	body, err := httpGet(s.HTTP + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// callee registers a SIP account from a local port with SIPp and starts a SIPp UAS
// (scenario) answering there. Calls reuse the port: one binding per account.
func (s *server) callee(username, password, scenario string, calls int, vars map[string]string) *pbxtest.SIPp {
	s.t.Helper()
	if s.ports == nil {
		s.ports = map[string]int{}
	}
	port, ok := s.ports[username]
	if !ok {
		port = pbxtest.FreePort(s.t)
		s.ports[username] = port
	}
	reg := pbxtest.RunSIPp(s.t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/register_digest.xml", Target: s.SIP,
		LocalPort: port, Rows: [][]string{{username, password}}, Calls: 1, Vars: map[string]string{"expires": "300"}})
	if reg.Successful != 1 {
		s.t.Fatalf("register %s: %s", username, reg)
	}
	return pbxtest.StartSIPp(s.t, pbxtest.SIPpOptions{Scenario: scenario, LocalPort: port, Calls: calls,
		Vars: vars, RecvTimeout: 20 * time.Second, Timeout: 60 * time.Second})
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "centrala.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSIPpInternalCallE2E: a SIPp caller dials a colleague's extension through the built
// binary; the callee (SIPp registered through its REGISTER) answers; G.711 audio flows both
// ways through the server; the record is in the API and its CSV.
func TestSIPpInternalCallE2E(t *testing.T) {
	pbxtest.Need(t, "sipp", "sip-tester")
	s := start(t, map[string]string{"CENTRALA_CONFIG": writeConfig(t, "calls:\n  ring_timeout: 2s\n")})
	s.account("201", "sipp-caller", "caller-secret-201")
	callee := s.account("202", "sipp-callee", "callee-secret-202")
	uas := s.callee("sipp-callee", "callee-secret-202", "deploy/sipp/call_uas.xml", 1, map[string]string{"codec": "PCMA"})
	res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"sipp-caller", "caller-secret-201", "202"}}, RecvTimeout: 20 * time.Second,
		Vars: map[string]string{"hold_ms": "3000", "offer": "8 0", "dtmf": "5"}})
	if res.Successful != 1 {
		t.Fatalf("caller: %s", res)
	}
	if ur := uas.Wait(); ur.Successful != 1 {
		t.Fatalf("callee: %s", ur)
	}
	// about 100 packets of 30 ms each way in 3 s; the callee's pcap plays back
	for _, dir := range []string{"a_to_b", "b_to_a"} {
		if n := s.metric(`centrala_rtp_packets_relayed_total{direction="` + dir + `"}`); n < 80 {
			t.Fatalf("RTP relayed %s: %v packets", dir, n)
		}
	}
	rec := s.lastCDR()
	if rec.Direction != "internal" || *rec.Disposition != "answered" || rec.Caller != "201" || rec.Callee != "202" ||
		*rec.HangupBy != "caller" || rec.SIPCode != 200 || rec.BillsecS < 2 || len(rec.Legs) != 2 {
		t.Fatalf("record %+v", rec)
	}
	if rec.Legs[1].Peer != "sipp-callee" || rec.Legs[1].SIPCode != 200 {
		t.Fatalf("callee leg %+v", rec.Legs[1])
	}
	csv, err := httpGetAuth(s.HTTP+"/api/v1/cdrs.csv", s.Token)
	if err != nil || !strings.Contains(csv, ",internal,201,202,") {
		t.Fatalf("csv %v:\n%s", err, csv)
	}
	if s.waitMetric(`centrala_calls_total{direction="internal",disposition="answered"}`, 1) != 1 {
		t.Fatal("calls_total not counted")
	}

	// busy, then nobody registered, then an unknown extension
	busy := s.callee("sipp-callee", "callee-secret-202", "deploy/sipp/call_uas_reject.xml", 1, map[string]string{"code": "486"})
	res = pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"sipp-caller", "caller-secret-201", "202"}}})
	if res.Count("486", "Recv") != 1 {
		br := busy.Wait()
		t.Fatalf("busy: %s\ncallee: %s\n%s", res, br, br.MessageLog)
	}
	busy.Wait()
	if rec := s.lastCDR(); *rec.Disposition != "busy" || rec.SIPCode != 486 {
		t.Fatalf("busy record %+v", rec)
	}
	// nobody answers: the server cancels the ringing phone after ring_timeout, the caller gets 480
	ringing := s.callee("sipp-callee", "callee-secret-202", "deploy/sipp/call_uas_noanswer.xml", 1, nil)
	res = pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"sipp-caller", "caller-secret-201", "202"}}})
	if res.Count("480", "Recv") != 1 {
		t.Fatalf("no answer: %s", res)
	}
	if rr := ringing.Wait(); rr.Successful != 1 {
		t.Fatalf("the ringing phone was not cancelled: %s", rr)
	}
	if rec := s.lastCDR(); *rec.Disposition != "no_answer" || rec.SIPCode != 480 || *rec.HangupBy != "system" {
		t.Fatalf("no answer record %+v", rec)
	}
	if code := s.api("DELETE", fmt.Sprintf("/api/v1/users/%d", callee), nil, nil); code != 204 {
		t.Fatalf("delete callee: %d", code)
	}
	res = pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"sipp-caller", "caller-secret-201", "202"}}})
	if res.Count("404", "Recv") != 1 {
		t.Fatalf("unknown extension: %s", res)
	}
}

// TestSIPpTrunkCallsE2E: outbound calls reach a provider (SIPp) with the CLIP the rules
// give in From and P-Asserted-Identity, or withheld with Privacy: id; a call from the
// provider's address to a project number rings its extension; the same INVITE from an
// unknown address is refused with 403.
func TestSIPpTrunkCallsE2E(t *testing.T) {
	pbxtest.Need(t, "sipp", "sip-tester")
	s := start(t, map[string]string{"CENTRALA_CONFIG": writeConfig(t, "routing:\n  country_code: \"48\"\n  national_length: 9\n")})
	uid := s.account("201", "sipp-agent", "agent-secret-201")
	if code := s.api("PATCH", fmt.Sprintf("/api/v1/users/%d", uid), map[string]any{"may_dial_any": true,
		"default_clip": "+48221234567"}, nil); code != 200 {
		t.Fatalf("patch user: %d", code)
	}
	providerPort := pbxtest.FreePort(t)
	tr := s.ipTrunk("127.0.0.2", providerPort)
	if code := s.api("POST", "/api/v1/numbers", map[string]any{"number": "+48221234567", "trunk_id": tr,
		"destination": map[string]any{"type": "extension", "target": "201"}}, nil); code != 201 {
		t.Fatalf("create number: %d", code)
	}
	var rule struct {
		ID int64 `json:"id"`
	}
	if code := s.api("POST", "/api/v1/outbound-rules", map[string]any{"name": "mobiles",
		"dest": map[string]any{"pattern": "_[5-8]XXXXXXXX"},
		"action": map[string]any{"kind": "allow", "clip": map[string]any{"mode": "number", "number": "+48221234567"},
			"trunks": []int64{tr}}}, &rule); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	provider := func(vars map[string]string) *pbxtest.SIPp {
		return pbxtest.StartSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/trunk_uas_check.xml", LocalIP: "127.0.0.2",
			LocalPort: providerPort, Calls: 1, Vars: vars, RecvTimeout: 20 * time.Second})
	}
	dial := func(number string) pbxtest.SIPpResult {
		return pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
			Rows: [][]string{{"sipp-agent", "agent-secret-201", number}}, Vars: map[string]string{"hold_ms": "1000", "offer": "8"}})
	}

	p := provider(map[string]string{"ruri_user": "+48601234567", "from_user": "+48221234567", "pai": "+48221234567", "privacy": "none"})
	if res := dial("601234567"); res.Successful != 1 {
		t.Fatalf("outbound call: %s", res)
	}
	if pr := p.Wait(); pr.Successful != 1 {
		t.Fatalf("provider saw: %v\n%s", pr.Logs(), pr)
	}
	rec := s.lastCDR()
	if rec.Direction != "outbound" || *rec.Disposition != "answered" || rec.TrunkID == nil || *rec.TrunkID != tr ||
		rec.CLIP == nil || *rec.CLIP != "+48221234567" || rec.Callee != "601234567" {
		t.Fatalf("outbound record %+v", rec)
	}

	// withheld: anonymous From, Privacy: id, the number asserted in P-Asserted-Identity only
	if code := s.api("PUT", fmt.Sprintf("/api/v1/outbound-rules/%d", rule.ID), map[string]any{"name": "mobiles",
		"dest":   map[string]any{"pattern": "_[5-8]XXXXXXXX"},
		"action": map[string]any{"kind": "allow", "clip": map[string]any{"mode": "withheld"}, "trunks": []int64{tr}}}, nil); code != 200 {
		t.Fatalf("update rule: %d", code)
	}
	p = provider(map[string]string{"from_user": "anonymous", "pai": "+48221234567", "privacy": "id"})
	if res := dial("601234567"); res.Successful != 1 {
		t.Fatalf("withheld call: %s", res)
	}
	if pr := p.Wait(); pr.Successful != 1 {
		t.Fatalf("provider saw: %v\n%s", pr.Logs(), pr)
	}
	if rec := s.lastCDR(); rec.CLIP != nil {
		t.Fatalf("withheld record %+v", rec)
	}

	// inbound: the provider calls the project number; the agent's phone answers
	uas := s.callee("sipp-agent", "agent-secret-201", "deploy/sipp/call_uas.xml", 1, map[string]string{"codec": "PCMA"})
	res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1, LocalIP: "127.0.0.2",
		Rows: [][]string{{"+48601234567", "unused", "+48221234567"}}, RecvTimeout: 20 * time.Second,
		Vars: map[string]string{"hold_ms": "2000", "offer": "8"}})
	if res.Successful != 1 || res.Count("407", "Recv") != 0 {
		t.Fatalf("inbound call: %s", res)
	}
	if ur := uas.Wait(); ur.Successful != 1 {
		t.Fatalf("agent's phone: %s", ur)
	}
	rec = s.lastCDR()
	if rec.Direction != "inbound" || rec.DID != "+48221234567" || rec.TrunkID == nil || *rec.TrunkID != tr ||
		rec.UserID == nil || *rec.UserID != uid || *rec.Disposition != "answered" || rec.CLIP == nil || *rec.CLIP != "+48601234567" {
		t.Fatalf("inbound record %+v", rec)
	}
	if n := s.waitMetric(`centrala_trunk_channels_in_use{trunk_id="`+strconv.FormatInt(tr, 10)+`"}`, 0); n != 0 {
		t.Fatalf("channels in use after the calls: %v", n)
	}

	// the same INVITE from an address that is no trunk
	res = pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"+48601234567", "unused", "+48221234567"}}})
	if res.Count("403", "Recv") != 1 {
		t.Fatalf("unknown source: %s", res)
	}
	if s.metric(`centrala_calls_refused_total{reason="unknown_source"}`) != 1 {
		t.Fatal("refusal not counted")
	}
}
