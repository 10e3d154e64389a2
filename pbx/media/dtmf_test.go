package media

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// keypad sends RFC 4733 events from a phone as phones do: per key press, a first packet
// with the marker bit, updates every 50 ms of growing duration (all with the press's
// timestamp), then the end packet three times (Asterisk's way: same sequence number).
type keypad struct {
	p    *phone
	to   netip.AddrPort
	pt   uint8
	ssrc uint32
	seq  uint16
	ts   uint32
}

// eventPacket is one telephone-event packet.
func (k *keypad) eventPacket(event byte, ts uint32, end bool, duration uint16, marker bool) *rtp.Packet {
	payload := []byte{event, 10, 0, 0} // volume -10 dBm0
	if end {
		payload[1] |= 0x80
	}
	binary.BigEndian.PutUint16(payload[2:], duration)
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: k.pt, SequenceNumber: k.seq, Timestamp: ts,
		SSRC: k.ssrc, Marker: marker}, Payload: payload}
}

// press sends one key press and returns its packets' count; the next press starts 300 ms
// of RTP time later.
func (k *keypad) press(event byte) int {
	const updates, ends = 4, 3
	for i := range updates {
		k.p.send(k.to, k.eventPacket(event, k.ts, false, uint16(400*(i+1)), i == 0))
		k.seq++
	}
	for range ends {
		k.p.send(k.to, k.eventPacket(event, k.ts, true, 400*updates+160, false))
	}
	k.seq++
	k.ts += 2400
	return updates + ends
}

// digits collects what OnDTMF reports, on a buffered channel as the engine does.
func digits(r *Relay, l Leg) <-chan Digit {
	ch := make(chan Digit, 16)
	r.OnDTMF(l, func(d Digit) {
		select {
		case ch <- d:
		default:
		}
	})
	return ch
}

func expectDigits(t *testing.T, ch <-chan Digit, l Leg, keys string) {
	t.Helper()
	for i := range len(keys) {
		select {
		case d := <-ch:
			require.Equal(t, Digit{Key: keys[i], Leg: l}, d, "key %d of %q", i, keys)
		case <-time.After(recvWait):
			t.Fatalf("key %d of %q not reported", i, keys)
		}
	}
	select {
	case d := <-ch:
		t.Fatalf("key %q reported after %q", d.Key, keys)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestDTMF: each key press is reported once, with realistic repetition; the events still
// reach the other leg when it can take them, and keys are heard when it cannot (an IVR:
// leg B not set up yet).
func TestDTMF(t *testing.T) {
	cases := []struct {
		name   string
		b      *LegConfig // nil: no SetLeg
		relays bool       // leg B's phone receives the events
		reason DropReason // else why they were dropped
		prompt bool       // leg A hears a prompt meanwhile (barge-in)
	}{
		{name: "relayed to B", b: &LegConfig{Codec: PCMA, DTMFPT: 96}, relays: true},
		{name: "leg B not set (IVR)", b: nil, reason: DropNoDestination},
		{name: "IVR: keys during a prompt", b: nil, reason: DropNoDestination, prompt: true},
		{name: "leg B without an address", b: &LegConfig{Codec: PCMU, DTMFPT: 101}, reason: DropNoDestination},
		{name: "leg B without telephone-event", b: &LegConfig{Codec: PCMU, DTMFPT: NoDTMF}, reason: DropNoDTMF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			r := newTestRelay(t, m)
			pa, pb := newPhone(t), newPhone(t)
			require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: 101}))
			if tc.b != nil {
				b := *tc.b
				if tc.relays || b.DTMFPT == NoDTMF {
					b.Remote = pb.addr
				}
				require.NoError(t, r.SetLeg(LegB, b))
			}
			keys := digits(r, LegA)
			if tc.prompt {
				p, err := r.Play(LegA, testAudio(3*8000))
				require.NoError(t, err)
				defer p.Stop()
				pa.mustRecv(recvWait)
			}
			kp := &keypad{p: pa, to: legAddr(r, LegA), pt: 101, ssrc: 0xA, seq: 100, ts: 16000}
			sent := 0
			for _, e := range []byte{1, 11, 5} { // "1", "#", "5"
				sent += kp.press(e)
			}
			expectDigits(t, keys, LegA, "1#5")
			if tc.relays {
				for range sent {
					got := pb.mustRecv(recvWait)
					require.EqualValues(t, 96, got.PayloadType)
					require.EqualValues(t, 0xA, got.SSRC)
				}
				require.EqualValues(t, sent, r.waitStats(t, func(s Stats) bool { return s.A.Packets == uint64(sent) }).A.Packets)
			} else {
				require.EqualValues(t, sent, r.waitDropped(t, LegA, tc.reason, uint64(sent)))
				require.Zero(t, r.Stats().A.Packets)
			}
			require.EqualValues(t, 0, r.Stats().A.Lost, "repeated end packets are not loss")
		})
	}
}

// TestDTMFDedupe: the same key twice is two presses; a late copy of an earlier press's end
// packet, a new SSRC, a stray source and events that are not keys behave.
func TestDTMFDedupe(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, stray := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: 101}))
	keys := digits(r, LegA)
	kp := &keypad{p: pa, to: legAddr(r, LegA), pt: 101, ssrc: 0xA, seq: 1, ts: 800}

	kp.press(5)
	kp.press(5)
	expectDigits(t, keys, LegA, "55")

	// The first packet of "7", then a late end packet of the second "5", then the rest of 7.
	ts7 := kp.ts
	pa.send(kp.to, kp.eventPacket(7, ts7, false, 400, true))
	kp.seq++
	pa.send(kp.to, kp.eventPacket(5, ts7-2400, true, 1760, false))
	kp.press(7) // same timestamp as the first packet: the same press
	expectDigits(t, keys, LegA, "7")

	// Flash (16) and other events are not keys; a short payload is ignored.
	pa.send(kp.to, kp.eventPacket(16, kp.ts, true, 800, true))
	kp.seq++
	pa.send(kp.to, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: kp.seq, Timestamp: kp.ts + 2400, SSRC: 0xA}, Payload: []byte{3, 0x80}})
	kp.seq++
	// A stray source is not latched (it would have to persist): it presses nothing.
	(&keypad{p: stray, to: kp.to, pt: 101, ssrc: 0xA, seq: 9000, ts: 99999}).press(9)
	expectDigits(t, keys, LegA, "")

	// A new stream (a phone that restarted it) with the same timestamp presses again.
	kp.ssrc, kp.ts = 0xC, ts7
	kp.press(0)
	expectDigits(t, keys, LegA, "0")

	// Each leg has its own callback.
	fromB := digits(r, LegB)
	kp.press(2)
	expectDigits(t, keys, LegA, "2")
	expectDigits(t, fromB, LegB, "")

	r.OnDTMF(LegA, nil)
	kp.press(8)
	expectDigits(t, keys, LegA, "")
}
