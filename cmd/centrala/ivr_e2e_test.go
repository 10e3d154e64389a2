package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/zaf/g711"

	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
)

// TestSIPpIVRE2E: a provider's caller (SIPp from the trunk's address) reaches a two-level
// voice menu built through the API with the system prompts of asterisk-core-sounds-en-wav,
// chooses 1 in the main menu with an RFC 4733 event and 2 in the second by SIP INFO, and is
// put through to the agent's phone (a SIPp UAS). The API's simulate answers the same path;
// the call record holds it; the IVR metrics count the choices; the menus' prompts were sent.
func TestSIPpIVRE2E(t *testing.T) {
	pbxtest.Need(t, "sipp", "sip-tester")
	pbxtest.NeedFile(t, "/usr/share/asterisk/sounds/en/digits/1.wav", "asterisk-core-sounds-en-wav")
	s := start(t, nil)
	uid := s.account("201", "sipp-agent", "agent-secret-201")
	tr := s.ipTrunk("127.0.0.2", 5060)
	var sales, main struct{ ID int64 }
	if code := s.api("POST", "/api/v1/ivrs", map[string]any{"name": "sales", "menu": "system:digits/2",
		"choices": []map[string]any{
			{"digits": "2", "destination": map[string]any{"type": "extension", "target": "201"}},
			{"digits": "9", "destination": map[string]any{"type": "back"}},
		}}, &sales); code != 201 {
		t.Fatalf("create ivr sales: %d", code)
	}
	if code := s.api("POST", "/api/v1/ivrs", map[string]any{"name": "main", "greeting": "system:vm-goodbye",
		"menu": "system:digits/1", "choices": []map[string]any{
			{"digits": "1", "destination": map[string]any{"type": "ivr", "target": fmt.Sprint(sales.ID)}},
		}}, &main); code != 201 {
		t.Fatalf("create ivr main: %d", code)
	}
	if code := s.api("POST", "/api/v1/numbers", map[string]any{"number": "+48221234567", "trunk_id": tr,
		"destination": map[string]any{"type": "ivr", "target": fmt.Sprint(main.ID)}}, nil); code != 201 {
		t.Fatalf("create number: %d", code)
	}

	// What the call will do, without a call.
	var sim struct {
		Path []struct {
			Type, Target, Branch, Digits string
		} `json:"path"`
		Destination struct{ Type, Target string } `json:"destination"`
		Prompts     []string                      `json:"prompts"`
	}
	if code := s.api("POST", "/api/v1/inbound/simulate", map[string]any{"number": "+48221234567",
		"caller": "+48601234567", "digits": "12"}, &sim); code != 200 {
		t.Fatalf("simulate: %d", code)
	}
	if sim.Destination.Type != "extension" || sim.Destination.Target != "201" ||
		!slices.Equal(sim.Prompts, []string{"system:vm-goodbye", "system:digits/1", "system:digits/2"}) {
		t.Fatalf("simulation %+v", sim)
	}

	uas := s.callee("sipp-agent", "agent-secret-201", "deploy/sipp/call_uas.xml", 1, map[string]string{"codec": "PCMA"})
	res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1, LocalIP: "127.0.0.2",
		Rows: [][]string{{"+48601234567", "unused", "+48221234567"}}, RecvTimeout: 20 * time.Second,
		Vars: map[string]string{"hold_ms": "2500", "audio": "none", "offer": "8", "dtmf": "1", "info": "2", "after_ms": "2000"}})
	if res.Successful != 1 {
		t.Fatalf("caller: %s", res)
	}
	if ur := uas.Wait(); ur.Successful != 1 {
		t.Fatalf("agent's phone: %s", ur)
	}
	rec := s.lastCDR()
	if rec.Direction != "inbound" || *rec.Disposition != "answered" || rec.UserID == nil || *rec.UserID != uid {
		t.Fatalf("record %+v", rec)
	}
	var full struct {
		Path []struct {
			Type, Target, Branch, Digits, Answered string
		} `json:"path"`
	}
	var recs []json.RawMessage
	if code := s.api("GET", "/api/v1/cdrs?limit=1", nil, &recs); code != 200 || len(recs) != 1 {
		t.Fatalf("cdrs: %d", code)
	}
	if err := json.Unmarshal(recs[0], &full); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, h := range full.Path {
		steps = append(steps, h.Type+":"+h.Target+":"+h.Branch+":"+h.Digits+":"+h.Answered)
	}
	want := []string{"number:+48221234567:::", fmt.Sprintf("ivr:%d:choice:1:", main.ID), fmt.Sprintf("ivr:%d:choice:2:", sales.ID),
		"extension:201:::201"}
	if !slices.Equal(steps, want) {
		t.Fatalf("path %v, want %v", steps, want)
	}
	s.wantMetrics(map[string]float64{
		fmt.Sprintf(`centrala_ivr_entered_total{ivr_id="%d"}`, main.ID):             1,
		fmt.Sprintf(`centrala_ivr_choices_total{choice="1",ivr_id="%d"}`, main.ID):  1,
		fmt.Sprintf(`centrala_ivr_choices_total{choice="2",ivr_id="%d"}`, sales.ID): 1,
		`centrala_calls_total{direction="inbound",disposition="answered"}`:          1,
	})
	// The greeting (vm-goodbye, about 0.9 s) and the main menu were heard before the 1: at
	// least 1 s of prompt packets toward the caller, and the agent's audio afterwards.
	if n := s.metric(`centrala_rtp_packets_played_total{leg="a"}`); n < 50 {
		t.Errorf("prompt packets sent to the caller: %v", n)
	}
}

// TestIVRPromptAudioE2E: what a caller hears of a menu is the system prompt itself: the
// samples of vm-goodbye.wav (asterisk-core-sounds-en-wav), through G.711, arrive in order and
// unchanged at a test phone calling the project number from the trunk's address.
func TestIVRPromptAudioE2E(t *testing.T) {
	file := pbxtest.NeedFile(t, "/usr/share/asterisk/sounds/en/vm-goodbye.wav", "asterisk-core-sounds-en-wav")
	s := start(t, nil)
	tr := s.ipTrunk("127.0.0.1", 5060)
	var ivr struct{ ID int64 }
	if code := s.api("POST", "/api/v1/ivrs", map[string]any{"name": "main", "greeting": "system:vm-goodbye",
		"menu": "system:digits/1", "no_input_ms": 1000, "retries": 0,
		"choices": []map[string]any{{"digits": "1", "destination": map[string]any{"type": "hangup", "target": "486"}}}}, &ivr); code != 201 {
		t.Fatalf("create ivr: %d", code)
	}
	if code := s.api("POST", "/api/v1/numbers", map[string]any{"number": "+48221234567", "trunk_id": tr,
		"destination": map[string]any{"type": "ivr", "target": fmt.Sprint(ivr.ID)}}, nil); code != 201 {
		t.Fatalf("create number: %d", code)
	}
	call := s.answeredCaller(t, "+48601234567", "+48221234567")
	// No key: the menu gives up after the greeting, the menu and 1 s, and hangs up.
	if _, err := call.WaitEnded(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := pcmuSamples(t, file, 0)
	heard := call.Heard()
	if i := indexSamples(heard, want); i < 0 {
		t.Fatalf("the %d samples of vm-goodbye.wav are not in the %d samples heard, in order", len(want), len(heard))
	}
}

// answeredCaller is a test phone (PCMU only) calling number from the trunk's address as
// caller, answered by the server (a menu, a queue) within 5 s.
func (s *server) answeredCaller(t *testing.T, caller, number string) *pbxtest.PhoneCall {
	t.Helper()
	ph := pbxtest.NewPhone(t, pbxtest.PhoneOptions{Server: s.SIP, Username: caller, Silent: true,
		Codecs: []media.Codec{media.PCMU}})
	call, err := ph.Dial(number)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := call.WaitFinal(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("%s was not answered: %d %v", number, code, err)
	}
	return call
}

// pcmuSamples is the first n samples of a WAV file (0: all) as a PCMU call carries them.
func pcmuSamples(t *testing.T, file string, n int) []int16 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, _, err := media.DecodeWAV(f, 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n > len(a.Samples) {
		n = len(a.Samples)
	}
	out := make([]int16, n)
	for i := range out {
		out[i] = g711.DecodeUlawFrame(g711.EncodeUlawFrame(a.Samples[i]))
	}
	return out
}

// indexSamples is where want starts in heard, or -1.
func indexSamples(heard, want []int16) int {
	for i := 0; i+len(want) <= len(heard); i++ {
		if slices.Equal(heard[i:i+len(want)], want) {
			return i
		}
	}
	return -1
}
