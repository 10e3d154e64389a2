package pbxtest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/media"
)

const phoneWait = 3 * time.Second

// phonePair is a callee and a caller whose "server" is the callee itself: no PBX between.
func phonePair(t *testing.T, transport string, answer Answer) (caller, callee *Phone) {
	t.Helper()
	callee = NewPhone(t, PhoneOptions{Username: "bob", Transport: transport, Answer: answer})
	caller = NewPhone(t, PhoneOptions{Username: "alice", DisplayName: "Alice", Transport: transport, Server: callee.Addr()})
	return caller, callee
}

// establishCall places a call from caller to callee and returns both ends once ACKed.
func establishCall(t *testing.T, caller, callee *Phone, hs ...sip.Header) (out, in *PhoneCall) {
	t.Helper()
	out, err := caller.Call("bob", hs...)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if out.Status() != 200 {
		t.Fatalf("call answered %d, want 200", out.Status())
	}
	if in, err = callee.WaitIncoming(phoneWait); err != nil {
		t.Fatal(err)
	}
	if err := out.WaitEstablished(phoneWait); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(phoneWait); err != nil {
		t.Fatal(err)
	}
	return out, in
}

func TestPhoneCallMediaDTMFHoldHangup(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		for _, byCaller := range []bool{true, false} {
			name := transport + "/callee-hangs-up"
			if byCaller {
				name = transport + "/caller-hangs-up"
			}
			t.Run(name, func(t *testing.T) {
				caller, callee := phonePair(t, transport, Answer{Mode: AutoAnswer, Delay: 50 * time.Millisecond})
				out, in := establishCall(t, caller, callee,
					sip.NewHeader("P-Asserted-Identity", "\"Alice\" <sip:alice@example.com>"), sip.NewHeader("Privacy", "id"))

				// signalling as the callee saw it
				if codes := out.Provisional(); !slices.Contains(codes, 180) {
					t.Errorf("provisional responses %v, want a 180", codes)
				}
				inv := in.Invite()
				if inv.Recipient.User != "bob" || inv.From().Address.User != "alice" || inv.From().DisplayName != "Alice" {
					t.Errorf("INVITE %s from %s", inv.Recipient.String(), inv.From().Value())
				}
				if got := in.Header("P-Asserted-Identity"); got != "\"Alice\" <sip:alice@example.com>" {
					t.Errorf("P-Asserted-Identity %q", got)
				}
				if got := in.Header("Privacy"); got != "id" {
					t.Errorf("Privacy %q", got)
				}
				if in.CallID() != out.CallID() {
					t.Errorf("Call-IDs %s and %s", in.CallID(), out.CallID())
				}
				totag, _ := out.FinalResponse().To().Params.Get("tag")
				if ringTag, _ := out.Responses()[len(out.Responses())-2].To().Params.Get("tag"); ringTag != totag || totag == "" {
					t.Errorf("To tag of 180 %q, of 200 %q: want the same", ringTag, totag)
				}
				if want := "sip:bob@" + callee.Addr(); !strings.HasPrefix(out.FinalResponse().Contact().Address.String(), want) {
					t.Errorf("callee Contact %s, want %s", out.FinalResponse().Contact().Address.String(), want)
				}

				// RTP both ways, to the addresses of the SDP, with the tone
				for _, c := range []*PhoneCall{out, in} {
					if err := c.WaitRTP(20, phoneWait); err != nil {
						t.Fatalf("incoming=%v: %v", c.Incoming(), err)
					}
				}
				os, is := out.Stats(), in.Stats()
				if os.RemoteRTP != is.RTP.Local || is.RemoteRTP != os.RTP.Local {
					t.Errorf("remote RTP addresses %v and %v, local %v and %v", os.RemoteRTP, is.RemoteRTP, os.RTP.Local, is.RTP.Local)
				}
				if os.RTP.Source != is.RTP.Local || is.RTP.Source != os.RTP.Local {
					t.Errorf("RTP came from %v and %v, want %v and %v (symmetric)", os.RTP.Source, is.RTP.Source, is.RTP.Local, os.RTP.Local)
				}
				for _, s := range []CallStats{os, is} {
					if s.Codec.Name != "PCMU" || s.Codec.PayloadType != 0 || s.DTMFPayloadType != media.DTMFPayloadType {
						t.Errorf("codec %+v, telephone-event %d", s.Codec, s.DTMFPayloadType)
					}
					if s.RTP.ReceivedByPT[0] < 20 || s.RTP.Tones < 20 || s.RTP.SentByPT[0] == 0 || s.RTP.Invalid != 0 {
						t.Errorf("incoming=%v stats %+v", s.Incoming, s.RTP)
					}
				}

				// DTMF both ways
				if err := out.SendDTMF("12#A"); err != nil {
					t.Fatal(err)
				}
				if err := in.WaitDTMF("12#A", phoneWait); err != nil {
					t.Fatal(err)
				}
				if err := in.SendDTMF("*09"); err != nil {
					t.Fatal(err)
				}
				if err := out.WaitDTMF("*09", phoneWait); err != nil {
					t.Fatal(err)
				}
				if got := in.Stats().RTP.DTMFReceived; got != "12#A" {
					t.Errorf("callee received digits %q, want 12#A (one per event)", got)
				}
				if got := out.Stats().RTP.DTMFSent; got != "12#A" {
					t.Errorf("caller sent digits %q", got)
				}
				if n := in.Stats().RTP.ReceivedByPT[media.DTMFPayloadType]; n != 4*(dtmfUpdates+dtmfEnds) {
					t.Errorf("callee received %d telephone-event packets, want %d", n, 4*(dtmfUpdates+dtmfEnds))
				}

				// hold: the caller offers sendonly, the callee answers recvonly and goes quiet
				if code, err := out.Hold(true); err != nil || code != 200 {
					t.Fatalf("hold: %d %v", code, err)
				}
				is = in.Stats()
				if is.RemoteDirection != media.SendOnly || is.LocalDirection != media.RecvOnly || !is.HeldByRemote {
					t.Errorf("callee after hold: remote %v local %v held %v", is.RemoteDirection, is.LocalDirection, is.HeldByRemote)
				}
				if os := out.Stats(); os.LocalDirection != media.SendOnly || os.RemoteDirection != media.RecvOnly {
					t.Errorf("caller after hold: local %v remote %v", os.LocalDirection, os.RemoteDirection)
				}
				time.Sleep(3 * frameInterval)
				sentHeld := in.Stats().RTP.Sent
				before := out.Stats().RTP.Received
				time.Sleep(10 * frameInterval)
				if n := in.Stats().RTP.Sent; n != sentHeld {
					t.Errorf("held callee sent %d packets", n-sentHeld)
				}
				if n := out.Stats().RTP.Received; n-before > 1 {
					t.Errorf("holding caller received %d packets", n-before)
				}
				if err := in.SendDTMF("5"); err == nil {
					t.Error("a held callee sent DTMF")
				}
				if code, err := out.Hold(false); err != nil || code != 200 {
					t.Fatalf("unhold: %d %v", code, err)
				}
				if is := in.Stats(); is.RemoteDirection != media.SendRecv || is.HeldByRemote || len(is.ReinvitesIn) != 2 {
					t.Errorf("callee after unhold: %+v", is)
				}
				if err := out.WaitRTP(out.Stats().RTP.Received+10, phoneWait); err != nil {
					t.Errorf("after unhold: %v", err)
				}

				// the callee holds with inactive
				if code, err := in.Reinvite(media.Inactive); err != nil || code != 200 {
					t.Fatalf("callee re-INVITE: %d %v", code, err)
				}
				if os := out.Stats(); os.RemoteDirection != media.Inactive || os.LocalDirection != media.Inactive {
					t.Errorf("caller after inactive offer: %+v", os)
				}
				if code, err := in.Hold(false); err != nil || code != 200 {
					t.Fatalf("callee unhold: %d %v", code, err)
				}

				// hang up
				hanger, other := out, in
				if !byCaller {
					hanger, other = in, out
				}
				if err := hanger.Hangup(); err != nil {
					t.Fatal(err)
				}
				if r, err := other.WaitEnded(phoneWait); err != nil || r != EndRemoteHangup {
					t.Fatalf("other side: %s %v", r, err)
				}
				if r := hanger.EndReason(); r != EndLocalHangup {
					t.Errorf("hanging side: %s", r)
				}
				sent := other.Stats().RTP.Sent
				time.Sleep(3 * frameInterval)
				if n := other.Stats().RTP.Sent; n != sent {
					t.Errorf("%d packets sent after the call ended", n-sent)
				}
				if err := hanger.Hangup(); err == nil {
					t.Error("second hangup did not fail")
				}
			})
		}
	}
}

func TestPhoneCancelWhileRinging(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			caller, callee := phonePair(t, transport, Answer{Mode: NeverAnswer})
			out, err := caller.Dial("bob")
			if err != nil {
				t.Fatal(err)
			}
			in, err := callee.WaitIncoming(phoneWait)
			if err != nil {
				t.Fatal(err)
			}
			ring, err := out.WaitRinging(phoneWait)
			if err != nil || ring.StatusCode != 180 {
				t.Fatalf("ringing: %v %v", ring, err)
			}
			if err := out.Cancel(); err != nil {
				t.Fatal(err)
			}
			if code, err := out.WaitFinal(phoneWait); err != nil || code != 487 {
				t.Fatalf("final %d %v, want 487", code, err)
			}
			if r := out.EndReason(); r != EndLocalCancel {
				t.Errorf("caller end reason %s", r)
			}
			if r, err := in.WaitEnded(phoneWait); err != nil || r != EndRemoteCancel || in.Status() != 487 {
				t.Errorf("callee: %s %v status %d", r, err, in.Status())
			}
			ringTag, _ := ring.To().Params.Get("tag")
			endTag, _ := out.FinalResponse().To().Params.Get("tag")
			if ringTag == "" || ringTag != endTag {
				t.Errorf("To tag of 180 %q, of 487 %q", ringTag, endTag)
			}
			if err := out.Cancel(); err == nil {
				t.Error("second CANCEL did not fail")
			}
		})
	}
}

func TestPhoneReject(t *testing.T) {
	caller, callee := phonePair(t, "udp", Answer{Mode: Reject})
	out, err := caller.Call("bob")
	if err != nil {
		t.Fatal(err)
	}
	if out.Status() != 486 || out.EndReason() != EndRejected {
		t.Errorf("status %d, end %s; want 486 rejected", out.Status(), out.EndReason())
	}
	in, err := callee.WaitIncoming(phoneWait)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status() != 486 || in.EndReason() != EndRejected {
		t.Errorf("callee: status %d end %s", in.Status(), in.EndReason())
	}

	callee.SetAnswer(Answer{Mode: Reject, Code: 603})
	if out, err = caller.Call("bob"); err != nil || out.Status() != 603 {
		t.Errorf("status %d %v, want 603", out.Status(), err)
	}
	if in, err = callee.WaitIncoming(phoneWait); err != nil || in.Status() != 603 {
		t.Fatalf("callee: %v", err)
	}

	// NeverAnswer rings until the test decides
	callee.SetAnswer(Answer{Mode: NeverAnswer})
	out, err = caller.Dial("bob")
	if err != nil {
		t.Fatal(err)
	}
	if in, err = callee.WaitIncoming(phoneWait); err != nil {
		t.Fatal(err)
	}
	if _, err := out.WaitRinging(phoneWait); err != nil {
		t.Fatal(err)
	}
	if err := in.Reject(480); err != nil {
		t.Fatal(err)
	}
	if code, err := out.WaitFinal(phoneWait); code != 480 || err != nil {
		t.Errorf("final %d %v, want 480", code, err)
	}
	out, _ = caller.Dial("bob")
	if in, err = callee.WaitIncoming(phoneWait); err != nil {
		t.Fatal(err)
	}
	if _, err := out.WaitRinging(phoneWait); err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := out.WaitEstablished(phoneWait); err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(); err == nil {
		t.Error("answered twice")
	}
}

func TestPhoneCodecPreference(t *testing.T) {
	for _, tc := range []struct {
		name           string
		caller, callee []media.Codec
		status         int
		codec          string
	}{
		{"callee prefers PCMA", []media.Codec{media.PCMU, media.PCMA}, []media.Codec{media.PCMA, media.PCMU}, 200, "PCMA"},
		{"only common", []media.Codec{media.PCMA, media.PCMU}, []media.Codec{media.PCMU}, 200, "PCMU"},
		{"none common", []media.Codec{media.PCMU}, []media.Codec{media.PCMA}, 488, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			callee := NewPhone(t, PhoneOptions{Username: "bob", Codecs: tc.callee})
			caller := NewPhone(t, PhoneOptions{Username: "alice", Server: callee.Addr(), Codecs: tc.caller, NoDTMF: true})
			out, err := caller.Call("bob")
			if err != nil || out.Status() != tc.status {
				t.Fatalf("status %d %v, want %d", out.Status(), err, tc.status)
			}
			if tc.status != 200 {
				return
			}
			in, _ := callee.WaitIncoming(phoneWait)
			for _, c := range []*PhoneCall{out, in} {
				if err := c.WaitRTP(10, phoneWait); err != nil {
					t.Fatal(err)
				}
				s := c.Stats()
				if s.Codec.Name != tc.codec || s.RTP.Tones < 10 || s.DTMFPayloadType != media.NoDTMF {
					t.Errorf("incoming=%v: codec %+v tones %d dtmf %d", c.Incoming(), s.Codec, s.RTP.Tones, s.DTMFPayloadType)
				}
				if s.RTP.ReceivedByPT[s.Codec.PayloadType] != s.RTP.Received {
					t.Errorf("received %v", s.RTP.ReceivedByPT)
				}
			}
			if err := out.SendDTMF("1"); err == nil {
				t.Error("DTMF sent without telephone-event")
			}
		})
	}
}

func TestPhoneEarlyMediaAndSilent(t *testing.T) {
	callee := NewPhone(t, PhoneOptions{Username: "bob", Answer: Answer{Mode: NeverAnswer, EarlyMedia: true}})
	caller := NewPhone(t, PhoneOptions{Username: "alice", Server: callee.Addr(), Silent: true})
	out, err := caller.Dial("bob")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := out.WaitRinging(phoneWait)
	if err != nil || ring.StatusCode != 183 || len(ring.Body()) == 0 {
		t.Fatalf("ringing %v %v, want 183 with SDP", ring, err)
	}
	if err := out.WaitRTP(10, phoneWait); err != nil { // early media from the callee
		t.Fatal(err)
	}
	in, _ := callee.WaitIncoming(phoneWait)
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(phoneWait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * frameInterval)
	if n := in.Stats().RTP.Received; n != 0 {
		t.Errorf("a silent caller sent %d packets", n)
	}
	if err := out.SendDTMF("7"); err != nil { // DTMF goes even when silent
		t.Fatal(err)
	}
	if err := in.WaitDTMF("7", phoneWait); err != nil {
		t.Fatal(err)
	}
	out.Mute(false)
	if err := in.WaitRTP(10, phoneWait); err != nil {
		t.Fatal(err)
	}
}

// A server that challenges INVITEs with 407 and checks the answer with pbx/digest's verifier,
// then declines: the phone answers once, with a new CSeq on the same Call-ID.
func TestPhoneProxyAuthentication(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.MD5, digest.SHA256} {
		t.Run(string(alg), func(t *testing.T) {
			verifier := digest.NewVerifier("centrala", []byte("0123456789abcdef0123"), time.Minute, []digest.Algorithm{digest.SHA256, digest.MD5})
			var mu sync.Mutex
			var invites []*sip.Request
			var outcome digest.Outcome = -1
			addr := startFakeServer(t, func(req *sip.Request, tx sip.ServerTransaction) {
				mu.Lock()
				invites = append(invites, req)
				mu.Unlock()
				h := req.GetHeader("Proxy-Authorization")
				if h == nil {
					res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
					for _, ch := range verifier.Challenges(time.Now(), false) {
						res.AppendHeader(sip.NewHeader("Proxy-Authenticate", ch))
					}
					_ = tx.Respond(res)
					return
				}
				creds, err := digest.ParseCredentials(h.Value())
				mu.Lock()
				if err == nil && creds.Algorithm == alg && creds.URI == req.Recipient.String() {
					outcome = verifier.Check(creds, "INVITE", digest.HA1(alg, "alice", "centrala", "secret"), time.Now())
				}
				mu.Unlock()
				_ = tx.Respond(sip.NewResponseFromRequest(req, 603, "Decline", nil))
			})
			caller := NewPhone(t, PhoneOptions{Username: "alice", Password: "secret", Server: addr, Algorithm: alg})
			out, err := caller.Call("200")
			if err != nil {
				t.Fatal(err)
			}
			if out.Status() != 603 {
				t.Fatalf("status %d, want 603", out.Status())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(invites) != 2 {
				t.Fatalf("%d INVITEs, want 2", len(invites))
			}
			a, b := invites[0], invites[1]
			if a.CallID().Value() != b.CallID().Value() || b.CSeq().SeqNo != a.CSeq().SeqNo+1 || a.Via().Params.GetOr("branch", "") == b.Via().Params.GetOr("branch", "") {
				t.Errorf("second INVITE: Call-ID %s/%s CSeq %d/%d branch %v/%v", a.CallID().Value(), b.CallID().Value(),
					a.CSeq().SeqNo, b.CSeq().SeqNo, a.Via().Params, b.Via().Params)
			}
			if outcome != digest.OK {
				t.Errorf("digest check: %v", outcome)
			}
			codes := []int{}
			for _, r := range out.Responses() {
				codes = append(codes, r.StatusCode)
			}
			if codes[0] != 407 || codes[len(codes)-1] != 603 {
				t.Errorf("responses %v", codes)
			}
		})
	}
}

// startFakeServer runs a sipgo UAS on 127.0.0.1 UDP with an INVITE handler until the test ends.
func startFakeServer(t *testing.T, onInvite sipgo.RequestHandler) string {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnInvite(onInvite)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		conn.Close()
		_ = ua.Close()
		<-done
	})
	for deadline := time.Now().Add(phoneWait); ua.TransportLayer().Pool("udp").Size() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return conn.LocalAddr().String()
}

func TestPhoneRegister(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		for _, alg := range []digest.Algorithm{"", digest.SHA256} {
			t.Run(transport+"/"+string(alg), func(t *testing.T) {
				e := StartEngine(t, EngineOptions{Accounts: Accounts{"alice": NewAccount("alice", "secret", 5)}})
				server := e.UDPAddr()
				if transport == "tcp" {
					server = e.TCPAddr()
				}
				p := NewPhone(t, PhoneOptions{Username: "alice", Password: "secret", Server: server, Transport: transport, Algorithm: alg})
				res, err := p.Register(300)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("REGISTER: %v %v", res, err)
				}
				bs, err := e.Store.Lookup(context.Background(), "alice", e.Clock.Now())
				if err != nil || len(bs) != 1 {
					t.Fatalf("bindings %v %v", bs, err)
				}
				if !strings.Contains(bs[0].Contact, p.Addr()) || bs[0].Transport != transport {
					t.Errorf("binding %+v, phone at %s", bs[0], p.Addr())
				}
				if src, _ := netip.ParseAddrPort(bs[0].Source); src.String() != p.Addr() {
					t.Errorf("REGISTER came from %s, phone at %s", bs[0].Source, p.Addr())
				}
				if res, err := p.Register(0); err != nil || res.StatusCode != 200 {
					t.Fatalf("unREGISTER: %v %v", res, err)
				}
				if bs, _ := e.Store.Lookup(context.Background(), "alice", e.Clock.Now()); len(bs) != 0 {
					t.Errorf("bindings after unREGISTER: %v", bs)
				}
				bad := NewPhone(t, PhoneOptions{Username: "alice", Password: "wrong", Server: server, Transport: transport})
				if res, err := bad.Register(300); err != nil || res.StatusCode != 401 {
					t.Errorf("wrong password: %v %v", res, err)
				}
			})
		}
	}
}

// Phones leave no goroutine behind once their test's cleanup ran.
func TestPhoneNoLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			caller, callee := phonePair(t, transport, Answer{Mode: AutoAnswer})
			out, in := establishCall(t, caller, callee)
			if err := in.WaitRTP(5, phoneWait); err != nil {
				t.Fatal(err)
			}
			_ = out
			// a ringing call left to the cleanup
			callee.SetAnswer(Answer{Mode: NeverAnswer})
			if _, err := caller.Dial("bob"); err != nil {
				t.Fatal(err)
			}
			if _, err := callee.WaitIncoming(phoneWait); err != nil {
				t.Fatal(err)
			}
		})
	}
	goleak.VerifyNone(t, ignore)
}

// sipSocket is a UDP socket for SIP messages a test writes itself.
type sipSocket struct {
	t    *testing.T
	conn net.PacketConn
}

func newSIPSocket(t *testing.T) *sipSocket {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipSocket{t: t, conn: conn}
}

func (s *sipSocket) addr() string { return s.conn.LocalAddr().String() }

func (s *sipSocket) send(to, msg string) {
	s.t.Helper()
	a, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.conn.WriteTo([]byte(msg), a); err != nil {
		s.t.Fatal(err)
	}
}

// recv returns the next message other than 100 Trying.
func (s *sipSocket) recv() sip.Message {
	s.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(phoneWait))
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			s.t.Fatalf("%s: nothing received: %v", s.addr(), err)
		}
		m, err := sip.NewParser().ParseSIP(buf[:n])
		if err != nil {
			s.t.Fatalf("unparsable: %v\n%s", err, buf[:n])
		}
		if r, ok := m.(*sip.Response); ok && r.StatusCode == 100 {
			continue
		}
		return m
	}
}

func (s *sipSocket) recvRequest(method sip.RequestMethod) *sip.Request {
	s.t.Helper()
	m := s.recv()
	r, ok := m.(*sip.Request)
	if !ok || r.Method != method {
		s.t.Fatalf("got %s, want a %s", strings.SplitN(m.String(), "\r\n", 2)[0], method)
	}
	return r
}

func routeValues(r *sip.Request) []string {
	var out []string
	for _, h := range r.GetHeaders("Route") {
		out = append(out, h.Value())
	}
	return out
}

// The phone as callee keeps the INVITE's Record-Route as its route set (in order) and the
// caller's Contact as remote target: its BYE goes to the first route.
func TestPhoneRouteSetAsCallee(t *testing.T) {
	callee := NewPhone(t, PhoneOptions{Username: "bob"})
	uac, proxy, rtp := newSIPSocket(t), newSIPSocket(t), newSIPSocket(t)
	sdp := media.NewOffer(media.Local{Addr: netip.MustParseAddrPort(rtp.addr()), Codecs: []media.Codec{media.PCMU}}).Marshal()
	head := func(method, ruri, branch, toTag string, cseq int) string {
		to := "<sip:bob@test>"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return method + " " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + uac.addr() + ";branch=z9hG4bK" + branch + ";rport\r\n" +
			"Max-Forwards: 70\r\nFrom: \"Carol\" <sip:carol@test>;tag=c1\r\nTo: " + to + "\r\nCall-ID: rr-callee@test\r\n" +
			"CSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n"
	}
	uac.send(callee.Addr(), head("INVITE", "sip:bob@"+callee.Addr(), "inv1", "", 1)+
		"Record-Route: <sip:"+proxy.addr()+";lr>, <sip:127.0.0.1:9;lr>\r\nContact: <sip:carol@"+uac.addr()+">\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: "+strconv.Itoa(len(sdp))+"\r\n\r\n"+string(sdp))
	ring := uac.recv().(*sip.Response)
	ok := uac.recv().(*sip.Response)
	if ring.StatusCode != 180 || ok.StatusCode != 200 {
		t.Fatalf("responses %d %d", ring.StatusCode, ok.StatusCode)
	}
	if got := len(ok.GetHeaders("Record-Route")); got != 2 {
		t.Errorf("200 carries %d Record-Route values, want the INVITE's 2", got)
	}
	tag, _ := ok.To().Params.Get("tag")
	uac.send(callee.Addr(), head("ACK", "sip:bob@"+callee.Addr(), "ack1", tag, 1)+"Content-Length: 0\r\n\r\n")
	in, err := callee.WaitIncoming(phoneWait)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitEstablished(phoneWait); err != nil {
		t.Fatal(err)
	}
	if in.Invite().From().DisplayName != "Carol" {
		t.Errorf("From %s", in.Invite().From().Value())
	}
	errc := make(chan error, 1)
	go func() { errc <- in.Hangup() }()
	bye := proxy.recvRequest(sip.BYE)
	if got, want := bye.Recipient.String(), "sip:carol@"+uac.addr(); got != want {
		t.Errorf("BYE Request-URI %s, want the Contact %s", got, want)
	}
	if got, want := routeValues(bye), []string{"<sip:" + proxy.addr() + ";lr>", "<sip:127.0.0.1:9;lr>"}; !slices.Equal(got, want) {
		t.Errorf("BYE Route %v, want %v", got, want)
	}
	if from, _ := bye.From().Params.Get("tag"); from != tag {
		t.Errorf("BYE From tag %q, want %q", from, tag)
	}
	if to, _ := bye.To().Params.Get("tag"); to != "c1" || bye.CallID().Value() != "rr-callee@test" {
		t.Errorf("BYE To %s Call-ID %s", bye.To().Value(), bye.CallID().Value())
	}
	proxy.send(callee.Addr(), sip.NewResponseFromRequest(bye, 200, "OK", nil).String())
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// The phone as caller reverses the 2xx's Record-Route into its route set: ACK and BYE go to
// the proxy nearest to it, with the callee's Contact as Request-URI.
func TestPhoneRouteSetAsCaller(t *testing.T) {
	proxy := newSIPSocket(t)
	contact := "sip:uas@127.0.0.1:7"
	addr := startFakeServer(t, func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Record-Route", "<sip:127.0.0.1:9;lr>, <sip:"+proxy.addr()+";lr>"))
		res.AppendHeader(sip.NewHeader("Contact", "<"+contact+">"))
		_ = tx.Respond(res)
	})
	caller := NewPhone(t, PhoneOptions{Username: "alice", Server: addr})
	out, err := caller.Call("bob")
	if err != nil || out.Status() != 200 {
		t.Fatalf("call: %d %v", out.Status(), err)
	}
	want := []string{"<sip:" + proxy.addr() + ";lr>", "<sip:127.0.0.1:9;lr>"}
	ack := proxy.recvRequest(sip.ACK)
	if ack.Recipient.String() != contact || !slices.Equal(routeValues(ack), want) || ack.CSeq().SeqNo != out.Invite().CSeq().SeqNo {
		t.Errorf("ACK %s Route %v CSeq %d", ack.Recipient.String(), routeValues(ack), ack.CSeq().SeqNo)
	}
	errc := make(chan error, 1)
	go func() { errc <- out.Hangup() }()
	bye := proxy.recvRequest(sip.BYE)
	if bye.Recipient.String() != contact || !slices.Equal(routeValues(bye), want) || bye.CSeq().SeqNo != out.Invite().CSeq().SeqNo+1 {
		t.Errorf("BYE %s Route %v CSeq %d", bye.Recipient.String(), routeValues(bye), bye.CSeq().SeqNo)
	}
	totag, _ := out.FinalResponse().To().Params.Get("tag")
	if tag, _ := bye.To().Params.Get("tag"); tag != totag {
		t.Errorf("BYE To tag %q, want %q", tag, totag)
	}
	proxy.send(caller.Addr(), sip.NewResponseFromRequest(bye, 200, "OK", nil).String())
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
