package media

import "encoding/binary"

// Digit is a DTMF key a leg's peer sent as an RFC 4733 telephone-event: '0'-'9', '*', '#',
// 'A'-'D'.
type Digit struct {
	Key byte
	Leg Leg
}

// dtmfKeys maps RFC 4733 event codes 0-15 to keys (section 3.2); 16 (flash) and the other
// events are not keys.
const dtmfKeys = "0123456789*#ABCD"

// OnDTMF sets the function called for each key leg l sends (nil: none). Each key press is
// reported once, when its first event packet arrives: a press is one event, named by its
// RTP timestamp and SSRC (RFC 4733 section 2.5.1), so its updates, its three end packets and
// late or repeated copies do not report it again, and the same key pressed twice is
// reported twice. Only packets the relay accepts count: of the leg's negotiated
// telephone-event payload type, from its latched source (a stray or spoofed source presses
// no key).
//
// fn runs on the goroutine that reads the leg's socket (the poller's, shared with other
// calls): it must not block or call back into the Relay (send into a buffered channel with
// select and default).
//
// Keys are decoded whether or not the other leg can hear them: the events are still relayed
// to it as before when it has a destination and telephone-event, and counted as dropped
// (no_destination, no_dtmf, playing) like any packet when not, such as while the call is in
// an IVR and leg B has no callee yet.
func (r *Relay) OnDTMF(l Leg, fn func(Digit)) {
	if fn == nil {
		r.legs[l].onDTMF.Store(nil)
		return
	}
	r.legs[l].onDTMF.Store(&fn)
}

// dtmfState is what the reading goroutine of a leg remembers of the events it reported: the
// last two, so that a late end packet of the previous key, arriving after the next key's
// first packet, is still recognised.
type dtmfState struct {
	n    int // events remembered, up to 2
	ssrc [2]uint32
	ts   [2]uint32
}

// event reports the key of the telephone-event in payload, from the RTP header h, unless
// that event was reported already. It does not allocate.
func (l *leg) event(h, payload []byte, fn func(Digit)) {
	if len(payload) < 4 || int(payload[0]) >= len(dtmfKeys) {
		return
	}
	ssrc, ts := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[4:])
	s := &l.dtmf
	for i := range s.n {
		if s.ssrc[i] == ssrc && s.ts[i] == ts {
			return
		}
	}
	s.ssrc[1], s.ts[1] = s.ssrc[0], s.ts[0]
	s.ssrc[0], s.ts[0] = ssrc, ts
	s.n = min(s.n+1, 2)
	fn(Digit{Key: dtmfKeys[payload[0]], Leg: l.id})
}
