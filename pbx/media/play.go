package media

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zaf/g711"
)

// Playback timing: G.711 at 8 kHz in 20 ms packets.
const (
	frameSamples = 160
	frameDur     = 20 * time.Millisecond
	maxBehind    = 10 // frames; a playback further behind its schedule skips ahead
)

// Playback is an Audio being sent to one leg's peer (Relay.Play). It ends when the audio has
// been sent, when Stop is called, when another Play on the leg replaces it or when the relay
// closes.
type Playback struct {
	clock   *playClock
	leg     *leg
	samples []int16
	frames  int    // packets: the last frame is padded with silence
	start   int64  // mono() of Play: frame k is due at start + k*frameDur
	ts0     uint32 // RTP timestamp of frame 0

	// Guarded by clock.mu.
	next    int  // next frame to send
	marked  bool // the marker bit went out (on the first packet sent)
	idx     int  // position in clock.active, -1 when not in it
	skipped int  // frames skipped because the clock fell behind

	finished atomic.Bool
	done     chan struct{}
}

// legPlay is a leg's playback state, guarded by the manager's playClock.mu: the current
// playback and the RTP stream all playbacks of the leg share.
type legPlay struct {
	cur     *Playback
	started bool   // ssrc, seq, ts chosen
	ssrc    uint32 // random, one per leg
	seq     uint16 // of the next packet
	ts      uint32 // of the last packet sent
	at      int64  // mono() when that packet was due
}

// Play starts sending a to leg l's peer as RTP from l's socket: 20 ms packets of 160 samples
// (the last one padded with silence) in l's negotiated G.711 law and payload type, to where
// packets for l go (the latched source or its SDP address; nothing is sent while it has none,
// though the playback keeps time). It fails with ErrIncompatibleCodecs unless l was SetLeg
// with PCMU or PCMA; a later SetLeg with the other law switches the encoding of the next
// packet. a is read as it plays and must not change meanwhile; an empty a plays nothing and
// is Finished at once.
//
// One playback per leg at a time: a new Play stops the previous one, and Close stops it.
// While a leg plays, what its other leg sends is not relayed to it (counted as DropPlaying).
//
// The packets are one RTP stream per leg: their own SSRC (random, kept across playbacks of
// the leg), sequence numbers that continue across playbacks, timestamps 160 apart within a
// playback and, from one playback to the next, advanced by the wall-clock time between them
// (at least one packet's worth), and the marker bit on the first packet of each playback.
//
// The manager paces every playback from one goroutine (see playClock).
func (r *Relay) Play(l Leg, a *Audio) (*Playback, error) {
	if l > LegB {
		return nil, fmt.Errorf("rtp relay: no leg %d", l)
	}
	lg := r.legs[l]
	if p := lg.params.Load(); p == nil || p.law == lawOther {
		return nil, fmt.Errorf("%w: leg %s has no G.711 codec to play to", ErrIncompatibleCodecs, l)
	}
	var samples []int16
	if a != nil {
		samples = a.Samples
	}
	c := &r.m.clock
	pb := &Playback{
		clock:   c,
		leg:     lg,
		samples: samples,
		frames:  (len(samples) + frameSamples - 1) / frameSamples,
		idx:     -1,
		done:    make(chan struct{}),
	}
	c.mu.Lock()
	if r.closed.Load() {
		c.mu.Unlock()
		return nil, fmt.Errorf("rtp relay: play to leg %s: %w", l, net.ErrClosed)
	}
	now := mono()
	pb.start = now
	st := &lg.play
	if !st.started {
		st.started, st.ssrc, st.seq = true, rand.Uint32(), uint16(rand.Uint32())
		st.ts, st.at = rand.Uint32(), now-int64(frameDur)
	}
	// The stream's clock runs on while nothing plays: the first timestamp is where the last
	// packet's would have advanced to by now, and at least one packet after it.
	gap := max((now-st.at)*SampleRate/int64(time.Second), frameSamples)
	pb.ts0 = st.ts + uint32(gap)
	if old := st.cur; old != nil {
		c.endLocked(old, false)
	}
	if pb.frames == 0 {
		c.finishLocked(pb, true)
	} else {
		st.cur = pb
		lg.playing.Store(true)
		c.addLocked(pb)
	}
	wait := c.idleLocked()
	c.mu.Unlock()
	if wait != nil {
		<-wait
	}
	return pb, nil
}

// Stop ends the playback; no packet of it is sent once Stop returns. It is idempotent, and
// a no-op when the playback already ended.
func (p *Playback) Stop() {
	c := p.clock
	c.mu.Lock()
	c.endLocked(p, false)
	wait := c.idleLocked()
	c.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// Done is closed when the playback ends: all sent, stopped, replaced or closed.
func (p *Playback) Done() <-chan struct{} { return p.done }

// Finished reports whether the playback ended by sending all of its audio.
func (p *Playback) Finished() bool { return p.finished.Load() }

// stopPlayback ends the playback of both legs (Relay.Close): no packet is sent from the
// relay's sockets once it returns.
func (r *Relay) stopPlayback() {
	c := &r.m.clock
	c.mu.Lock()
	for _, l := range r.legs {
		if p := l.play.cur; p != nil {
			c.endLocked(p, false)
		}
	}
	wait := c.idleLocked()
	c.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// playClock paces all playbacks of a Manager from one goroutine instead of a goroutine or a
// ticker per playback: every 20 ms it sends, for each active playback, the frames due by
// then. Due frames are computed from each playback's start, so a late tick does not make a
// playback drift (it sends two frames next time); a playback more than 200 ms behind (a
// stalled machine) skips to the frame due now rather than bursting the backlog at the
// phone, whose jitter buffer would drop it anyway: the skipped frames are lost, the
// timestamps stay true to the wall clock and the sequence numbers stay contiguous.
//
// The goroutine starts with the first active playback and returns when none is left, like
// the poller's workers; whoever removes the last playback waits for it (a playback that
// ends by itself is removed by the goroutine, which then returns).
type playClock struct {
	mu     sync.Mutex
	active []*Playback
	quit   chan struct{} // of the running goroutine; nil when none runs
	done   chan struct{} // closed when that goroutine has returned
	pkt    [rtpHeaderSize + frameSamples]byte

	played  [2]atomic.Uint64 // packets of prompts sent, by leg (metrics)
	skipped atomic.Uint64    // frames skipped because the clock fell behind
}

func (c *playClock) addLocked(p *Playback) {
	p.idx = len(c.active)
	c.active = append(c.active, p)
	if c.quit == nil {
		c.quit, c.done = make(chan struct{}), make(chan struct{})
		go c.run(c.quit, c.done)
	}
}

// endLocked ends p (when it has not ended yet) and takes it off the clock.
func (c *playClock) endLocked(p *Playback, finished bool) {
	if p.idx < 0 {
		return // ended already (an active playback is always on the clock)
	}
	last := len(c.active) - 1
	c.active[p.idx] = c.active[last]
	c.active[p.idx].idx = p.idx
	c.active[last] = nil
	c.active = c.active[:last]
	p.idx = -1
	if p.leg.play.cur == p {
		p.leg.play.cur = nil
		p.leg.playing.Store(false)
	}
	c.finishLocked(p, finished)
}

func (c *playClock) finishLocked(p *Playback, finished bool) {
	p.finished.Store(finished)
	close(p.done)
}

// idleLocked stops the goroutine when no playback is left and returns its done channel,
// which the caller waits for after unlocking; nil when there is nothing to wait for.
func (c *playClock) idleLocked() chan struct{} {
	if len(c.active) > 0 || c.quit == nil {
		return nil
	}
	close(c.quit)
	c.quit = nil
	return c.done
}

func (c *playClock) run(quit, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(frameDur)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		if !c.tick(quit) {
			return
		}
	}
}

// tick sends what is due by now; false when this goroutine is to return.
func (c *playClock) tick(quit chan struct{}) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.quit != quit {
		return false // stopped while waiting for the lock
	}
	now := mono()
	for i := 0; i < len(c.active); {
		p := c.active[i]
		if p.advance(now, &c.pkt) {
			c.endLocked(p, true) // moves the last playback to i
			continue
		}
		i++
	}
	if len(c.active) == 0 {
		c.quit = nil // nobody waits: this goroutine returns now
		return false
	}
	return true
}

// advance sends p's frames due by now and reports whether p has sent them all. Called with
// the clock's lock held; pkt is the clock's packet buffer.
func (p *Playback) advance(now int64, pkt *[rtpHeaderSize + frameSamples]byte) bool {
	due := min(int((now-p.start)/int64(frameDur))+1, p.frames)
	if due-p.next > maxBehind {
		p.skipped += due - 1 - p.next
		p.clock.skipped.Add(uint64(due - 1 - p.next))
		p.next = due - 1
	}
	for ; p.next < due; p.next++ {
		p.send(p.next, pkt)
	}
	return p.next >= p.frames
}

// send writes frame k to the leg's peer, if it has an address and still a G.711 codec.
func (p *Playback) send(k int, pkt *[rtpHeaderSize + frameSamples]byte) {
	l := p.leg
	prm, dst := l.params.Load(), l.dest.Load()
	if prm == nil || prm.law == lawOther || dst == nil {
		return
	}
	st := &l.play
	ts := p.ts0 + uint32(k*frameSamples)
	pkt[0] = 0x80
	pkt[1] = prm.codec.PayloadType
	if !p.marked {
		pkt[1] |= 0x80
		p.marked = true
	}
	binary.BigEndian.PutUint16(pkt[2:], st.seq)
	binary.BigEndian.PutUint32(pkt[4:], ts)
	binary.BigEndian.PutUint32(pkt[8:], st.ssrc)
	encodeFrame(pkt[rtpHeaderSize:], p.samples[k*frameSamples:min((k+1)*frameSamples, len(p.samples))], prm.law)
	st.seq++
	st.ts, st.at = ts, p.start+int64(k)*int64(frameDur)
	if l.sock.send(pkt[:], *dst) == nil { // a lost packet of a prompt is like one lost in the network
		p.clock.played[l.id].Add(1)
	}
}

// encodeFrame encodes samples into out in law, padding out with silence.
func encodeFrame(out []byte, samples []int16, law law) {
	enc := g711.EncodeUlawFrame
	if law == lawA {
		enc = g711.EncodeAlawFrame
	}
	for i, s := range samples {
		out[i] = enc(s)
	}
	silence := enc(0)
	for i := len(samples); i < len(out); i++ {
		out[i] = silence
	}
}
