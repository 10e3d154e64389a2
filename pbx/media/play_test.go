package media

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/zaf/g711"
)

// testAudio is n samples of a 440 Hz sine under a rising envelope: every 20 ms frame differs.
func testAudio(n int) *Audio {
	a := &Audio{Samples: tone(n, 440, 8000, 0.6)}
	for i := range a.Samples {
		a.Samples[i] = int16(float64(a.Samples[i]) * (0.2 + 0.8*float64(i)/float64(n)))
	}
	return a
}

// wantFrame is frame k of a as zaf/g711 encodes it (its slice API, not the relay's
// encoder), the last frame padded with the law's silence.
func wantFrame(a *Audio, k int, c Codec) []byte {
	pcm := make([]byte, 2*frameSamples)
	for i := range frameSamples {
		if j := k*frameSamples + i; j < len(a.Samples) {
			binary.LittleEndian.PutUint16(pcm[2*i:], uint16(a.Samples[j]))
		}
	}
	if lawOf(c) == lawA {
		return g711.EncodeAlaw(pcm)
	}
	return g711.EncodeUlaw(pcm)
}

// frameOf returns the index of the frame of a that payload is, -1 when none.
func frameOf(a *Audio, payload []byte, c Codec) int {
	for k := range (len(a.Samples) + frameSamples - 1) / frameSamples {
		if bytes.Equal(payload, wantFrame(a, k, c)) {
			return k
		}
	}
	return -1
}

// playSetup is a relay whose leg A talks to phone pa with codec c, leg B to pb in PCMU.
func playSetup(t *testing.T, c Codec) (*Manager, *Relay, *phone, *phone) {
	t.Helper()
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: c, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	return m, r, pa, pb
}

// received is a packet a phone got and when, since a reference time.
type received struct {
	*rtp.Packet
	at  time.Duration
	src netip.AddrPort
}

// receivePlayback returns what pa receives until the last frame of a (which is always sent,
// see playClock) in law c; a short read deadline could expire while a loaded machine does
// not run the reader, so the end is recognised by content, not by silence.
func receivePlayback(t *testing.T, pa *phone, a *Audio, c Codec, since time.Time) []received {
	t.Helper()
	last := (len(a.Samples)+frameSamples-1)/frameSamples - 1
	var got []received
	for {
		pkt, src, err := pa.recv(recvWait)
		require.NoError(t, err, "after %d packets", len(got))
		got = append(got, received{pkt, time.Since(since), src})
		if frameOf(a, pkt.Payload, c) == last {
			return got
		}
	}
}

// expectEnded checks that what pa receives of a from now on (until 200 ms of quiet) was due
// before the playback ended, ended after its start: sent before it ended, in flight since.
// It returns the first packet that is not a frame of a, nil when none came.
func expectEnded(t *testing.T, pa *phone, a *Audio, c Codec, ended time.Duration) *rtp.Packet {
	t.Helper()
	for {
		p, _, err := pa.recv(200 * time.Millisecond)
		if err != nil {
			return nil
		}
		k := frameOf(a, p.Payload, c)
		if k < 0 {
			return p
		}
		require.LessOrEqual(t, time.Duration(k)*frameDur, ended, "frame %d sent after the playback ended", k)
	}
}

// checkStream checks that pkts are frames of a in order, as one RTP stream of law c: each
// the exact encoding of its frame, sequence numbers contiguous, timestamps 160 per frame,
// the marker on the first packet only. It returns the frame numbers. Frames may be missing
// only when the clock skipped them (a machine stalled for over 200 ms: see playClock).
func checkStream(t *testing.T, a *Audio, c Codec, pkts []received) []int {
	t.Helper()
	require.NotEmpty(t, pkts)
	var frames []int
	first := pkts[0]
	k0 := frameOf(a, first.Payload, c)
	for i, p := range pkts {
		k := frameOf(a, p.Payload, c)
		require.GreaterOrEqual(t, k, 0, "packet %d is no frame of the audio", i)
		if i > 0 {
			require.Greater(t, k, frames[i-1], "packet %d: frames in order", i)
		}
		require.EqualValues(t, 2, p.Version)
		require.Equal(t, c.PayloadType, p.PayloadType)
		require.Equal(t, first.SSRC, p.SSRC)
		require.Equal(t, first.SequenceNumber+uint16(i), p.SequenceNumber)
		require.Equal(t, first.Timestamp+uint32((k-k0)*frameSamples), p.Timestamp)
		require.Equal(t, i == 0, p.Marker, "marker on the first packet only")
		frames = append(frames, k)
	}
	return frames
}

// skippedFrames is how many frames the clock skipped for p.
func skippedFrames(p *Playback) int {
	p.clock.mu.Lock()
	defer p.clock.mu.Unlock()
	return p.skipped
}

func isDone(p *Playback) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

func waitDone(t *testing.T, p *Playback, d time.Duration) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(d):
		t.Fatalf("playback not done after %v", d)
	}
}

// TestPlay: a phone receives exactly the encoded frames, in order, as one RTP stream paced
// at 50 packets per second, from the leg's address.
func TestPlay(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA, pcmuAt(97)} {
		t.Run(c.Name+"/"+string(rune('0'+c.PayloadType/10))+string(rune('0'+c.PayloadType%10)), func(t *testing.T) {
			_, r, pa, _ := playSetup(t, c)
			a := testAudio(8000 + 80) // 1.01 s: 51 packets, the last half silence
			const n = 51
			start := time.Now()
			pb, err := r.Play(LegA, a)
			require.NoError(t, err)
			tookC := make(chan time.Duration, 1)
			go func() { <-pb.Done(); tookC <- time.Since(start) }()
			got := receivePlayback(t, pa, a, c, start)
			took := <-tookC
			require.True(t, pb.Finished())
			frames := checkStream(t, a, c, got)
			require.Equal(t, n-1, frames[len(frames)-1], "the last frame is always sent")
			skipped := skippedFrames(pb)
			require.Len(t, got, n-skipped, "every frame but those skipped")

			// 51 frames are due over 1 s, 50 packets per second. Machines are noisy, so
			// only a wide window is asserted for the whole; but no frame may come before
			// its time (no burst), whatever the load.
			require.GreaterOrEqual(t, took, 980*time.Millisecond)
			if skipped == 0 {
				require.Less(t, took, 2*time.Second)
			} else {
				t.Logf("the machine stalled the clock for over 200 ms: %d frames skipped, took %v", skipped, took)
			}
			for i, p := range got {
				require.GreaterOrEqual(t, p.at, time.Duration(frames[i])*frameDur, "frame %d before its time", frames[i])
			}
			t.Logf("%d packets in %v (first after %v)", len(got), took.Round(time.Millisecond), got[0].at.Round(time.Millisecond))

			for i, p := range got {
				require.Equal(t, legAddr(r, LegA), p.src, "sent from the leg's own socket")
				for j, b := range p.Payload {
					x := frames[i]*frameSamples + j
					if x >= len(a.Samples) {
						break
					}
					dec := int(g711.DecodeUlawFrame(b))
					if lawOf(c) == lawA {
						dec = int(g711.DecodeAlawFrame(b))
					}
					want := int(a.Samples[x])
					require.LessOrEqualf(t, abs(dec-want), 16+abs(want)/16, "sample %d: %d came back as %d", x, want, dec)
				}
			}
		})
	}
}

// TestPlayStop: Stop ends a playback mid-way; nothing more is sent, the relay toward the leg
// resumes, and what the other leg sent meanwhile was dropped as "playing".
func TestPlayStop(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newTestManager(t, testConfig(), WithRegisterer(reg))
	r := newTestRelay(t, m)
	pa, pb := newPhone(t), newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMA, DTMFPT: NoDTMF}))
	require.NoError(t, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: PCMU, DTMFPT: NoDTMF}))
	a := testAudio(3 * 8000)
	began := time.Now()
	play, err := r.Play(LegA, a)
	require.NoError(t, err)
	prev := -1
	for i := range 10 {
		p := pa.mustRecv(recvWait)
		k := frameOf(a, p.Payload, PCMA)
		require.Greater(t, k, prev)
		prev = k
		pb.send(legAddr(r, LegB), audio(0, 0xB, uint16(i+1))) // B talks: not for A's ears
	}
	require.False(t, isDone(play))
	r.waitDropped(t, LegB, DropPlaying, 10) // before Stop: B's last packet must not race it
	play.Stop()
	stopped := time.Since(began)
	require.True(t, isDone(play), "Done is closed when Stop returns")
	require.False(t, play.Finished())
	play.Stop() // idempotent
	require.Equal(t, 10.0, metricValue(t, reg, "centrala_rtp_packets_dropped_total", map[string]string{"direction": "b_to_a", "reason": "playing"}))

	// Frames in flight, then B again: none of B's packets reached A while A played.
	pb.send(legAddr(r, LegB), audio(0, 0xB, 11))
	got := expectEnded(t, pa, a, PCMA, stopped)
	require.NotNil(t, got, "B's packet after the playback")
	require.EqualValues(t, 0xB, got.SSRC, "relayed again once the playback stopped")
	require.EqualValues(t, 11, got.SequenceNumber)
	require.Nil(t, expectEnded(t, pa, a, PCMA, stopped))
}

// TestPlayReplaces: a second Play on a leg stops the first; the stream goes on with the same
// SSRC and the next sequence number, a marker, and a timestamp ahead of the last one.
func TestPlayReplaces(t *testing.T) {
	_, r, pa, _ := playSetup(t, PCMU)
	first, second := testAudio(2*8000), testAudio(10*160+7)
	for i := range second.Samples {
		second.Samples[i] = -second.Samples[i] / 2 // unlike any frame of first
	}
	p1, err := r.Play(LegA, first)
	require.NoError(t, err)
	var last *rtp.Packet
	for range 5 {
		last = pa.mustRecv(recvWait)
	}
	lastFrame := frameOf(first, last.Payload, PCMU)
	p2, err := r.Play(LegA, second)
	require.NoError(t, err)
	require.True(t, isDone(p1))
	require.False(t, p1.Finished())
	got := receivePlayback(t, pa, second, PCMU, time.Now())
	waitDone(t, p2, recvWait)
	require.True(t, p2.Finished())

	// Packets of the first playback may have been in flight; then the second's.
	for len(got) > 0 {
		k := frameOf(first, got[0].Payload, PCMU)
		if k < 0 {
			break
		}
		p := got[0]
		require.False(t, p.Marker)
		require.Equal(t, last.SequenceNumber+1, p.SequenceNumber)
		require.Equal(t, last.Timestamp+uint32((k-lastFrame)*frameSamples), p.Timestamp)
		last, lastFrame, got = p.Packet, k, got[1:]
	}
	frames := checkStream(t, second, PCMU, got)
	require.Equal(t, 10, frames[len(frames)-1])
	p := got[0]
	require.Equal(t, last.SSRC, p.SSRC, "one stream")
	require.Equal(t, last.SequenceNumber+1, p.SequenceNumber, "sequence numbers continue")
	d := p.Timestamp - uint32(frames[0]*frameSamples) - last.Timestamp // to frame 0 of the second
	require.GreaterOrEqual(t, d, uint32(frameSamples))
	require.Less(t, d, uint32(8000), "about the time that passed")
}

// TestPlayTimestampsFollowTheClock: between two playbacks the RTP clock runs on, so the
// receiver's jitter buffer sees a pause, not a burst of late packets.
func TestPlayTimestampsFollowTheClock(t *testing.T) {
	_, r, pa, _ := playSetup(t, PCMU)
	a := testAudio(5 * 160)
	began := time.Now()
	p1, err := r.Play(LegA, a)
	require.NoError(t, err)
	got := receivePlayback(t, pa, a, PCMU, began)
	waitDone(t, p1, recvWait)
	require.Equal(t, 4, checkStream(t, a, PCMU, got)[len(got)-1])
	last := got[len(got)-1]
	const pause = 300 * time.Millisecond
	time.Sleep(pause)
	p2, err := r.Play(LegA, a)
	require.NoError(t, err)
	got = receivePlayback(t, pa, a, PCMU, began)
	waitDone(t, p2, recvWait)
	frames := checkStream(t, a, PCMU, got)
	first := got[0]
	require.Equal(t, last.SSRC, first.SSRC)
	require.Equal(t, last.SequenceNumber+1, first.SequenceNumber)
	// The last frame of the first playback was due 80 ms after it began; the second began
	// before its first packet arrived.
	gap := first.at - 4*frameDur
	d := first.Timestamp - uint32(frames[0]*frameSamples) - last.Timestamp
	require.GreaterOrEqual(t, d, uint32(pause/time.Millisecond*8), "at least the pause (%d samples)", d)
	require.LessOrEqual(t, d, uint32(gap/time.Millisecond*8+8), "at most the time that passed (%d samples in %v)", d, gap)
}

// TestPlayClose: Close ends the leg's playback; nothing is sent after it, and Play fails.
func TestPlayClose(t *testing.T) {
	m, r, pa, _ := playSetup(t, PCMU)
	a := testAudio(5 * 8000)
	began := time.Now()
	p, err := r.Play(LegA, a)
	require.NoError(t, err)
	for range 3 {
		pa.mustRecv(recvWait)
	}
	require.NoError(t, r.Close())
	require.True(t, isDone(p))
	require.False(t, p.Finished())
	require.Nil(t, expectEnded(t, pa, a, PCMU, time.Since(began)))
	_, err = r.Play(LegA, testAudio(160))
	require.ErrorIs(t, err, net.ErrClosed)
	requireClockStopped(t, m)
}

func TestPlayErrors(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	_, err := r.Play(LegA, testAudio(160))
	require.ErrorIs(t, err, ErrIncompatibleCodecs, "leg not set")
	require.NoError(t, r.SetLeg(LegA, LegConfig{Codec: Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}, DTMFPT: NoDTMF}))
	_, err = r.Play(LegA, testAudio(160))
	require.ErrorIs(t, err, ErrIncompatibleCodecs, "not G.711")
	_, err = r.Play(Leg(2), testAudio(160))
	require.Error(t, err)
}

// TestPlayEmpty: nothing to play is finished at once, and still replaces what played.
func TestPlayEmpty(t *testing.T) {
	m, r, pa, _ := playSetup(t, PCMU)
	la := testAudio(5 * 8000)
	began := time.Now()
	long, err := r.Play(LegA, la)
	require.NoError(t, err)
	pa.mustRecv(recvWait)
	for _, a := range []*Audio{{}, nil} {
		p, err := r.Play(LegA, a)
		require.NoError(t, err)
		require.True(t, isDone(p))
		require.True(t, p.Finished())
	}
	require.True(t, isDone(long))
	require.False(t, long.Finished())
	require.Nil(t, expectEnded(t, pa, la, PCMU, time.Since(began)))
	requireClockStopped(t, m)
}

// TestPlayWaitsForAnAddress: nothing is sent while the leg has no address; once its phone
// sends (and is latched) the playback reaches it where the schedule is, marker first.
func TestPlayWaitsForAnAddress(t *testing.T) {
	m := newTestManager(t, testConfig())
	r := newTestRelay(t, m)
	pa := newPhone(t)
	require.NoError(t, r.SetLeg(LegA, LegConfig{Codec: PCMU, DTMFPT: NoDTMF})) // no address in the SDP
	a := testAudio(8000)
	p, err := r.Play(LegA, a)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	pa.send(legAddr(r, LegA), audio(0, 0xA, 1))
	got := receivePlayback(t, pa, a, PCMU, time.Now())
	waitDone(t, p, recvWait)
	require.True(t, p.Finished())
	frames := checkStream(t, a, PCMU, got) // the marker on the first packet sent
	require.GreaterOrEqual(t, frames[0], 5, "the frames due before the phone was known were not sent")
	require.Equal(t, 49, frames[len(frames)-1])
}

// TestPlayManyShareOneClock: concurrent playbacks of many relays are paced by one goroutine,
// which stops when the last one ends.
func TestPlayManyShareOneClock(t *testing.T) {
	const relays, frames = 12, 25
	m := newTestManager(t, testConfig())
	a := testAudio(frames * 160)
	var phones []*phone
	var plays []*Playback
	for range relays {
		r := newTestRelay(t, m)
		pa := newPhone(t)
		require.NoError(t, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: PCMU, DTMFPT: NoDTMF}))
		p, err := r.Play(LegA, a)
		require.NoError(t, err)
		phones, plays = append(phones, pa), append(plays, p)
	}
	time.Sleep(50 * time.Millisecond) // let the clock's goroutine run
	require.Equal(t, 1, clockGoroutines(), "one clock for all playbacks")
	for i, pa := range phones {
		got := receivePlayback(t, pa, a, PCMU, time.Now())
		waitDone(t, plays[i], recvWait)
		require.True(t, plays[i].Finished())
		require.Len(t, got, frames-skippedFrames(plays[i]), "phone %d of %d", i, relays)
		require.Equal(t, frames-1, checkStream(t, a, PCMU, got)[len(got)-1])
	}
	requireClockStopped(t, m)
	require.Eventually(t, func() bool { return clockGoroutines() == 0 }, recvWait, 5*time.Millisecond)
}

// TestPlaySkipsAhead: a clock that fell more than 200 ms behind sends the frame due now, not
// the backlog; within 200 ms it catches up frame by frame.
func TestPlaySkipsAhead(t *testing.T) {
	_, r, pa, _ := playSetup(t, PCMU)
	a := testAudio(100 * 160)
	c := &r.m.clock
	p := &Playback{clock: c, leg: r.legs[LegA], samples: a.Samples, frames: 100, start: 1000, ts0: 5000, idx: -1}
	at := func(frame int) int64 { return p.start + int64(frame)*int64(frameDur) + 1 }
	got := func(n int) (frames []int) {
		for range n {
			pkt := pa.mustRecv(recvWait)
			frames = append(frames, int(pkt.Timestamp-5000)/160)
			require.Equal(t, frames[len(frames)-1], frameOf(a, pkt.Payload, PCMU))
		}
		pa.expectNothing(30 * time.Millisecond)
		return frames
	}
	c.mu.Lock()
	require.False(t, p.advance(at(0), &c.pkt))
	c.mu.Unlock()
	require.Equal(t, []int{0}, got(1))

	c.mu.Lock()
	require.False(t, p.advance(at(8), &c.pkt)) // 160 ms behind: catch up
	c.mu.Unlock()
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, got(8))

	c.mu.Lock()
	require.False(t, p.advance(at(30), &c.pkt)) // 440 ms behind: skip
	c.mu.Unlock()
	require.Equal(t, []int{30}, got(1))
	require.Equal(t, 21, p.skipped)

	c.mu.Lock()
	require.True(t, p.advance(at(500), &c.pkt)) // long past the end: the last frame, done
	c.mu.Unlock()
	require.Equal(t, []int{99}, got(1))
}

// clockGoroutines counts the running playClock goroutines.
func clockGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "(*playClock).run(")
}

// requireClockStopped waits for the manager's clock goroutine to return.
func requireClockStopped(t *testing.T, m *Manager) {
	t.Helper()
	require.Eventually(t, func() bool {
		m.clock.mu.Lock()
		defer m.clock.mu.Unlock()
		return m.clock.quit == nil && len(m.clock.active) == 0
	}, recvWait, 5*time.Millisecond)
	m.clock.mu.Lock()
	done := m.clock.done
	m.clock.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(recvWait):
			t.Fatal("clock goroutine still running")
		}
	}
}
