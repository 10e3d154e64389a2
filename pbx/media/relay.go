package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIncompatibleCodecs means the two legs negotiated codecs the relay cannot convert
// between (only PCMU and PCMA are transcoded; other codecs must be the same on both legs).
var ErrIncompatibleCodecs = errors.New("codecs of the two legs are incompatible")

// Leg names one side of a relayed call. A is the caller's side by convention, B the callee's;
// the relay itself treats them alike.
type Leg uint8

// The two legs.
const (
	LegA Leg = 0
	LegB Leg = 1
)

func (l Leg) String() string {
	if l == LegB {
		return "B"
	}
	return "A"
}

func (l Leg) other() Leg { return 1 - l }

// LegConfig is what one leg's SDP negotiated (see Negotiate and Session.AudioAddr).
type LegConfig struct {
	Remote netip.AddrPort // RTP address from the peer's SDP; invalid, 0.0.0.0 or port 0: none
	Codec  Codec          // the payload type this leg uses, both ways
	DTMFPT int            // telephone-event payload type, NoDTMF when none
}

// DropReason says why a packet received on a leg was not relayed.
type DropReason int

// Drop reasons; they are also the values of the metric label "reason".
const (
	DropMalformed     DropReason = iota // not RTP version 2, truncated or oversized
	DropPayloadType                     // a payload type the leg did not negotiate (or leg not configured)
	DropSource                          // from an address other than the latched one
	DropNoDestination                   // the other leg has no configuration or no address yet
	DropNoDTMF                          // telephone-event toward a leg that did not negotiate it
	DropSendError                       // the write to the other leg failed
	DropPlaying                         // the other leg is playing a prompt (Relay.Play): it is not relayed to
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{"malformed", "payload_type", "source", "no_destination", "no_dtmf", "send_error", "playing"}

func (d DropReason) String() string {
	if d >= 0 && d < NumDropReasons {
		return dropReasonNames[d]
	}
	return fmt.Sprintf("DropReason(%d)", int(d))
}

// LegStats counts what was received from one leg and relayed to the other.
type LegStats struct {
	Packets    uint64                 // packets relayed to the other leg
	Bytes      uint64                 // their UDP payload bytes (RTP header included)
	Lost       uint64                 // packets missing from sequence gaps (see seqTracker)
	Dropped    [NumDropReasons]uint64 // packets not relayed, by reason
	LastPacket time.Time              // last packet accepted from this leg; zero when none
	Remote     netip.AddrPort         // where packets for this leg go: latched source or SDP address
	Latched    bool                   // Remote was learnt from received packets
}

// Stats of a Relay. A counts packets that came from leg A and went to leg B.
type Stats struct {
	A, B LegStats
}

// Per-packet constants.
const (
	maxPacket     = 2048 // read buffer; a datagram that fills it is dropped as oversized
	rtpHeaderSize = 12
	minRelatch    = 3 // packets a new source must send, besides lasting LatchGrace
)

// epoch anchors the monotonic nanosecond clock the per-packet path stores in atomics.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) + 1 }

func monoTime(ns int64) time.Time { return epoch.Add(time.Duration(ns - 1)) }

// legParams is one leg's negotiated media, swapped atomically by SetLeg.
type legParams struct {
	codec Codec
	law   law
	dtmf  int
}

// leg is one side of a relay: its socket, its negotiated media, where to send to it and the
// counters of what it sent us.
type leg struct {
	id    Leg
	relay *Relay
	sock  *udpSocket
	port  uint16
	timer *time.Timer // RTP timeout; guarded by relay.mu

	params  atomic.Pointer[legParams]
	dest    atomic.Pointer[netip.AddrPort] // nil: nowhere to send yet
	addrGen atomic.Uint64                  // bumped when the SDP address changes: latching restarts
	latched atomic.Bool                    // dest was learnt from received packets

	mu      sync.Mutex     // serialises dest changes of SetLeg and of latching
	sdpAddr netip.AddrPort // guarded by mu

	onDTMF  atomic.Pointer[func(Digit)] // OnDTMF
	playing atomic.Bool                 // a playback owns the leg: nothing is relayed to it
	play    legPlay                     // guarded by the manager's clock.mu

	// Counters written by this leg's reader goroutine only.
	packets, bytes, lost atomic.Uint64
	dropped              [NumDropReasons]atomic.Uint64
	lastRecv             atomic.Int64 // mono() of the last accepted packet, 0 when none

	// State of the reader goroutine only.
	gen        uint64
	isLatched  bool
	latchedSrc netip.AddrPort
	cand       netip.AddrPort // a source other than the latched one
	candFirst  int64
	candLast   int64
	candCount  int
	seq        seqTracker
	dtmf       dtmfState
}

func (l *leg) drop(r DropReason) { l.dropped[r].Add(1) }

func (l *leg) stats() LegStats {
	s := LegStats{Packets: l.packets.Load(), Bytes: l.bytes.Load(), Lost: l.lost.Load(), Latched: l.latched.Load()}
	for i := range s.Dropped {
		s.Dropped[i] = l.dropped[i].Load()
	}
	if ns := l.lastRecv.Load(); ns != 0 {
		s.LastPacket = monoTime(ns)
	}
	if d := l.dest.Load(); d != nil {
		s.Remote = *d
	}
	return s
}

// Relay anchors the media of one call: two UDP sockets, one per leg; what a leg's peer sends
// is read (by the manager's poller on Linux, poll_linux.go; by a goroutine per leg
// elsewhere) and written to the other leg's peer from the other leg's socket (so each phone
// sends to and hears from the one address it was given).
//
// Symmetric RTP (latching), per leg:
//   - Before the leg has sent anything, packets for it go to the address of its SDP.
//   - The first packet from the leg that is RTP version 2 with a payload type the leg
//     negotiated latches its source address: from then on packets for the leg go there,
//     wherever its SDP pointed (a phone behind NAT writes its private address).
//   - Once latched, packets from any other source are dropped (DropSource), unless that
//     source persists: it sends at least 3 packets over at least LatchGrace, with no gap
//     longer than LatchGrace and no packet from the latched source in between. Then it
//     becomes the latched source (a NAT binding that changed, a phone that moved). A stray
//     or spoofed packet while the phone talks never wins.
//   - SetLeg with a different SDP address starts over (a re-INVITE to a new device); with the
//     same address the latch is kept (hold and unhold re-INVITEs keep the NAT binding).
//
// Packets are relayed as received (SSRC, sequence numbers, timestamps, marker, extensions
// untouched): the relay is transparent, so RFC 3550 statistics and RFC 4733 event
// durations stay meaningful end to end. Only the payload type is rewritten to the other
// leg's number, and a G.711 payload is converted in place when the legs use different laws
// (the timestamp clock is the same 8 kHz, so no rewrite is needed). RTCP is not relayed.
//
// A Relay is created by Manager.NewRelay and must be closed with Close.
type Relay struct {
	m    *Manager
	log  *slog.Logger
	legs [2]*leg

	mu       sync.Mutex // timeout state and SetLeg
	armed    bool
	armedAt  int64
	hold     bool
	fired    bool
	timeoutC chan Leg

	closed    atomic.Bool
	closeOnce sync.Once
	worker    *pollWorker    // Linux: the poller worker that reads the sockets
	wg        sync.WaitGroup // elsewhere: the reader goroutines
}

// Port is the local RTP port of a leg: the engine writes it into the SDP it sends that leg.
func (r *Relay) Port(l Leg) int { return int(r.legs[l].port) }

// LocalAddr is the address a leg's socket is bound to. When it is 0.0.0.0 the engine puts
// its public address in the SDP with Port.
func (r *Relay) LocalAddr(l Leg) netip.AddrPort {
	return r.legs[l].sock.LocalAddr()
}

// SetLeg sets or updates (re-INVITE) what a leg negotiated. Packets from a leg are dropped
// until its SetLeg; packets toward it too. It fails when the codec cannot be relayed to the
// other leg's.
func (r *Relay) SetLeg(id Leg, c LegConfig) error {
	if id > LegB {
		return fmt.Errorf("rtp relay: no leg %d", id)
	}
	if c.Codec.Name == "" || c.Codec.ClockRate <= 0 || c.Codec.PayloadType > 127 {
		return fmt.Errorf("rtp relay leg %s: bad codec %+v", id, c.Codec)
	}
	if c.DTMFPT < NoDTMF || c.DTMFPT > 127 || c.DTMFPT == int(c.Codec.PayloadType) {
		return fmt.Errorf("rtp relay leg %s: bad telephone-event payload type %d", id, c.DTMFPT)
	}
	p := &legParams{codec: c.Codec, law: lawOf(c.Codec), dtmf: c.DTMFPT}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q := r.legs[id.other()].params.Load(); q != nil && !relayable(p, q) {
		return fmt.Errorf("%w: %s/%d and %s/%d", ErrIncompatibleCodecs, c.Codec.Name, c.Codec.ClockRate, q.codec.Name, q.codec.ClockRate)
	}
	l := r.legs[id]
	l.params.Store(p)
	l.mu.Lock()
	if c.Remote != l.sdpAddr || l.addrGen.Load() == 0 {
		l.sdpAddr = c.Remote
		l.addrGen.Add(1)
		l.latched.Store(false)
		if c.Remote.IsValid() && !c.Remote.Addr().IsUnspecified() && c.Remote.Port() != 0 {
			a := netip.AddrPortFrom(c.Remote.Addr().Unmap(), c.Remote.Port())
			l.dest.Store(&a)
		} else {
			l.dest.Store(nil)
		}
	}
	l.mu.Unlock()
	return nil
}

// relayable reports whether media can go between legs with these codecs.
func relayable(p, q *legParams) bool {
	if p.law != lawOther && q.law != lawOther {
		return true
	}
	return strings.EqualFold(p.codec.Name, q.codec.Name) && p.codec.ClockRate == q.codec.ClockRate
}

// ArmTimeout starts the RTP timeout: call it when the call is answered (ringing is silent).
// From then on a leg that sends nothing for rtp_timeout (rtp_hold_timeout while on hold)
// is reported once on Timeout. The clock of each leg starts at the later of this call and
// its last packet.
func (r *Relay) ArmTimeout() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed {
		return
	}
	r.armed, r.armedAt = true, mono()
	for _, l := range r.legs {
		r.setDeadlineLocked(l)
	}
}

// SetHold switches between rtp_timeout and rtp_hold_timeout. The relay keeps relaying
// whatever arrives while on hold (music on hold from the holding phone, for one).
func (r *Relay) SetHold(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = on
	for _, l := range r.legs {
		r.setDeadlineLocked(l)
	}
}

// Timeout delivers, once, the leg that went silent for too long; the engine then hangs up.
func (r *Relay) Timeout() <-chan Leg { return r.timeoutC }

// Stats returns the counters of both directions.
func (r *Relay) Stats() Stats { return Stats{A: r.legs[LegA].stats(), B: r.legs[LegB].stats()} }

// Close stops relaying (no packet is handled once it returns), closes the sockets and
// returns the ports to the pool. It is safe to call more than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.stopPlayback() // before the sockets close: the clock sends from them
		r.stop()
		r.mu.Lock()
		for _, l := range r.legs {
			if l.timer != nil {
				l.timer.Stop()
			}
		}
		r.mu.Unlock()
		for _, l := range r.legs {
			r.m.pool.Release(l.port)
		}
		r.m.remove(r)
	})
	return nil
}

func (r *Relay) timeoutLocked() time.Duration {
	if r.hold {
		return r.m.cfg.HoldTimeout
	}
	return r.m.cfg.Timeout
}

// setDeadlineLocked sets l's timer to when l times out if nothing arrives meanwhile; the
// timer then checks (checkTimeout) whether packets did arrive, so the per-packet path never
// touches timers.
func (r *Relay) setDeadlineLocked(l *leg) {
	if !r.armed || r.fired || r.closed.Load() {
		if l.timer != nil {
			l.timer.Stop()
		}
		return
	}
	base := max(l.lastRecv.Load(), r.armedAt)
	d := time.Duration(base-mono()) + r.timeoutLocked()
	if l.timer == nil {
		l.timer = time.AfterFunc(d, func() { r.checkTimeout(l) })
	} else {
		l.timer.Reset(d)
	}
}

func (r *Relay) checkTimeout(l *leg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	if r.armed && !r.fired {
		base := max(l.lastRecv.Load(), r.armedAt)
		if silent := time.Duration(mono() - base); silent >= r.timeoutLocked() {
			r.fired = true
			r.m.timeouts.Add(1) // counted before the engine hears of it
			r.timeoutC <- l.id  // capacity 1, sent once
			r.log.Info("rtp timeout", "leg", l.id.String(), "silent", silent.Round(time.Millisecond), "hold", r.hold)
			for _, x := range r.legs {
				r.setDeadlineLocked(x)
			}
			return
		}
	}
	r.setDeadlineLocked(l)
}

// forward handles one datagram received on in: checks, latching, loss count, DTMF keys
// (OnDTMF), payload type rewrite, transcoding, and the write to out's peer. It does not
// allocate.
func (r *Relay) forward(in, out *leg, pkt []byte, src netip.AddrPort, now int64) {
	if len(pkt) < rtpHeaderSize || len(pkt) == maxPacket || pkt[0]>>6 != 2 {
		in.drop(DropMalformed)
		return
	}
	hdr := rtpHeaderSize + int(pkt[0]&0x0f)*4
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < hdr+4 {
			in.drop(DropMalformed)
			return
		}
		hdr += 4 + int(binary.BigEndian.Uint16(pkt[hdr+2:]))*4
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // padding
		end -= int(pkt[end-1])
	}
	if hdr > end || end > len(pkt) {
		in.drop(DropMalformed)
		return
	}
	p := in.params.Load()
	if p == nil {
		in.drop(DropPayloadType)
		return
	}
	pt := pkt[1] & 0x7f
	dtmf := false
	switch {
	case pt == p.codec.PayloadType:
	case p.dtmf != NoDTMF && int(pt) == p.dtmf:
		dtmf = true
	default:
		in.drop(DropPayloadType)
		return
	}
	if !r.accept(in, src, now) {
		in.drop(DropSource)
		return
	}
	in.lastRecv.Store(now)
	if lost := in.seq.update(binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[8:])); lost > 0 {
		in.lost.Add(lost)
	}
	if dtmf {
		// Keys are ours to hear whether or not the other leg can (a caller in an IVR has
		// no leg B yet); the packet then goes on like any other.
		if fn := in.onDTMF.Load(); fn != nil {
			in.event(pkt, pkt[hdr:end], *fn)
		}
	}
	q := out.params.Load()
	dst := out.dest.Load()
	if q == nil || dst == nil {
		in.drop(DropNoDestination)
		return
	}
	if out.playing.Load() {
		in.drop(DropPlaying)
		return
	}
	if dtmf {
		if q.dtmf == NoDTMF {
			in.drop(DropNoDTMF)
			return
		}
		pkt[1] = pkt[1]&0x80 | byte(q.dtmf)
	} else {
		if t := transcodeTable(p.law, q.law); t != nil {
			transcode(t, pkt[hdr:end])
		}
		pkt[1] = pkt[1]&0x80 | q.codec.PayloadType
	}
	if err := out.sock.send(pkt, *dst); err != nil {
		in.drop(DropSendError)
		return
	}
	in.packets.Add(1)
	in.bytes.Add(uint64(len(pkt)))
}

// accept applies the latching rule (see Relay) to a packet from src on leg l.
func (r *Relay) accept(l *leg, src netip.AddrPort, now int64) bool {
	if g := l.addrGen.Load(); g != l.gen {
		l.gen, l.isLatched, l.candCount = g, false, 0
	}
	if !l.isLatched {
		r.latch(l, src, false)
		return true
	}
	if src == l.latchedSrc {
		l.candCount = 0
		return true
	}
	grace := int64(r.m.cfg.LatchGrace)
	if l.candCount == 0 || src != l.cand || now-l.candLast > grace {
		l.cand, l.candFirst, l.candLast, l.candCount = src, now, now, 1
		return false
	}
	l.candLast = now
	l.candCount++
	if l.candCount >= minRelatch && now-l.candFirst >= grace {
		r.latch(l, src, true)
		return true
	}
	return false
}

func (r *Relay) latch(l *leg, src netip.AddrPort, moved bool) {
	l.isLatched, l.latchedSrc, l.candCount = true, src, 0
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrGen.Load() != l.gen {
		return // SetLeg changed the address meanwhile; the next packet latches again
	}
	if d := l.dest.Load(); d == nil || *d != src {
		a := src
		l.dest.Store(&a)
	}
	l.latched.Store(true)
	if moved {
		r.log.Info("rtp source moved", "leg", l.id.String(), "addr", src.String())
	} else if l.sdpAddr != src {
		r.log.Debug("rtp latched", "leg", l.id.String(), "addr", src.String(), "sdp", l.sdpAddr.String())
	}
}

// seqTracker counts packets lost from RTP sequence gaps, per SSRC, in the manner of RFC 3550
// appendix A.1: a jump forward of fewer than 3000 counts the missing numbers as lost; a
// packet up to 100 behind is late and ignored (a reordered packet was already counted as
// lost: the counter may over-count by the number of reordered packets); a larger jump
// either way is believed, without counting, once the next packet follows it; a new SSRC
// starts over.
type seqTracker struct {
	ok     bool
	ssrc   uint32
	max    uint16
	bad    uint16
	badSet bool
}

const (
	maxDropout  = 3000
	maxMisorder = 100
)

func (s *seqTracker) update(seq uint16, ssrc uint32) uint64 {
	if !s.ok || ssrc != s.ssrc {
		*s = seqTracker{ok: true, ssrc: ssrc, max: seq}
		return 0
	}
	d := seq - s.max
	switch {
	case d == 0: // duplicate
		return 0
	case d < maxDropout:
		s.max, s.badSet = seq, false
		return uint64(d - 1)
	case d > 0xffff-maxMisorder: // late
		return 0
	case s.badSet && seq == s.bad: // two in a row after a jump: a new sequence
		s.max, s.badSet = seq, false
		return 0
	default:
		s.bad, s.badSet = seq+1, true
		return 0
	}
}
