package pbx_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// plan is the dialplan of the call tests: users by extension, trunks by source address,
// outbound routes by dialled number, DIDs.
type plan struct {
	mu       sync.Mutex
	users    map[string]pbx.Party // by extension
	byUser   map[int64]pbx.Party
	trunks   map[netip.Addr]pbx.Trunk
	outbound map[string]pbx.OutboundRoute
	dids     map[string]pbx.Inbound
}

func (p *plan) Device(_ context.Context, acct registrar.Account) (pbx.Party, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byUser[acct.UserID], nil
}

func (p *plan) Extension(_ context.Context, n string) (pbx.Party, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[n]
	if !ok {
		return pbx.Party{}, pbx.ErrNotFound
	}
	return u, nil
}

func (p *plan) Outbound(_ context.Context, _ registrar.Account, dialled string) (pbx.OutboundRoute, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.outbound[dialled]
	if !ok && len(dialled) <= 4 {
		return pbx.OutboundRoute{}, pbx.ErrNotFound // looks like an extension
	}
	if !ok {
		return pbx.OutboundRoute{Decision: routing.Decision{Action: routing.Deny, SIPCode: 403, Reason: "no rule"}}, nil
	}
	return r, nil
}

func (p *plan) Forward(_ context.Context, _, number string) (pbx.OutboundRoute, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.outbound[number]
	if !ok {
		return pbx.OutboundRoute{Decision: routing.Decision{Action: routing.Deny, SIPCode: 403, Reason: "no rule"}}, nil
	}
	return r, nil
}

func (p *plan) TrunkAt(src netip.Addr) (pbx.Trunk, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.trunks[src]
	return t, ok
}

func (p *plan) Inbound(_ context.Context, _ pbx.Trunk, cands ...string) (pbx.Inbound, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cands {
		if in, ok := p.dids[c]; ok {
			return in, nil
		}
	}
	return pbx.Inbound{}, pbx.ErrNotFound
}

// pbxHarness is an engine with calls on, its media and a real CDR store.
type pbxHarness struct {
	*pbxtest.Engine
	plan  *plan
	db    *store.DB
	media *media.Manager
	accts *lockedAccounts
}

// lockedAccounts are SIP accounts the test adds while the engine runs.
type lockedAccounts struct {
	mu sync.Mutex
	m  pbxtest.Accounts
}

func (l *lockedAccounts) Account(ctx context.Context, username string) (registrar.Account, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Account(ctx, username)
}

func startPBX(t *testing.T, cfg pbx.CallConfig, mcfg media.Config, rcfg ...registrar.Config) *pbxHarness {
	t.Helper()
	var reg registrar.Config
	if len(rcfg) > 0 {
		reg = rcfg[0]
	}
	return startPBXWith(t, cfg, mcfg, reg)
}

// startPBXWith is startPBX with more engine options.
func startPBXWith(t *testing.T, cfg pbx.CallConfig, mcfg media.Config, reg registrar.Config, opts ...pbx.Option) *pbxHarness {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &plan{users: map[string]pbx.Party{}, byUser: map[int64]pbx.Party{}, trunks: map[netip.Addr]pbx.Trunk{},
		outbound: map[string]pbx.OutboundRoute{}, dids: map[string]pbx.Inbound{}}
	mcfg.BindAddr = "127.0.0.1"
	mcfg.Defaults()
	mm, err := media.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &pbxHarness{plan: p, db: db, media: mm, accts: &lockedAccounts{m: pbxtest.Accounts{}}}
	eng := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: h.accts, Registrar: reg,
		Options: append([]pbx.Option{pbx.WithCalls(cfg, p, mm, lazyRecorder{h})}, opts...)})
	h.Engine = eng
	return h
}

// lazyRecorder builds the cdr.Recorder on first use: it needs the engine's bus, which
// StartEngine makes.
type lazyRecorder struct{ h *pbxHarness }

var recorders sync.Map // *pbxHarness -> *cdr.Recorder

func (l lazyRecorder) rec() *cdr.Recorder {
	if r, ok := recorders.Load(l.h); ok {
		return r.(*cdr.Recorder)
	}
	r, err := cdr.NewRecorder(l.h.db, l.h.Bus, nil)
	if err != nil {
		panic(err)
	}
	v, _ := recorders.LoadOrStore(l.h, r)
	return v.(*cdr.Recorder)
}

func (l lazyRecorder) Begin(ctx context.Context, s cdr.Start) (cdr.Record, error) {
	return l.rec().Begin(ctx, s)
}

func (l lazyRecorder) Answer(ctx context.Context, id int64, at time.Time) error {
	return l.rec().Answer(ctx, id, at)
}
func (l lazyRecorder) End(ctx context.Context, id int64, e cdr.End) error {
	return l.rec().End(ctx, id, e)
}

// user adds a user with an extension and SIP accounts (password = account + "-secret").
func (h *pbxHarness) user(id int64, ext string, accounts ...string) {
	p := pbx.Party{UserID: id, Extension: ext, Name: "User " + ext, Accounts: accounts}
	h.plan.mu.Lock()
	h.plan.users[ext] = p
	h.plan.byUser[id] = p
	h.plan.mu.Unlock()
	for _, a := range accounts {
		acct := pbxtest.NewAccount(a, a+"-secret", 5)
		acct.UserID = id
		h.accts.mu.Lock()
		h.accts.m[a] = acct
		h.accts.mu.Unlock()
	}
}

// phone registers a phone for a SIP account.
func (h *pbxHarness) phone(t *testing.T, account string, o pbxtest.PhoneOptions) *pbxtest.Phone {
	t.Helper()
	o.Server, o.Username, o.Password = h.UDPAddr(), account, account+"-secret"
	if o.Transport == "tcp" {
		o.Server = h.TCPAddr()
	}
	ph := pbxtest.NewPhone(t, o)
	res, err := ph.Register(300)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("register %s: %v %v", account, res, err)
	}
	return ph
}

// record waits for the last call record to end and returns it.
func (h *pbxHarness) record(t *testing.T) cdr.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := h.db.ListCDRs(context.Background(), store.CDRFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 && !recs[0].Live() {
			return recs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended call record: %+v", recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInternalCallForksRelaysMediaAndHangsUp(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob-desk", "bob-soft")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{Codecs: []media.Codec{media.PCMU}})
	desk := h.phone(t, "bob-desk", pbxtest.PhoneOptions{Codecs: []media.Codec{media.PCMA}, Answer: pbxtest.Answer{Delay: 200 * time.Millisecond}})
	soft := h.phone(t, "bob-soft", pbxtest.PhoneOptions{Transport: "tcp", Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})

	events := h.Bus.Subscribe(64, func(e event.Event) bool { return strings.HasPrefix(e.Type, "call.") })
	defer events.Close()
	call, err := alice.Call("202")
	if err != nil || call.Status() != 200 {
		t.Fatalf("call: status %d, %v", call.Status(), err)
	}
	var seen []string
	for len(seen) < 3 {
		select {
		case e := <-events.C:
			if e.CallID != call.CallID() {
				t.Fatalf("event %s for call %q, want %q", e.Type, e.CallID, call.CallID())
			}
			seen = append(seen, e.Type)
		case <-time.After(2 * time.Second):
			t.Fatalf("events %v", seen)
		}
	}
	if strings.Join(seen, " ") != "call.started call.ringing call.answered" {
		t.Fatalf("events %v", seen)
	}
	if got := call.Provisional(); !contains(got, 180) {
		t.Fatalf("caller saw provisional %v, want 180", got)
	}
	in, err := desk.WaitIncoming(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ringing, err := soft.WaitIncoming(2 * time.Second)
	if err != nil {
		t.Fatal("the TCP phone did not ring:", err)
	}
	if r, err := ringing.WaitEnded(3 * time.Second); err != nil || r != pbxtest.EndRemoteCancel {
		t.Fatalf("the phone that did not answer: %v %v, want a CANCEL", r, err)
	}
	if from := in.Invite().From(); from.Address.User != "201" || from.DisplayName != "User 201" {
		t.Fatalf("callee saw From %s", from.Value())
	}
	if err := in.WaitEstablished(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	// PCMU on the caller's side, PCMA on the callee's: both hear each other (transcoded).
	for _, c := range []*pbxtest.PhoneCall{call, in} {
		if err := c.WaitRTP(25, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	cs, is := call.Stats(), in.Stats()
	if cs.Codec.Name != "PCMU" || is.Codec.Name != "PCMA" {
		t.Fatalf("codecs: caller %s, callee %s", cs.Codec.Name, is.Codec.Name)
	}
	if cs.RTP.Tones == 0 || is.RTP.Tones == 0 {
		t.Fatalf("the test tone did not survive transcoding: caller %d, callee %d", cs.RTP.Tones, is.RTP.Tones)
	}
	if cs.RemoteRTP.Port() == is.RTP.Local.Port() || !strings.HasPrefix(cs.RemoteRTP.Addr().String(), "127.") {
		t.Fatalf("media not anchored: caller sends to %s, callee listens on %s", cs.RemoteRTP, is.RTP.Local)
	}
	if err := call.SendDTMF("42#"); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitDTMF("42#", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	holdAndUnhold(t, call, in) // from the caller
	if err := in.Hangup(); err != nil {
		t.Fatal(err)
	}
	if r, err := call.WaitEnded(3 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("caller: %v %v", r, err)
	}
	rec := h.record(t)
	if rec.Direction != cdr.Internal || rec.Disposition != cdr.Answered || rec.HangupBy != cdr.ByCallee ||
		rec.Caller != "201" || rec.Callee != "202" || rec.SIPCode != 200 || rec.AnsweredAt == nil {
		t.Fatalf("record %+v", rec)
	}
	if len(rec.Legs) != 3 {
		t.Fatalf("legs %+v", rec.Legs)
	}
	var answered, cancelled int
	for _, l := range rec.Legs {
		switch {
		case l.Kind == cdr.LegCallee && l.AnsweredAt != nil && l.Peer == "bob-desk":
			answered++
		case l.Kind == cdr.LegCallee && l.SIPCode == 487 && l.Peer == "bob-soft":
			cancelled++
		}
	}
	if answered != 1 || cancelled != 1 {
		t.Fatalf("legs %+v", rec.Legs)
	}
}

// holdAndUnhold has one side hold the call and take it off hold, and checks that the other
// side saw each re-INVITE (sendonly, then sendrecv) through the B2BUA.
func holdAndUnhold(t *testing.T, holder, held *pbxtest.PhoneCall) {
	t.Helper()
	for _, on := range []bool{true, false} {
		if code, err := holder.Hold(on); err != nil || code != 200 {
			t.Fatalf("hold %v: %d %v", on, code, err)
		}
		if st := held.Stats(); st.HeldByRemote != on {
			t.Fatalf("hold %v not seen by the other side: %+v", on, st.ReinvitesIn)
		}
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestInternalCallFailures(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{RingTimeout: time.Second}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	h.user(3, "203", "carol")
	h.user(4, "204", "dave") // never registers
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.Reject, Code: 486}})
	carol := h.phone(t, "carol", pbxtest.PhoneOptions{Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})

	for _, tc := range []struct {
		name   string
		dial   string
		code   int
		disp   cdr.Disposition
		hangup cdr.HangupBy
	}{
		{"unknown extension", "299", 404, cdr.Failed, cdr.BySystem},
		{"nobody registered", "204", 480, cdr.Failed, cdr.BySystem},
		{"busy", "202", 486, cdr.Busy, cdr.ByCallee},
		{"ring timeout", "203", 480, cdr.NoAnswer, cdr.BySystem},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := alice.Call(tc.dial)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status() != tc.code {
				t.Fatalf("status %d, want %d", c.Status(), tc.code)
			}
			rec := h.record(t)
			if rec.Disposition != tc.disp || rec.HangupBy != tc.hangup || rec.SIPCode != tc.code || rec.Callee != tc.dial {
				t.Fatalf("record %+v", rec)
			}
		})
	}
	// the phone rung until the timeout was cancelled
	if in := carol.Calls(); len(in) == 1 {
		_, _ = in[0].WaitEnded(2 * time.Second) // the CANCEL may land just after the 480
	}
	if in := carol.Calls(); len(in) != 1 || in[0].EndReason() != pbxtest.EndRemoteCancel {
		t.Fatalf("carol's calls %d, end %q", len(in), in[0].EndReason())
	}

	t.Run("caller cancels", func(t *testing.T) {
		c, err := alice.Dial("203")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitRinging(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := c.Cancel(); err != nil {
			t.Fatal(err)
		}
		if code, err := c.WaitFinal(2 * time.Second); err != nil || code != 487 {
			t.Fatalf("final %d %v", code, err)
		}
		in := carol.Calls()[1]
		if r, err := in.WaitEnded(2 * time.Second); err != nil || r != pbxtest.EndRemoteCancel {
			t.Fatalf("callee %v %v", r, err)
		}
		rec := h.record(t)
		if rec.Disposition != cdr.Cancelled || rec.HangupBy != cdr.ByCaller || rec.SIPCode != 487 {
			t.Fatalf("record %+v", rec)
		}
	})

	t.Run("no common codec", func(t *testing.T) {
		g722 := h.phone(t, "carol", pbxtest.PhoneOptions{Codecs: []media.Codec{{Name: "G722", PayloadType: 9, ClockRate: 8000}}})
		c, err := g722.Call("201")
		if err != nil {
			t.Fatal(err)
		}
		if c.Status() != 488 {
			t.Fatalf("status %d", c.Status())
		}
		for _, c := range alice.Calls() {
			if c.Incoming() {
				t.Fatal("alice rang")
			}
		}
	})
	_ = bob
}

func TestCallLimitsAndHangupByCaller(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{MaxCallsPerUser: 1}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	h.user(3, "203", "carol")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	h.phone(t, "bob", pbxtest.PhoneOptions{})
	carol := h.phone(t, "carol", pbxtest.PhoneOptions{})
	first, err := alice.Call("202")
	if err != nil || first.Status() != 200 {
		t.Fatalf("first call %d %v", first.Status(), err)
	}
	second, err := carol.Call("202")
	if err != nil || second.Status() != 486 {
		t.Fatalf("call to a user at the limit: %d %v", second.Status(), err)
	}
	if rec := h.record(t); rec.Disposition != cdr.Busy || rec.SIPCode != 486 || rec.HangupBy != cdr.BySystem {
		t.Fatalf("record %+v", rec)
	}
	third, err := alice.Call("203")
	if err != nil || third.Status() != 403 {
		t.Fatalf("call from a user at the limit: %d %v", third.Status(), err)
	}
	if err := first.Hangup(); err != nil {
		t.Fatal(err)
	}
	recs, err := h.db.ListCDRs(context.Background(), store.CDRFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var first2 cdr.Record
	for _, r := range recs {
		if r.CallID == first.CallID() {
			first2 = r
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for first2.Live() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		first2, _ = h.db.GetCDR(context.Background(), first2.ID)
	}
	if first2.HangupBy != cdr.ByCaller || first2.Disposition != cdr.Answered {
		t.Fatalf("record %+v", first2)
	}
	// the limit is free again
	again, err := carol.Call("202")
	if err != nil || again.Status() != 200 {
		t.Fatalf("after hangup: %d %v", again.Status(), err)
	}
}

func TestRTPTimeoutEndsTheCall(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{Timeout: time.Second})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{Silent: true})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{Silent: true})
	c, err := alice.Call("202")
	if err != nil || c.Status() != 200 {
		t.Fatalf("call %d %v", c.Status(), err)
	}
	if r, err := c.WaitEnded(5 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("caller: %v %v", r, err)
	}
	if r, err := bob.Calls()[0].WaitEnded(2 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("callee: %v %v", r, err)
	}
	rec := h.record(t)
	if rec.Disposition != cdr.Answered || rec.HangupBy != cdr.BySystem || rec.SIPReason != "RTP timeout" {
		t.Fatalf("record %+v", rec)
	}
}

// route sets the outbound route of a dialled number.
func (h *pbxHarness) route(number string, r pbx.OutboundRoute) {
	h.plan.mu.Lock()
	h.plan.outbound[number] = r
	h.plan.mu.Unlock()
}

// provider is a phone playing a provider's trunk: it answers what reaches it.
func (h *pbxHarness) provider(t *testing.T, a pbxtest.Answer) (*pbxtest.Phone, pbx.Trunk) {
	ph := pbxtest.NewPhone(t, pbxtest.PhoneOptions{Username: "provider", Answer: a})
	ap := netip.MustParseAddrPort(ph.Addr())
	return ph, pbx.Trunk{ID: int64(ap.Port()), Name: "provider-" + ap.String(), Kind: "ip", Host: ap.Addr().String(),
		Port: int(ap.Port()), Transport: "udp", CLIPHeader: "pai"}
}

func TestOutboundCallPresentsCLIPAndFailsOver(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	down, downTrunk := h.provider(t, pbxtest.Answer{Mode: pbxtest.Reject, Code: 503})
	up, upTrunk := h.provider(t, pbxtest.Answer{})
	busy, busyTrunk := h.provider(t, pbxtest.Answer{Mode: pbxtest.Reject, Code: 486})
	rpid := upTrunk
	rpid.CLIPHeader, rpid.Username = "rpid", "acct77"
	from := upTrunk
	from.CLIPHeader = "from"
	failover := []int{408, 500, 502, 503, 504}
	clip := "+48221110000"
	h.route("0221234567", pbx.OutboundRoute{
		Decision: routing.Decision{Action: routing.Allow, RuleID: 7, CLIP: &clip, FailoverCodes: failover},
		Trunks: []pbx.TrunkDial{{Trunk: downTrunk, Number: "+48221234567", CLIP: clip},
			{Trunk: upTrunk, Number: "0221234567", CLIP: "0221110000"}}})
	h.route("0221234568", pbx.OutboundRoute{
		Decision: routing.Decision{Action: routing.Allow, RuleID: 8, Withheld: true, FailoverCodes: failover},
		Trunks: []pbx.TrunkDial{{Trunk: busyTrunk, Number: "+48221234568", Asserted: clip},
			{Trunk: upTrunk, Number: "+48221234568", Asserted: clip}}})
	h.route("0221234569", pbx.OutboundRoute{
		Decision: routing.Decision{Action: routing.Allow, RuleID: 9, CLIP: &clip},
		Trunks:   []pbx.TrunkDial{{Trunk: rpid, Number: "+48221234569", CLIP: clip}}})
	h.route("0221234570", pbx.OutboundRoute{
		Decision: routing.Decision{Action: routing.Allow, RuleID: 10, Withheld: true},
		Trunks:   []pbx.TrunkDial{{Trunk: from, Number: "+48221234570", Asserted: clip}}})
	h.route("0700", pbx.OutboundRoute{Decision: routing.Decision{Action: routing.Deny, SIPCode: 603, Reason: "premium numbers"}})

	// 503 from the first trunk: the second carries the call, with the CLIP in P-Asserted-Identity
	c, err := alice.Call("0221234567")
	if err != nil || c.Status() != 200 {
		t.Fatalf("call %d %v", c.Status(), err)
	}
	if n := len(down.Calls()); n != 1 {
		t.Fatalf("first trunk got %d INVITEs", n)
	}
	in := up.Calls()[0]
	inv := in.Invite()
	if inv.Recipient.User != "0221234567" || inv.From().Address.User != "0221110000" ||
		!strings.Contains(in.Header("P-Asserted-Identity"), "sip:0221110000@127.0.0.1") || in.Header("Privacy") != "" {
		t.Fatalf("INVITE to the trunk:\n%s", inv)
	}
	if strings.Contains(inv.String(), "centrala") || strings.Contains(inv.String(), "alice") {
		t.Fatalf("the INVITE leaks internal names:\n%s", inv)
	}
	if err := c.WaitRTP(10, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Direction != cdr.Outbound || rec.Disposition != cdr.Answered || rec.TrunkID == nil || *rec.TrunkID != upTrunk.ID ||
		rec.CLIP == nil || *rec.CLIP != clip || rec.HangupBy != cdr.ByCaller || len(rec.Legs) != 3 {
		t.Fatalf("record %+v", rec)
	}

	// withheld, and 486 is no failover code: the caller gets busy, the second trunk nothing
	before := len(up.Calls())
	c, err = alice.Call("0221234568")
	if err != nil || c.Status() != 486 {
		t.Fatalf("withheld call %d %v", c.Status(), err)
	}
	if len(up.Calls()) != before {
		t.Fatal("failed over on 486")
	}
	inv = busy.Calls()[0].Invite()
	if inv.From().Address.User != "anonymous" || busy.Calls()[0].Header("Privacy") != "id" ||
		!strings.Contains(busy.Calls()[0].Header("P-Asserted-Identity"), clip) {
		t.Fatalf("withheld INVITE:\n%s", inv)
	}
	if rec := h.record(t); rec.Disposition != cdr.Busy || rec.CLIP != nil || *rec.TrunkID != busyTrunk.ID {
		t.Fatalf("record %+v", rec)
	}

	// Remote-Party-ID for a trunk that wants it; From carries the provider account
	c, err = alice.Call("0221234569")
	if err != nil || c.Status() != 200 {
		t.Fatalf("rpid call %d %v", c.Status(), err)
	}
	last := up.Calls()[len(up.Calls())-1]
	if last.Invite().From().Address.User != "acct77" ||
		!strings.Contains(last.Header("Remote-Party-ID"), "sip:"+clip+"@") || !strings.Contains(last.Header("Remote-Party-ID"), "privacy=off") {
		t.Fatalf("rpid INVITE:\n%s", last.Invite())
	}
	_ = c.Hangup()
	h.record(t)

	// withheld on a From trunk: anonymous From, Privacy: id, the number only in PAI
	c, err = alice.Call("0221234570")
	if err != nil || c.Status() != 200 {
		t.Fatalf("from call %d %v", c.Status(), err)
	}
	last = up.Calls()[len(up.Calls())-1]
	if last.Invite().From().Address.Host != "anonymous.invalid" || last.Header("Privacy") != "id" {
		t.Fatalf("withheld From INVITE:\n%s", last.Invite())
	}
	_ = c.Hangup()
	h.record(t)

	// denied by a rule: its code, no trunk tried
	c, err = alice.Call("0700")
	if err != nil || c.Status() != 603 {
		t.Fatalf("denied call %d %v", c.Status(), err)
	}
	if rec := h.record(t); rec.Disposition != cdr.Rejected || rec.SIPCode != 603 {
		t.Fatalf("record %+v", rec)
	}
}

func TestTrunkChannelLimit(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{})
	up, tr := h.provider(t, pbxtest.Answer{})
	tr.MaxCalls = 1
	h.route("0221234567", pbx.OutboundRoute{Decision: routing.Decision{Action: routing.Allow, FailoverCodes: []int{503}},
		Trunks: []pbx.TrunkDial{{Trunk: tr, Number: "0221234567", CLIP: "+48221110000"}}})
	first, err := alice.Call("0221234567")
	if err != nil || first.Status() != 200 {
		t.Fatalf("first %d %v", first.Status(), err)
	}
	if n := h.TrunkChannels(tr.ID); n != 1 {
		t.Fatalf("channels in use %d", n)
	}
	second, err := bob.Call("0221234567")
	if err != nil || second.Status() != 503 {
		t.Fatalf("second %d %v", second.Status(), err)
	}
	if len(up.Calls()) != 1 {
		t.Fatal("the full trunk got a second INVITE")
	}
	_ = first.Hangup()
	h.record(t)
	deadline := time.Now().Add(2 * time.Second)
	for h.TrunkChannels(tr.ID) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.TrunkChannels(tr.ID); n != 0 {
		t.Fatalf("channels in use after hangup %d", n)
	}
}

// TestBaresipAnswersAnInternalCall: a real softphone (baresip) registered to an extension
// answers a call from a colleague; audio flows both ways through the relay.
func TestBaresipAnswersAnInternalCall(t *testing.T) {
	pbxtest.Need(t, "baresip", "baresip-core")
	// baresip 1.0 gives up on any SHA-256 challenge
	h := startPBX(t, pbx.CallConfig{}, media.Config{}, registrar.Config{Algorithms: []string{"MD5"}})
	h.user(1, "201", "alice")
	h.user(2, "202", "bare")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	b := pbxtest.StartBaresip(t, pbxtest.BaresipOptions{Server: h.UDPAddr(), Transport: "udp", User: "bare",
		Password: "bare-secret", Answer: true})
	deadline := time.Now().Add(10 * time.Second)
	for {
		bs, err := h.Store.Lookup(context.Background(), "bare", h.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip did not register:\n%s", b.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := alice.Call("202")
	if err != nil || c.Status() != 200 {
		t.Fatalf("call %d %v\n%s", c.Status(), err, b.Output())
	}
	if err := c.WaitRTP(100, 5*time.Second); err != nil { // 2 s of baresip's sine
		t.Fatalf("%v\n%s", err, b.Output())
	}
	time.Sleep(time.Second)
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Disposition != cdr.Answered || rec.HangupBy != cdr.ByCaller {
		t.Fatalf("record %+v", rec)
	}
	// baresip's own count of what it sent and received through the relay, printed when the
	// call ends: "packets:  <transmit>  <receive>"
	re := regexp.MustCompile(`packets:\s+(\d+)\s+(\d+)`)
	deadline = time.Now().Add(3 * time.Second)
	for re.FindStringSubmatch(b.Output()) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	m := re.FindStringSubmatch(b.Output())
	if m == nil {
		t.Fatalf("no RTP summary from baresip:\n%s", b.Output())
	}
	sent, _ := strconv.Atoi(m[1])
	received, _ := strconv.Atoi(m[2])
	if got := c.Stats().RTP; received < 100 || sent < 100 || got.Received < 100 {
		t.Fatalf("baresip sent %d and received %d packets; the caller received %d and sent %d", sent, received, got.Received, got.Sent)
	}
}

func TestEarlyMediaAndHoldFromTheCallee(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{Answer: pbxtest.Answer{EarlyMedia: true, Delay: time.Second}})
	c, err := alice.Dial("202")
	if err != nil {
		t.Fatal(err)
	}
	// the callee's early media reaches the caller before the answer
	if err := c.WaitRTP(10, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Status() != 0 || !contains(c.Provisional(), 183) {
		t.Fatalf("before the answer: status %d, provisional %v", c.Status(), c.Provisional())
	}
	if code, err := c.WaitFinal(3 * time.Second); err != nil || code != 200 {
		t.Fatalf("final %d %v", code, err)
	}
	in := bob.Calls()[0]
	if err := in.WaitEstablished(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	holdAndUnhold(t, in, c) // from the callee
	before := in.Stats().RTP.Received
	if err := in.WaitRTP(before+10, 2*time.Second); err != nil {
		t.Fatal("no audio after unhold:", err)
	}
}

func TestStoppingTheServerHangsUpCalls(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{})
	c, err := alice.Call("202")
	if err != nil || c.Status() != 200 {
		t.Fatalf("call %d %v", c.Status(), err)
	}
	h.Stop()
	for name, call := range map[string]*pbxtest.PhoneCall{"caller": c, "callee": bob.Calls()[0]} {
		if r, err := call.WaitEnded(3 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
			t.Fatalf("%s: %v %v", name, r, err)
		}
	}
	rec := h.record(t)
	if rec.Disposition != cdr.Answered || rec.HangupBy != cdr.BySystem || rec.SIPReason != "server stopping" {
		t.Fatalf("record %+v", rec)
	}
}

// TestDelayedOffer: a caller's INVITE without SDP gets our offer in the 200 and answers in
// its ACK (RFC 3261 section 13.2.1); audio then flows both ways.
func TestDelayedOffer(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{})
	ua := pbxtest.Dial(t, "udp", h.UDPAddr(), "alice", "alice-secret")
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtpConn.Close()
	ruri, contact := "sip:202@centrala", "Contact: <"+ua.Contact()+">"
	final := func(cseq int) *sip.Response {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			r := ua.Recv(time.Second)
			if r != nil && r.StatusCode >= 200 && int(r.CSeq().SeqNo) == cseq {
				return r
			}
		}
		t.Fatalf("no final response to CSeq %d", cseq)
		return nil
	}
	ua.Send(ua.Request("INVITE", ruri, contact))
	challenge := final(1)
	if challenge.StatusCode != 407 {
		t.Fatalf("first INVITE: %d", challenge.StatusCode)
	}
	ua.Send(ua.Request("INVITE", ruri, contact,
		"Proxy-Authorization: "+ua.Authorization(pbxtest.Challenge(challenge, "MD5"), "INVITE", ruri)))
	ok := final(2)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE: %d\n%s", ok.StatusCode, ok)
	}
	offer, err := media.Parse(ok.Body())
	if err != nil || offer.Audio() == nil {
		t.Fatalf("the 200 carries no offer: %v\n%s", err, ok)
	}
	local := netip.MustParseAddrPort(rtpConn.LocalAddr().String())
	answer, err := media.NewAnswer(offer, media.Local{Addr: local, Codecs: []media.Codec{media.PCMU}, DTMF: true, SessionID: 1, SessionVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	sdp := answer.Marshal()
	toTag, _ := ok.To().Params.Get("tag")
	// inDialog builds a request of the caller's dialog, as its raw SIP text.
	inDialog := func(method string, cseq int, sdp []byte, headers ...string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@centrala>;tag=%s\r\nTo: <sip:alice@centrala>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n",
			method, ok.Contact().Address.String(), ua.Local, pbxtest.Rand(), ua.FromTag, toTag, ua.CallID, cseq, method)
		for _, h := range headers {
			b.WriteString(h + "\r\n")
		}
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
		return []byte(b.String())
	}
	ack := inDialog("ACK", 2, sdp)
	ua.Send(ack)
	in, err := bob.WaitIncoming(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// our PCMU reaches bob, bob's audio reaches us
	dst := net.UDPAddrFromAddrPort(offer.AudioAddr())
	for seq := uint16(1); seq <= 20; seq++ {
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[11] = 7
		if _, err := rtpConn.WriteToUDP(pkt, dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := in.WaitRTP(10, 2*time.Second); err != nil {
		t.Fatal("bob hears nothing:", err)
	}
	_ = rtpConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	if n, _, err := rtpConn.ReadFromUDP(buf); err != nil || n < 12 || buf[1]&0x7f != 0 {
		t.Fatalf("no PCMU from bob: %d bytes, %v", n, err)
	}

	// UPDATE with a new address (RFC 3311): answered on this leg, bob's audio follows
	moved, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	sdp = media.NewOffer(media.Local{Addr: netip.MustParseAddrPort(moved.LocalAddr().String()),
		Codecs: []media.Codec{media.PCMU}, DTMF: true, SessionID: 1, SessionVersion: 2}).Marshal()
	update := inDialog("UPDATE", 3, sdp, contact)
	ua.Send(update)
	if r := final(3); r.StatusCode != 200 || len(r.Body()) == 0 {
		t.Fatalf("UPDATE: %d\n%s", r.StatusCode, r)
	}
	for seq := uint16(30); seq <= 40; seq++ { // the relay latches on the new source
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1], pkt[2], pkt[3], pkt[11] = 0x80, 0, byte(seq>>8), byte(seq), 7
		_, _ = moved.WriteToUDP(pkt, dst)
		time.Sleep(20 * time.Millisecond)
	}
	_ = moved.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := moved.ReadFromUDP(buf); err != nil || n < 12 {
		t.Fatalf("bob's audio did not follow the UPDATE: %v", err)
	}
}

// A caller registered over TCP (behind NAT: nothing listens at its Contact) gets every
// request of its call on its connection: the callee's BYE reaches it.
func TestCallerOverTCP(t *testing.T) {
	h := startPBX(t, pbx.CallConfig{}, media.Config{})
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{Transport: "tcp"})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{})
	c, err := alice.Call("202")
	if err != nil || c.Status() != 200 {
		t.Fatalf("call %d %v", c.Status(), err)
	}
	if err := c.WaitRTP(10, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bob.Calls()[0].Hangup(); err != nil {
		t.Fatal(err)
	}
	if r, err := c.WaitEnded(3 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
		t.Fatalf("caller over TCP: %v %v", r, err)
	}
}
