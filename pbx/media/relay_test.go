package media

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/zaf/g711"
)

const recvWait = 2 * time.Second

func pcmuAt(pt uint8) Codec { c := PCMU; c.PayloadType = pt; return c }

// TestRelayTwoWay: two phones talk through a relay; each receives exactly what the other
// sent (payload converted when the laws differ), with SSRC, sequence and timestamp intact,
// from the relay address it was given.
func TestRelayTwoWay(t *testing.T) {
	const n = 50
	cases := []struct {
		name   string
		a, b   Codec
		toB    func([]byte) []byte // what B must receive for A's payload
		toA    func([]byte) []byte
		pcmLaw [2]string
	}{
		{name: "PCMU both", a: PCMU, b: PCMU, toB: same, toA: same},
		{name: "PCMA both", a: PCMA, b: PCMA, toB: same, toA: same},
		{name: "PCMU to PCMA", a: PCMU, b: PCMA, toB: g711.Ulaw2Alaw, toA: g711.Alaw2Ulaw},
		{name: "PCMA to PCMU", a: PCMA, b: PCMU, toB: g711.Alaw2Ulaw, toA: g711.Ulaw2Alaw},
		{name: "PCMU on a dynamic payload type", a: PCMU, b: pcmuAt(97), toB: same, toA: same},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			r := newTestRelay(t, m)
			pa, pb := newPhone(t), newPhone(t)
			require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: tc.a, DTMFPT: NoDTMF}))
			require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: tc.b, DTMFPT: NoDTMF}))

			for i := 1; i <= n; i++ {
				pa.send(legAddr(r, LegA), audio(tc.a.PayloadType, 0xA, uint16(i)))
				pb.send(legAddr(r, LegB), audio(tc.b.PayloadType, 0xB, uint16(1000+i)))
			}
			check := func(to *phone, from Leg, ssrc uint32, firstSeq uint16, pt uint8, conv func([]byte) []byte) {
				t.Helper()
				for i := 1; i <= n; i++ {
					got, src, err := to.recv(recvWait)
					require.NoError(t, err, "packet %d of %d", i, n)
					require.Equal(t, legAddr(r, from.other()), src, "symmetric: sent from the address in the SDP")
					sent := audio(0, ssrc, firstSeq+uint16(i))
					require.Equal(t, sent.SSRC, got.SSRC)
					require.Equal(t, sent.SequenceNumber, got.SequenceNumber)
					require.Equal(t, sent.Timestamp, got.Timestamp)
					require.Equal(t, sent.Marker, got.Marker)
					require.Equal(t, pt, got.PayloadType)
					require.Equal(t, conv(sent.Payload), got.Payload)
				}
			}
			check(pb, LegA, 0xA, 0, tc.b.PayloadType, tc.toB)
			check(pa, LegB, 0xB, 1000, tc.a.PayloadType, tc.toA)

			st := r.waitStats(t, func(s Stats) bool { return s.A.Packets == n && s.B.Packets == n })
			for _, ls := range []LegStats{st.A, st.B} {
				require.EqualValues(t, n, ls.Packets)
				require.EqualValues(t, n*(12+160), ls.Bytes)
				require.Zero(t, ls.Lost)
				require.Equal(t, [NumDropReasons]uint64{}, ls.Dropped)
				require.WithinDuration(t, time.Now(), ls.LastPacket, 5*time.Second)
			}
			require.Equal(t, pa.addr, st.A.Remote)
			require.Equal(t, pb.addr, st.B.Remote)
		})
	}
}

func same(b []byte) []byte { return b }

// TestRelayWildcardBind: with the default rtp_bind_addr 0.0.0.0 the sockets are dual-stack;
// IPv4 phones are still seen, latched and reported with their IPv4 addresses.
func TestRelayWildcardBind(t *testing.T) {
	cfg := testConfig()
	cfg.BindAddr = "0.0.0.0"
	m := newTestManager(t, cfg)
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	lo := netip.MustParseAddr("127.0.0.1")
	pa.send(netip.AddrPortFrom(lo, uint16(r.Port(LegA))), audio(0, 0xA, 1))
	pb.send(netip.AddrPortFrom(lo, uint16(r.Port(LegB))), audio(0, 0xB, 1))
	require.EqualValues(t, 0xA, pb.mustRecv(recvWait).SSRC)
	require.EqualValues(t, 0xB, pa.mustRecv(recvWait).SSRC)
	st := r.Stats()
	require.Equal(t, pa.addr, st.A.Remote)
	require.True(t, st.A.Latched)
	require.Equal(t, pb.addr, st.B.Remote)
}

// TestRelayIPv6: bound to ::1, the relay carries IPv6 phones; on the dual-stack wildcard
// socket an IPv6 phone talks to an IPv4 one.
func TestRelayIPv6(t *testing.T) {
	lo6 := netip.MustParseAddr("::1")
	c, err := listenUDP(netip.AddrPortFrom(lo6, 0))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	_ = c.Close()
	phone6 := func() *phone {
		c, err := listenUDP(netip.AddrPortFrom(lo6, 0))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return &phone{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
	}
	for _, tc := range []struct {
		bind string
		a, b *phone
	}{{"::1", phone6(), phone6()}, {"0.0.0.0", phone6(), newPhone(t)}} {
		t.Run(tc.bind, func(t *testing.T) {
			cfg := testConfig()
			cfg.BindAddr = tc.bind
			r := newTestRelay(t, newTestManager(t, cfg))
			require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: tc.a.addr, Codec: PCMU, DTMFPT: NoDTMF}))
			require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: tc.b.addr, Codec: PCMU, DTMFPT: NoDTMF}))
			to := func(p *phone, l Leg) netip.AddrPort {
				return netip.AddrPortFrom(p.addr.Addr(), uint16(r.Port(l)))
			}
			tc.a.send(to(tc.a, LegA), audio(0, 0xA, 1))
			tc.b.send(to(tc.b, LegB), audio(0, 0xB, 1))
			got, src, err := tc.b.recv(recvWait)
			require.NoError(t, err)
			require.EqualValues(t, 0xA, got.SSRC)
			require.Equal(t, uint16(r.Port(LegB)), src.Port())
			require.EqualValues(t, 0xB, tc.a.mustRecv(recvWait).SSRC)
			st := r.Stats()
			require.Equal(t, tc.a.addr, st.A.Remote, "latched to the IPv6 source")
			require.Equal(t, tc.b.addr, st.B.Remote)
		})
	}
}

// TestRelayLatchesNAT: phone A's SDP names an address it does not send from (a private
// address behind NAT). The relay sends there until A's first packet, then to A's source.
func TestRelayLatchesNAT(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	sdpAddr, pa, pb := newPhone(t), newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: sdpAddr.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))

	pb.send(legAddr(r, LegB), audio(0, 0xB, 1))
	require.EqualValues(t, 1, sdpAddr.mustRecv(recvWait).SequenceNumber, "before latching: the SDP address")
	require.False(t, r.Stats().A.Latched)

	pa.send(legAddr(r, LegA), audio(0, 0xA, 1))
	require.EqualValues(t, 1, pb.mustRecv(recvWait).SequenceNumber)

	pb.send(legAddr(r, LegB), audio(0, 0xB, 2))
	require.EqualValues(t, 2, pa.mustRecv(recvWait).SequenceNumber, "after latching: the source address")
	sdpAddr.expectNothing(100 * time.Millisecond)
	st := r.Stats()
	require.True(t, st.A.Latched)
	require.Equal(t, pa.addr, st.A.Remote)

	// A re-INVITE with the same SDP address (hold, unhold, codec change) keeps the latch.
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: sdpAddr.addr, Codec: PCMA, DTMFPT: NoDTMF}))
	pb.send(legAddr(r, LegB), audio(0, 0xB, 3))
	require.EqualValues(t, 8, pa.mustRecv(recvWait).PayloadType, "still latched, now PCMA")

	// A re-INVITE with a new address (the call moved to another device) starts over.
	moved := newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: moved.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	pb.send(legAddr(r, LegB), audio(0, 0xB, 4))
	require.EqualValues(t, 4, moved.mustRecv(recvWait).SequenceNumber)
	pa.expectNothing(100 * time.Millisecond)
}

// TestRelayLatchRule: once latched, another source is ignored while the latched phone talks,
// and replaces it when it persists for LatchGrace after the phone went quiet.
func TestRelayLatchRule(t *testing.T) {
	cfg := testConfig()
	cfg.LatchGrace = 100 * time.Millisecond
	m := newTestManager(t, cfg)
	r := newTestRelay(t, m)
	pa, intruder, pb := newPhone(t), newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))

	// Interleaved for 3 grace periods: the intruder never wins.
	seq := uint16(0)
	for i := 0; i < 15; i++ {
		seq++
		pa.send(legAddr(r, LegA), audio(0, 0xA, seq))
		intruder.send(legAddr(r, LegA), audio(0, 0x666, 5000+seq))
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i <= 15; i++ {
		require.EqualValues(t, 0xA, pb.mustRecv(recvWait).SSRC)
	}
	pb.expectNothing(50 * time.Millisecond)
	require.EqualValues(t, 15, r.waitDropped(t, LegA, DropSource, 15))
	require.Equal(t, pa.addr, r.Stats().A.Remote)

	// Phone A's NAT binding changes: the same phone now sends from a new port and the old
	// one is silent. After LatchGrace the new source is latched. (First let the intruder's
	// last packet age: a gap longer than LatchGrace restarts the count.)
	time.Sleep(2 * cfg.LatchGrace)
	start := time.Now()
	var relatchedAfter time.Duration
	for i := 0; i < 30 && relatchedAfter == 0; i++ {
		seq++
		intruder.send(legAddr(r, LegA), audio(0, 0xA, seq))
		if _, _, err := pb.recv(20 * time.Millisecond); err == nil {
			relatchedAfter = time.Since(start)
		}
	}
	require.NotZero(t, relatchedAfter, "new source never latched")
	require.GreaterOrEqual(t, relatchedAfter, cfg.LatchGrace)
	require.Equal(t, intruder.addr, r.Stats().A.Remote)
	pb.send(legAddr(r, LegB), audio(0, 0xB, 1))
	require.EqualValues(t, 0xB, intruder.mustRecv(recvWait).SSRC)
	pa.expectNothing(50 * time.Millisecond)
}

// TestRelayDTMF: RFC 4733 packets keep their payload (never transcoded) and get the other
// leg's telephone-event payload type, or are dropped when it has none.
func TestRelayDTMF(t *testing.T) {
	event := []byte{5, 0x8a, 0x03, 0x20} // digit 5, end bit, volume 10, duration 800
	cases := []struct {
		name       string
		a, b       LegConfig
		sendPT     uint8
		wantPT     int // -1: dropped
		wantReason DropReason
	}{
		{name: "rewritten 101 to 96", a: LegConfig{Codec: PCMU, DTMFPT: 101}, b: LegConfig{Codec: PCMA, DTMFPT: 96}, sendPT: 101, wantPT: 96},
		{name: "same payload type", a: LegConfig{Codec: PCMA, DTMFPT: 101}, b: LegConfig{Codec: PCMA, DTMFPT: 101}, sendPT: 101, wantPT: 101},
		{name: "other leg has no DTMF", a: LegConfig{Codec: PCMU, DTMFPT: 101}, b: LegConfig{Codec: PCMU, DTMFPT: NoDTMF}, sendPT: 101, wantPT: -1, wantReason: DropNoDTMF},
		{name: "not negotiated by the sender", a: LegConfig{Codec: PCMU, DTMFPT: NoDTMF}, b: LegConfig{Codec: PCMU, DTMFPT: 101}, sendPT: 101, wantPT: -1, wantReason: DropPayloadType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			r := newTestRelay(t, m)
			pa, pb := newPhone(t), newPhone(t)
			tc.a.Remote, tc.b.Remote = pa.addr, pb.addr
			require.NoError(t, r.SetLeg(LegA, tc.a))
			require.NoError(t, r.SetLeg(LegB, tc.b))
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: tc.sendPT, SequenceNumber: 7,
				Timestamp: 1120, SSRC: 0xA, Marker: true}, Payload: event}
			pa.send(legAddr(r, LegA), pkt)
			pa.send(legAddr(r, LegA), audio(tc.a.Codec.PayloadType, 0xA, 8))
			if tc.wantPT >= 0 {
				got := pb.mustRecv(recvWait)
				require.EqualValues(t, tc.wantPT, got.PayloadType)
				require.Equal(t, event, got.Payload)
				require.True(t, got.Marker)
				require.EqualValues(t, 7, got.SequenceNumber)
				require.EqualValues(t, 1120, got.Timestamp)
			} else {
				require.EqualValues(t, 1, r.waitDropped(t, LegA, tc.wantReason, 1))
			}
			require.EqualValues(t, 8, pb.mustRecv(recvWait).SequenceNumber, "audio still flows")
		})
	}
}

// waitDropped waits until leg l has dropped at least n packets for reason.
func (r *Relay) waitDropped(t *testing.T, l Leg, reason DropReason, n uint64) uint64 {
	t.Helper()
	var got uint64
	require.Eventually(t, func() bool {
		got = r.legs[l].dropped[reason].Load()
		return got >= n
	}, recvWait, 5*time.Millisecond, "dropped %s", reason)
	return got
}

// waitStats waits until ok holds: a phone may get a packet before the relay has counted it.
func (r *Relay) waitStats(t *testing.T, ok func(Stats) bool) Stats {
	t.Helper()
	var st Stats
	require.Eventually(t, func() bool {
		st = r.Stats()
		return ok(st)
	}, recvWait, time.Millisecond, "stats")
	return st
}

// TestRelayDropsBadPackets: what is not RTP of a negotiated type is counted and dropped.
func TestRelayDropsBadPackets(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)

	// Before SetLeg the leg accepts nothing.
	pa.send(legAddr(r, LegA), audio(0, 0xA, 1))
	r.waitDropped(t, LegA, DropPayloadType, 1)

	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	// B has no configuration yet: no destination.
	pa.send(legAddr(r, LegA), audio(0, 0xA, 2))
	r.waitDropped(t, LegA, DropNoDestination, 1)
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))

	cn := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 13, SequenceNumber: 3, SSRC: 0xA}, Payload: []byte{40}}
	pa.send(legAddr(r, LegA), cn)
	r.waitDropped(t, LegA, DropPayloadType, 2)
	for _, raw := range [][]byte{
		{0x80, 0},                      // short
		bytes.Repeat([]byte{0x40}, 20), // version 1
		append([]byte{0x90, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0xA}, 0, 0, 0, 9), // extension longer than the packet
		append([]byte{0xa0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xA}, 1, 2, 50),   // padding longer than the packet
	} {
		pa.sendRaw(legAddr(r, LegA), raw)
	}
	r.waitDropped(t, LegA, DropMalformed, 4)
	pa.send(legAddr(r, LegA), audio(0, 0xA, 6))
	require.EqualValues(t, 6, pb.mustRecv(recvWait).SequenceNumber)
	pb.expectNothing(50 * time.Millisecond)
}

// TestRelayCountsLoss: a sequence gap through a real relay is counted as lost packets.
func TestRelayCountsLoss(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	for _, seq := range []uint16{1, 2, 3, 6, 7, 10} { // 4, 5, 8, 9 lost
		pa.send(legAddr(r, LegA), audio(0, 0xA, seq))
	}
	for range 6 {
		pb.mustRecv(recvWait)
	}
	st := r.waitStats(t, func(s Stats) bool { return s.A.Packets == 6 })
	require.EqualValues(t, 4, st.A.Lost)
	require.EqualValues(t, 6, st.A.Packets)
	require.Zero(t, st.B.Lost)
}

func TestSeqTracker(t *testing.T) {
	type p struct {
		ssrc uint32
		seq  uint16
	}
	seqs := func(ns ...uint16) []p {
		out := make([]p, len(ns))
		for i, n := range ns {
			out[i] = p{1, n}
		}
		return out
	}
	cases := []struct {
		name string
		in   []p
		lost uint64
	}{
		{"in order", seqs(1, 2, 3, 4), 0},
		{"gap", seqs(1, 2, 3, 6, 7), 2},
		{"wrap", seqs(65534, 65535, 0, 2), 1},
		{"duplicate", seqs(1, 2, 2, 3), 0},
		{"late packet (counted when the gap appeared)", seqs(1, 2, 4, 3, 5), 1},
		{"jump forward believed without loss", seqs(1, 2, 10000, 10001, 10003), 1},
		{"jump backward believed without loss", seqs(5000, 5001, 10, 11, 12), 0},
		{"single stray jump ignored", seqs(1, 2, 30000, 3, 4), 0},
		{"new SSRC starts over", []p{{1, 1}, {1, 2}, {2, 900}, {2, 901}, {1, 50}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s seqTracker
			var lost uint64
			for _, x := range tc.in {
				lost += s.update(x.seq, x.ssrc)
			}
			require.Equal(t, tc.lost, lost)
		})
	}
}

// TestRelayTimeout uses short real timeouts: testing/synctest cannot drive real sockets (a
// goroutine blocked in a UDP read is not durably blocked in the bubble).
func TestRelayTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout, cfg.HoldTimeout = 150*time.Millisecond, 2*time.Second

	// talk sends from the given phones to their legs every 20 ms until stop is closed.
	talk := func(t *testing.T, r *Relay, stop chan struct{}, phones map[Leg]*phone) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for seq := uint16(1); ; seq++ {
				for l, p := range phones {
					b, _ := audio(0, uint32(l)+1, seq).Marshal()
					_, _ = p.conn.WriteToUDPAddrPort(b, legAddr(r, l))
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		return done
	}
	setup := func(t *testing.T, reg prometheus.Registerer) (*Relay, *phone, *phone) {
		m := newTestManager(t, cfg, WithRegisterer(reg))
		r := newTestRelay(t, m)
		pa, pb := newPhone(t), newPhone(t)
		require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
		require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
		return r, pa, pb
	}

	t.Run("silent leg reported", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		r, pa, _ := setup(t, reg)
		stop := make(chan struct{})
		done := talk(t, r, stop, map[Leg]*phone{LegA: pa})
		defer func() { close(stop); <-done }()
		start := time.Now()
		r.ArmTimeout()
		select {
		case l := <-r.Timeout():
			require.Equal(t, LegB, l)
			require.GreaterOrEqual(t, time.Since(start), cfg.Timeout)
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout")
		}
		require.Equal(t, 1.0, metricValue(t, reg, "centrala_rtp_timeouts_total", nil))
		select {
		case l := <-r.Timeout():
			t.Fatalf("second timeout for leg %s", l)
		case <-time.After(3 * cfg.Timeout):
		}
	})
	t.Run("not armed while ringing", func(t *testing.T) {
		r, _, _ := setup(t, prometheus.NewRegistry())
		select {
		case l := <-r.Timeout():
			t.Fatalf("timeout for leg %s before ArmTimeout", l)
		case <-time.After(3 * cfg.Timeout):
		}
	})
	t.Run("both legs talking", func(t *testing.T) {
		r, pa, pb := setup(t, prometheus.NewRegistry())
		stop := make(chan struct{})
		done := talk(t, r, stop, map[Leg]*phone{LegA: pa, LegB: pb})
		defer func() { close(stop); <-done }()
		r.ArmTimeout()
		select {
		case l := <-r.Timeout():
			t.Fatalf("timeout for leg %s while both talk", l)
		case <-time.After(5 * cfg.Timeout):
		}
	})
	t.Run("hold uses the hold timeout", func(t *testing.T) {
		r, _, _ := setup(t, prometheus.NewRegistry())
		r.ArmTimeout()
		r.SetHold(true)
		select {
		case l := <-r.Timeout():
			t.Fatalf("timeout for leg %s on hold", l)
		case <-time.After(4 * cfg.Timeout):
		}
		unhold := time.Now()
		r.SetHold(false) // both legs silent for longer than rtp_timeout already
		select {
		case <-r.Timeout():
			require.Less(t, time.Since(unhold), cfg.Timeout)
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout after unhold")
		}
	})
}

func TestRelaySetLegErrors(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	g722 := Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}
	require.NoError(t, r.SetLeg(LegA, LegConfig{Codec: g722, DTMFPT: NoDTMF}))
	require.ErrorIs(t, r.SetLeg(LegB, LegConfig{Codec: PCMU, DTMFPT: NoDTMF}), ErrIncompatibleCodecs)
	require.NoError(t, r.SetLeg(LegB, LegConfig{Codec: g722, DTMFPT: 101}), "same codec passes through")
	require.Error(t, r.SetLeg(LegA, LegConfig{Codec: PCMU, DTMFPT: 0}), "DTMF on the codec's type")
	require.Error(t, r.SetLeg(LegA, LegConfig{Codec: Codec{}, DTMFPT: NoDTMF}))
	require.Error(t, r.SetLeg(Leg(2), LegConfig{Codec: PCMU, DTMFPT: NoDTMF}))
}

// TestRelayHoldAddress: an RFC 2543 hold (c=0.0.0.0) stops media toward the leg until it
// sends again.
func TestRelayHoldAddress(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	held := netip.AddrPortFrom(netip.IPv4Unspecified(), pa.addr.Port())
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: held, Codec: PCMU, DTMFPT: NoDTMF}))
	pb.send(legAddr(r, LegB), audio(0, 0xB, 1))
	r.waitDropped(t, LegB, DropNoDestination, 1)
	pa.expectNothing(50 * time.Millisecond)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	pb.send(legAddr(r, LegB), audio(0, 0xB, 2))
	require.EqualValues(t, 2, pa.mustRecv(recvWait).SequenceNumber)
}

// TestRelayCloseAndMetrics: counters and gauges on the Registerer; Close returns the ports
// and the counters of a closed relay stay in the totals.
func TestRelayCloseAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newTestManager(t, testConfig(), WithRegisterer(reg))
	r, err := m.NewRelay(nil)
	require.NoError(t, err)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	for _, seq := range []uint16{1, 2, 5} {
		pa.send(legAddr(r, LegA), audio(0, 0xA, seq))
		pb.mustRecv(recvWait)
	}
	pa.send(legAddr(r, LegA), audio(13, 0xA, 6))
	r.waitDropped(t, LegA, DropPayloadType, 1)
	r.waitStats(t, func(s Stats) bool { return s.A.Packets == 3 })

	ab := map[string]string{"direction": "a_to_b"}
	require.Equal(t, 3.0, metricValue(t, reg, "centrala_rtp_packets_relayed_total", ab))
	require.Equal(t, 2.0, metricValue(t, reg, "centrala_rtp_packets_lost_total", ab))
	require.Equal(t, 3.0*172, metricValue(t, reg, "centrala_rtp_bytes_relayed_total", ab))
	require.Equal(t, 1.0, metricValue(t, reg, "centrala_rtp_packets_dropped_total", map[string]string{"direction": "a_to_b", "reason": "payload_type"}))
	require.Equal(t, 0.0, metricValue(t, reg, "centrala_rtp_packets_relayed_total", map[string]string{"direction": "b_to_a"}))
	require.Equal(t, 1.0, metricValue(t, reg, "centrala_rtp_relays_active", nil))
	require.Equal(t, 2.0, metricValue(t, reg, "centrala_rtp_ports_in_use", nil))

	addrs := []netip.AddrPort{r.LocalAddr(LegA), r.LocalAddr(LegB)}
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "idempotent")
	require.Equal(t, 0.0, metricValue(t, reg, "centrala_rtp_relays_active", nil))
	require.Equal(t, 0.0, metricValue(t, reg, "centrala_rtp_ports_in_use", nil))
	require.Equal(t, 3.0, metricValue(t, reg, "centrala_rtp_packets_relayed_total", ab), "totals survive Close")
	require.Zero(t, m.Ports().InUse())

	// The ports are free again: bind them directly.
	for _, a := range addrs {
		p := newPhoneAt(t, a)
		_ = p.conn.Close()
	}
}

func newPhoneAt(t *testing.T, a netip.AddrPort) *phone {
	t.Helper()
	c, err := listenUDP(a)
	require.NoError(t, err, "port %d not released", a.Port())
	return &phone{t: t, conn: c, addr: a}
}

// metricValue returns the value of the series of name with exactly these labels.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return m.GetUntyped().GetValue()
}

// TestForwardDoesNotAllocate pins the per-packet path (checks, latching, loss, DTMF
// decoding, transcoding, the socket write) to zero allocations.
func TestForwardDoesNotAllocate(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: 101}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMA, DTMFPT: 96}))
	keys := 0
	r.OnDTMF(LegA, func(d Digit) {
		if d.Key == '#' {
			keys++
		}
	})
	tmpl, err := audio(0, 0xA, 1).Marshal()
	require.NoError(t, err)
	event, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 0xA},
		Payload: []byte{11, 0x0a, 0x01, 0x40}}).Marshal()
	require.NoError(t, err)
	buf := make([]byte, len(tmpl))
	seq := uint16(0)
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf, tmpl)
		seq++
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		r.forward(r.legs[LegA], r.legs[LegB], buf, pa.addr, mono())
		ev := buf[:len(event)]
		copy(ev, event)
		seq++
		ev[2], ev[3] = byte(seq>>8), byte(seq)
		ev[4], ev[5] = byte(seq>>8), byte(seq) // a new press each time
		r.forward(r.legs[LegA], r.legs[LegB], ev, pa.addr, mono())
	})
	require.Zero(t, allocs)
	require.EqualValues(t, 2*201, r.Stats().A.Packets)
	require.Equal(t, 201, keys)
}

// TestRelayChurn: relays closed and opened while others carry packets. Closed relays' ports
// (and, on Linux, their socket descriptors, which the poller knows them by) are reused at
// once by new relays, whose packets must reach their own phones and nobody else's; the
// relays left open never miss a packet.
func TestRelayChurn(t *testing.T) {
	const relays, rounds = 8, 5
	m := newTestManager(t, testConfig()) // 32 ports: 16 relays at most
	type call struct {
		r      *Relay
		pa, pb *phone
		seq    uint16
	}
	open := func() *call {
		r, err := m.NewRelay(nil)
		require.NoError(t, err)
		c := &call{r: r, pa: newPhone(t), pb: newPhone(t)}
		require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: c.pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
		require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: c.pb.addr, Codec: PCMA, DTMFPT: NoDTMF}))
		return c
	}
	// exchange sends one packet each way on every call, then checks that each phone got the
	// packet of its own call's other side (the SSRC names the call and side).
	exchange := func(calls []*call) {
		t.Helper()
		for i, c := range calls {
			c.seq++
			c.pa.send(legAddr(c.r, LegA), audio(PCMU.PayloadType, uint32(2*i), c.seq))
			c.pb.send(legAddr(c.r, LegB), audio(PCMA.PayloadType, uint32(2*i+1), c.seq))
		}
		for i, c := range calls {
			got := c.pb.mustRecv(recvWait)
			require.Equal(t, uint32(2*i), got.SSRC, "call %d: B hears its own A", i)
			require.Equal(t, c.seq, got.SequenceNumber)
			require.Equal(t, PCMA.PayloadType, got.PayloadType)
			got = c.pa.mustRecv(recvWait)
			require.Equal(t, uint32(2*i+1), got.SSRC, "call %d: A hears its own B", i)
			require.Equal(t, PCMU.PayloadType, got.PayloadType)
		}
	}
	calls := make([]*call, relays)
	for i := range calls {
		calls[i] = open()
	}
	exchange(calls)
	for round := range rounds {
		// Close every other call while the rest talk, and put new calls in their places.
		stop := make(chan struct{})
		talked := make(chan struct{})
		survivors := []*call{}
		for i, c := range calls {
			if i%2 == round%2 {
				survivors = append(survivors, c)
			}
		}
		go func() {
			defer close(talked)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, c := range survivors {
					c.seq++
					b, _ := audio(PCMU.PayloadType, 0xFFFF, c.seq).Marshal()
					_, _ = c.pa.conn.WriteToUDPAddrPort(b, legAddr(c.r, LegA))
				}
				time.Sleep(time.Millisecond)
			}
		}()
		for i, c := range calls {
			if i%2 != round%2 {
				before := c.pb.conn
				require.NoError(t, c.r.Close())
				_ = before.Close()
				_ = c.pa.conn.Close()
				calls[i] = open()
			}
		}
		close(stop)
		<-talked
		for _, c := range survivors {
			st := c.r.waitStats(t, func(s Stats) bool { return s.A.Packets >= uint64(c.seq) })
			require.Zero(t, st.A.Dropped, "nothing dropped on a relay left open")
			drain(c.pb)
		}
		exchange(calls)
	}
	for _, c := range calls {
		require.NoError(t, c.r.Close())
	}
	require.Zero(t, m.Ports().InUse())
}

// drain discards the packets waiting at p.
func drain(p *phone) {
	for {
		if _, _, err := p.recv(20 * time.Millisecond); err != nil {
			return
		}
	}
}
