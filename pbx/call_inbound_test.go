package pbx_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// tonePrompts are prompts made of one tone each, so what a caller heard reads back as the
// sequence of tones (pbxtest.ToneSequence).
type tonePrompts map[string]float64

func (p tonePrompts) Prompt(ref string) (*media.Audio, error) {
	f, ok := p[ref]
	if !ok {
		return nil, fmt.Errorf("no prompt %q", ref)
	}
	const n = 8000 // 1 s: long enough for a key pressed after its start to interrupt it
	a := &media.Audio{Samples: make([]int16, n)}
	for i := range a.Samples {
		a.Samples[i] = int16(8000 * math.Sin(2*math.Pi*f*float64(i)/8000))
	}
	return a, nil
}

func (p tonePrompts) freqs() []float64 {
	var fs []float64
	for _, f := range p {
		fs = append(fs, f)
	}
	return fs
}

const did = "+48225550100"

// startInbound starts a PBX whose trunk is every INVITE from 127.0.0.1 (the test phones
// place no calls but the trunk's), with the graph of in and the tone prompts.
func startInbound(t *testing.T, in routing.GraphInput, prompts tonePrompts, opts ...pbx.Option) *pbxHarness {
	t.Helper()
	if in.Prompts == nil {
		in.Prompts = func(ref routing.PromptRef) bool { _, ok := prompts[ref]; return ok }
	}
	g, err := routing.NewGraph(in)
	if err != nil {
		t.Fatal(err)
	}
	var holder routing.GraphHolder
	holder.Store(g)
	h := startPBXWith(t, pbx.CallConfig{}, media.Config{}, registrar.Config{}, append([]pbx.Option{pbx.WithInbound(&holder, prompts)}, opts...)...)
	h.plan.mu.Lock()
	h.plan.trunks[netip.MustParseAddr("127.0.0.1")] = pbx.Trunk{ID: 7, Name: "provider", Kind: "ip", Host: "127.0.0.1"}
	h.plan.dids[did] = pbx.Inbound{DID: did}
	h.plan.mu.Unlock()
	return h
}

// trunkCall places a call from the trunk to the DID, from the caller's number.
func trunkCall(t *testing.T, h *pbxHarness, caller string, o pbxtest.PhoneOptions) (*pbxtest.Phone, *pbxtest.PhoneCall) {
	t.Helper()
	o.Server, o.Username = h.UDPAddr(), caller
	ph := pbxtest.NewPhone(t, o)
	call, err := ph.Dial(did)
	if err != nil {
		t.Fatal(err)
	}
	return ph, call
}

// waitTones waits until the caller heard the tones want, in this order, at the end of what
// it heard so far.
func waitTones(t *testing.T, call *pbxtest.PhoneCall, p tonePrompts, want ...float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := pbxtest.ToneSequence(call.Heard(), p.freqs())
		if len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caller heard tones %v, want %v at the end", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func path(t *testing.T, rec cdr.Record) []routing.Hop {
	t.Helper()
	var hops []routing.Hop
	if err := json.Unmarshal(rec.Path, &hops); err != nil {
		t.Fatalf("path %s: %v", rec.Path, err)
	}
	return hops
}

func ptr[T any](v T) *T { return &v }

// TestIVRMenusWithDTMF: a caller from the trunk hears the greeting and the main menu,
// presses 1 (RFC 4733) for a sub-menu, hears it, presses 2 by SIP INFO and is put through to
// extension 2001; the record holds the path.
func TestIVRMenusWithDTMF(t *testing.T) {
	prompts := tonePrompts{"system:greeting": 500, "system:main": 700, "system:sales": 900}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{
			{ID: 1, Name: "main", Greeting: "system:greeting", Menu: "system:main", NoInputMS: 3000, Choices: []routing.Choice{
				{Digits: "1", Destination: routing.Destination{Type: routing.DestIVR, Target: "2"}},
				{Digits: "0", Destination: routing.Destination{Type: routing.DestHangup, Target: "403"}},
			}},
			{ID: 2, Name: "sales", Menu: "system:sales", NoInputMS: 3000, Choices: []routing.Choice{
				{Digits: "2", Destination: routing.Destination{Type: routing.DestExtension, Target: "2001"}},
				{Digits: "9", Destination: routing.Destination{Type: routing.DestBack}},
			}},
		},
		Extensions: map[string]bool{"2001": true},
	}, prompts)
	h.user(1, "2001", "agent")
	agent := h.phone(t, "agent", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Delay: 100 * time.Millisecond}})

	steps := h.Bus.Subscribe(64, func(e event.Event) bool { return e.Type == "call.step" })
	defer steps.Close()
	_, call := trunkCall(t, h, "+48601000001", pbxtest.PhoneOptions{Silent: true})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("the IVR did not answer: %d %v", code, err)
	}
	waitTones(t, call, prompts, 500, 700)
	if err := call.SendDTMF("1"); err != nil {
		t.Fatal(err)
	}
	waitTones(t, call, prompts, 900)
	if res, err := call.SendInfo("application/dtmf-relay", "Signal=2\r\nDuration=160\r\n"); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	in, err := agent.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if from := in.Invite().From().Address.User; from != "+48601000001" {
		t.Fatalf("the agent saw the caller as %q", from)
	}
	// Connected: the agent's 1 kHz test tone reaches the caller through the relay.
	if err := call.WaitRTP(50, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	before := call.Stats().RTP.Tones
	time.Sleep(300 * time.Millisecond)
	if call.Stats().RTP.Tones <= before {
		t.Fatal("the caller does not hear the agent")
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.WaitEnded(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Direction != cdr.Inbound || rec.Disposition != cdr.Answered || rec.DID != did || rec.HangupBy != cdr.ByCaller ||
		rec.UserID == nil || *rec.UserID != 1 {
		t.Fatalf("record %+v", rec)
	}
	hops := path(t, rec)
	var ivrs []string
	for _, hop := range hops {
		if hop.Type == "ivr" {
			ivrs = append(ivrs, hop.Target+":"+hop.Branch+":"+hop.Digits)
		}
	}
	if !slices.Equal(ivrs, []string{"1:choice:1", "2:choice:2"}) {
		t.Fatalf("IVR steps %v in path %s", ivrs, rec.Path)
	}
	last := hops[len(hops)-1]
	if last.Type != "extension" || last.Target != "2001" || last.Answered == "" {
		t.Fatalf("last step %+v of %s", last, rec.Path)
	}
	// The same steps, live, on the event bus.
	var live []string
	for len(live) < len(hops) {
		select {
		case e := <-steps.C:
			hop := e.Data.(map[string]any)["step"].(routing.Hop)
			live = append(live, hop.Type+":"+hop.Digits)
		case <-time.After(2 * time.Second):
			t.Fatalf("call.step events %v, want %d", live, len(hops))
		}
	}
	if !slices.Equal(live, []string{"number:", "ivr:1", "ivr:2", "extension:"}) {
		t.Fatalf("call.step events %v", live)
	}
}

// TestIVRNoInputGivesUp: a caller who presses nothing hears the menu 1 + retries times, then
// the call is hung up by the PBX; the record says so.
func TestIVRNoInputGivesUp(t *testing.T) {
	prompts := tonePrompts{"system:menu": 700, "system:again": 1100}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{{ID: 1, Name: "main", Menu: "system:menu", NoInputPrompt: "system:again", NoInputMS: 500, Retries: ptr(1),
			Choices: []routing.Choice{{Digits: "1", Destination: routing.Destination{Type: routing.DestHangup, Target: "486"}}}}},
	}, prompts)
	_, call := trunkCall(t, h, "+48601000002", pbxtest.PhoneOptions{Silent: true})
	if r, err := call.WaitEnded(8 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("call ended %v %v, want a BYE from the PBX", r, err)
	}
	got := pbxtest.ToneSequence(call.Heard(), prompts.freqs())
	if !slices.Equal(got, []float64{700, 1100, 700}) {
		t.Fatalf("heard %v, want menu, no-input prompt, menu", got)
	}
	rec := h.record(t)
	if rec.Disposition != cdr.Answered || rec.HangupBy != cdr.BySystem {
		t.Fatalf("record %+v", rec)
	}
	var branches []string
	for _, hop := range path(t, rec) {
		if hop.Type == "ivr" {
			branches = append(branches, hop.Branch)
		}
	}
	if !slices.Contains(branches, "max_retries") {
		t.Fatalf("path %s has no max_retries step", rec.Path)
	}
}

// TestAnnouncementAsEarlyMediaThenHangup: a closed-hours announcement plays before any
// answer (183), then the caller gets the final code.
func TestAnnouncementAsEarlyMediaThenHangup(t *testing.T) {
	prompts := tonePrompts{"system:closed": 600}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestAnnouncement, Target: "system:closed",
			Then: &routing.Destination{Type: routing.DestHangup, Target: "480"}}},
	}, prompts)
	_, call := trunkCall(t, h, "+48601000003", pbxtest.PhoneOptions{Silent: true})
	code, err := call.WaitFinal(5 * time.Second)
	if err != nil || code != 480 {
		t.Fatalf("final %d %v, want 480 after the announcement", code, err)
	}
	if !slices.Contains(call.Provisional(), 183) {
		t.Fatalf("provisional %v: no 183", call.Provisional())
	}
	if got := pbxtest.ToneSequence(call.Heard(), prompts.freqs()); !slices.Equal(got, []float64{600}) {
		t.Fatalf("heard %v before the 480", got)
	}
	rec := h.record(t)
	if rec.Disposition != cdr.Rejected || rec.SIPCode != 480 || rec.AnsweredAt != nil {
		t.Fatalf("record %+v", rec)
	}
}

// TestRingGroupLinearSkipsBusyAndUnregistered: a linear ring group whose first member is
// on a call and second has no phone rings the third, who answers.
func TestRingGroupLinearSkipsBusyAndUnregistered(t *testing.T) {
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestRingGroup, Target: "5"}},
		RingGroups: []routing.RingGroup{{ID: 5, Name: "sales", Strategy: routing.RingLinear, MemberSeconds: 5, GroupSeconds: 20,
			Members: []routing.Member{{Extension: "2001"}, {Extension: "2002"}, {Extension: "2003"}, {Extension: "2004"}}}},
		Extensions: map[string]bool{"2001": true, "2002": true, "2003": true, "2004": true},
	}, tonePrompts{})
	h.user(1, "2001", "busy-agent")
	h.user(2, "2002", "away-agent") // no phone registered
	h.user(3, "2003", "refusing-agent")
	h.user(4, "2004", "free-agent")
	h.user(9, "2009", "colleague")
	busy := h.phone(t, "busy-agent", pbxtest.PhoneOptions{})
	colleague := h.phone(t, "colleague", pbxtest.PhoneOptions{})
	_ = colleague
	refusing := h.phone(t, "refusing-agent", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.Reject, Code: 486}})
	_ = refusing
	free := h.phone(t, "free-agent", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Delay: 100 * time.Millisecond}})

	// 2001 is on a call with 2009 (an internal call from 127.0.0.1 would look like the
	// trunk: the colleague calls the busy agent, which counts both as busy).
	h.plan.mu.Lock()
	delete(h.plan.trunks, netip.MustParseAddr("127.0.0.1"))
	h.plan.mu.Unlock()
	inner, err := colleague.Call("2001")
	if err != nil || inner.Status() != 200 {
		t.Fatalf("internal call: %v %v", inner, err)
	}
	if _, err := busy.WaitIncoming(time.Second); err != nil {
		t.Fatal(err)
	}
	h.plan.mu.Lock()
	h.plan.trunks[netip.MustParseAddr("127.0.0.1")] = pbx.Trunk{ID: 7, Name: "provider", Kind: "ip", Host: "127.0.0.1"}
	h.plan.mu.Unlock()

	_, call := trunkCall(t, h, "+48601000004", pbxtest.PhoneOptions{})
	in, err := free.WaitIncoming(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("caller: %d %v", code, err)
	}
	if len(busy.Calls()) != 1 {
		t.Fatalf("the busy agent was rung again: %d calls", len(busy.Calls()))
	}
	if err := in.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitEnded(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = inner.Hangup()
	rec := h.record(t)
	var rg *routing.Hop
	for _, hop := range path(t, rec) {
		if hop.Type == "ring_group" {
			rg = &hop
		}
	}
	if rg == nil || !slices.Equal(rg.Members, []string{"2003", "2004"}) || rg.Answered != "2004" {
		t.Fatalf("ring group step %+v in %s", rg, rec.Path)
	}
}

// TestExternalDestinationForwardsThroughATrunk: a menu choice sends the caller to an outside
// number through the outbound route; the provider sees the original caller's number and a
// Diversion header with the project number, and the call connects.
func TestExternalDestinationForwardsThroughATrunk(t *testing.T) {
	prompts := tonePrompts{"system:menu": 700}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{{ID: 1, Name: "main", Menu: "system:menu", Choices: []routing.Choice{
			{Digits: "5", Destination: routing.Destination{Type: routing.DestExternal, Target: "+48601999888"}}}}},
	}, prompts)
	up, tr := h.provider(t, pbxtest.Answer{Delay: 100 * time.Millisecond})
	h.route("+48601999888", pbx.OutboundRoute{Decision: routing.Decision{Action: routing.Allow, FailoverCodes: []int{503}},
		Trunks: []pbx.TrunkDial{{Trunk: tr, Number: "+48601999888", CLIP: did}}})

	_, call := trunkCall(t, h, "+48601000005", pbxtest.PhoneOptions{Silent: true})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("the IVR did not answer: %d %v", code, err)
	}
	waitTones(t, call, prompts, 700)
	if res, err := call.SendInfo("application/dtmf", "5"); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	out, err := up.WaitIncoming(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := out.Header("P-Asserted-Identity"); got == "" || !strings.Contains(got, "+48601000005") {
		t.Fatalf("provider saw P-Asserted-Identity %q, want the original caller", got)
	}
	if got := out.Header("Diversion"); !strings.Contains(got, did) {
		t.Fatalf("provider saw Diversion %q, want the project number", got)
	}
	if err := call.WaitRTP(25, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := out.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitEnded(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Direction != cdr.Inbound || rec.Disposition != cdr.Answered || rec.TrunkID == nil || *rec.TrunkID != 7 {
		t.Fatalf("record %+v (trunk: the inbound one)", rec)
	}
	hops := path(t, rec)
	if last := hops[len(hops)-1]; last.Type != "external" || last.Target != "+48601999888" {
		t.Fatalf("path %s", rec.Path)
	}
}

// TestRingGroupRoundRobinAndRingAll: a round_robin group starts each call after the member
// who rang last; a ring_all group rings every member at once and the first answer wins.
func TestRingGroupRoundRobinAndRingAll(t *testing.T) {
	members := []routing.Member{{Extension: "2001"}, {Extension: "2002"}}
	for _, tc := range []struct {
		strategy routing.RingStrategy
		answers  []string // who answers each of two calls
	}{
		{routing.RingRoundRobin, []string{"2001", "2002"}},
		{routing.RingAll, []string{"2001", "2001"}}, // 2002 never answers
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			h := startInbound(t, routing.GraphInput{
				Numbers: map[string]routing.Destination{did: {Type: routing.DestRingGroup, Target: "5"}},
				RingGroups: []routing.RingGroup{{ID: 5, Name: "g", Strategy: tc.strategy, MemberSeconds: 5, GroupSeconds: 10,
					Members: members}},
				Extensions: map[string]bool{"2001": true, "2002": true},
			}, tonePrompts{})
			h.user(1, "2001", "first")
			h.user(2, "2002", "second")
			second := pbxtest.Answer{Delay: 100 * time.Millisecond}
			if tc.strategy == routing.RingAll {
				second = pbxtest.Answer{Mode: pbxtest.NeverAnswer}
			}
			phones := map[string]*pbxtest.Phone{
				"2001": h.phone(t, "first", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Delay: 100 * time.Millisecond}}),
				"2002": h.phone(t, "second", pbxtest.PhoneOptions{Answer: second}),
			}
			for i, want := range tc.answers {
				_, call := trunkCall(t, h, fmt.Sprintf("+4860100010%d", i), pbxtest.PhoneOptions{})
				if code, err := call.WaitFinal(5 * time.Second); err != nil || code != 200 {
					t.Fatalf("call %d: %d %v", i, code, err)
				}
				if err := call.Hangup(); err != nil {
					t.Fatal(err)
				}
				rec := h.record(t)
				var got string
				for _, hop := range path(t, rec) {
					if hop.Type == "ring_group" {
						got = hop.Answered
					}
				}
				if got != want {
					t.Fatalf("call %d answered by %q, want %q (path %s)", i, got, want, rec.Path)
				}
			}
			if tc.strategy == routing.RingAll {
				// both rang at once on each call; the second was cancelled
				if n := len(phones["2002"].Calls()); n != 2 {
					t.Fatalf("the second member rang %d times, want 2", n)
				}
			}
		})
	}
}

// TestKeyInterruptsThePrompt: a key pressed during the greeting stops it; the rest of the
// menu's prompts are not played and the choice is taken.
func TestKeyInterruptsThePrompt(t *testing.T) {
	prompts := tonePrompts{"system:greeting": 500, "system:main": 700, "system:next": 900}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{
			{ID: 1, Name: "main", Greeting: "system:greeting", Menu: "system:main", Choices: []routing.Choice{
				{Digits: "3", Destination: routing.Destination{Type: routing.DestAnnouncement, Target: "system:next"}}}},
		},
	}, prompts)
	_, call := trunkCall(t, h, "+48601000006", pbxtest.PhoneOptions{Silent: true})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("the IVR did not answer: %d %v", code, err)
	}
	waitTones(t, call, prompts, 500)
	if err := call.SendDTMF("3"); err != nil {
		t.Fatal(err)
	}
	if r, err := call.WaitEnded(5 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("call ended %v %v, want a BYE after the announcement", r, err)
	}
	if got := pbxtest.ToneSequence(call.Heard(), prompts.freqs()); !slices.Equal(got, []float64{500, 900}) {
		t.Fatalf("heard %v: the menu prompt played although the greeting was interrupted", got)
	}
}

// TestEarlyMediaMenu: a menu in early_media mode plays in a 183 without answering; a key
// (RFC 4733, sent here from the caller's side by hand: the test phone sends no RTP before an
// answer) takes the choice, and the caller gets its final code without the call ever being
// answered.
func TestEarlyMediaMenu(t *testing.T) {
	prompts := tonePrompts{"system:menu": 700}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{{ID: 1, Name: "main", Menu: "system:menu", Answer: routing.AnswerEarlyMedia, Choices: []routing.Choice{
			{Digits: "4", Destination: routing.Destination{Type: routing.DestHangup, Target: "486"}}}}},
	}, prompts)
	_, call := trunkCall(t, h, "+48601000007", pbxtest.PhoneOptions{Silent: true})
	waitTones(t, call, prompts, 700)
	if call.Status() != 0 && call.Status() != 183 {
		t.Fatalf("status %d while the menu plays, want no final response", call.Status())
	}
	var ours *media.Session
	for _, r := range call.Responses() {
		if r.StatusCode == 183 {
			s, err := media.Parse(r.Body())
			if err != nil {
				t.Fatal(err)
			}
			ours = s
		}
	}
	if ours == nil {
		t.Fatal("no 183 with SDP")
	}
	dtmfPT := -1
	for _, f := range ours.Audio().Formats {
		if strings.EqualFold(f.Name, "telephone-event") {
			dtmfPT = int(f.PayloadType)
		}
	}
	if dtmfPT < 0 {
		t.Fatalf("the 183's SDP offers no telephone-event: %s", ours.Marshal())
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 6 { // key 4: three updates, three end packets, one timestamp
		pkt := make([]byte, 16)
		pkt[0], pkt[1] = 0x80, byte(dtmfPT)
		binary.BigEndian.PutUint16(pkt[2:], uint16(100+i))
		binary.BigEndian.PutUint32(pkt[4:], 8000)
		binary.BigEndian.PutUint32(pkt[8:], 0xD7)
		pkt[12] = 4
		if i >= 3 {
			pkt[13] = 0x80
		}
		binary.BigEndian.PutUint16(pkt[14:], uint16(160*(i+1)))
		if _, err := conn.WriteToUDPAddrPort(pkt, ours.AudioAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 486 {
		t.Fatalf("final %d %v, want 486 from the menu's choice", code, err)
	}
	rec := h.record(t)
	if rec.AnsweredAt != nil || rec.SIPCode != 486 {
		t.Fatalf("record %+v: an early-media menu never answers", rec)
	}
}

// TestDialByExtension: in a menu with dial_extensions the caller types an extension (four
// keys, RFC 4733) and is put through to it.
func TestDialByExtension(t *testing.T) {
	prompts := tonePrompts{"system:menu": 700}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestIVR, Target: "1"}},
		IVRs: []routing.IVR{{ID: 1, Name: "main", Menu: "system:menu", DialExtensions: true, Choices: []routing.Choice{
			{Digits: "2", Destination: routing.Destination{Type: routing.DestHangup, Target: "403"}}}}},
		Extensions: map[string]bool{"2001": true},
	}, prompts)
	h.user(1, "2001", "agent")
	agent := h.phone(t, "agent", pbxtest.PhoneOptions{})
	_, call := trunkCall(t, h, "+48601000008", pbxtest.PhoneOptions{Silent: true})
	if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("the IVR did not answer: %d %v", code, err)
	}
	waitTones(t, call, prompts, 700)
	if err := call.SendDTMF("2001"); err != nil {
		t.Fatal(err)
	}
	in, err := agent.WaitIncoming(5 * time.Second)
	if err != nil {
		t.Fatal("2001 did not ring:", err)
	}
	if err := in.WaitEstablished(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = call.Hangup()
	var ivr routing.Hop
	for _, hop := range path(t, h.record(t)) {
		if hop.Type == "ivr" {
			ivr = hop
		}
	}
	if ivr.Branch != "extension" || ivr.Digits != "2001" {
		t.Fatalf("IVR step %+v", ivr)
	}
}

// TestRingGroupFallback: nobody of the group can take the call (one member unregistered,
// one rejecting): the group's fallback, an announcement then a hang-up, plays as early media.
func TestRingGroupFallback(t *testing.T) {
	prompts := tonePrompts{"system:sorry": 600}
	h := startInbound(t, routing.GraphInput{
		Numbers: map[string]routing.Destination{did: {Type: routing.DestRingGroup, Target: "5"}},
		RingGroups: []routing.RingGroup{{ID: 5, Name: "sales", Strategy: routing.RingLinear, MemberSeconds: 5, GroupSeconds: 10,
			Members: []routing.Member{{Extension: "2001"}, {Extension: "2002"}},
			Fallback: &routing.Destination{Type: routing.DestAnnouncement, Target: "system:sorry",
				Then: &routing.Destination{Type: routing.DestHangup, Target: "480"}}}},
		Extensions: map[string]bool{"2001": true, "2002": true},
	}, prompts)
	h.user(1, "2001", "away")
	h.user(2, "2002", "refusing")
	h.phone(t, "refusing", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.Reject, Code: 603}})
	_, call := trunkCall(t, h, "+48601000009", pbxtest.PhoneOptions{Silent: true})
	if code, err := call.WaitFinal(5 * time.Second); err != nil || code != 480 {
		t.Fatalf("final %d %v, want 480 after the fallback announcement", code, err)
	}
	if got := pbxtest.ToneSequence(call.Heard(), prompts.freqs()); !slices.Equal(got, []float64{600}) {
		t.Fatalf("heard %v", got)
	}
	var rg routing.Hop
	for _, hop := range path(t, h.record(t)) {
		if hop.Type == "ring_group" {
			rg = hop
		}
	}
	if !slices.Equal(rg.Members, []string{"2002"}) {
		t.Fatalf("ring group step %+v: want only the registered member tried", rg)
	}
}
