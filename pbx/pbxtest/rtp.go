package pbxtest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/centrala/centrala/pbx/media"
)

// The audio a Phone sends: a 1 kHz sine at 8 kHz sampling, 20 ms (160 samples) per packet.
// 160 is a whole number of periods, so every frame of one law is the same bytes.
const (
	ToneHz        = 1000
	toneAmplitude = 8000 // about -12 dBFS
	frameSamples  = 160  // 20 ms at 8 kHz
	frameInterval = 20 * time.Millisecond
)

// DTMF timing of SendDTMF (RFC 4733): each digit lasts 100 ms (5 updates 20 ms apart), its
// end packet is sent three times, and two frame times of audio separate digits.
const (
	dtmfUpdates = 5
	dtmfEnds    = 3
	dtmfGap     = 2
	dtmfVolume  = 10
)

var errNoDTMF = errors.New("pbxtest: no telephone-event negotiated")

var (
	tonePCM              [frameSamples]int16
	toneULaw, toneALaw   []byte
	dtmfDigits           = "0123456789*#ABCD"
	toneCos, toneSin     [frameSamples]float64
	errRTPClosed         = errors.New("pbxtest: RTP session closed")
	errNotSendingForDTMF = errors.New("pbxtest: the call does not send media now (no remote address or on hold)")
)

func init() {
	lin := make([]byte, 2*frameSamples)
	for i := range frameSamples {
		ph := 2 * math.Pi * ToneHz * float64(i) / 8000
		tonePCM[i] = int16(math.Round(toneAmplitude * math.Sin(ph+math.Pi/8)))
		binary.LittleEndian.PutUint16(lin[2*i:], uint16(tonePCM[i]))
		toneCos[i], toneSin[i] = math.Cos(ph), math.Sin(ph)
	}
	toneULaw = g711.EncodeUlaw(lin)
	toneALaw = g711.EncodeAlaw(lin)
}

// ToneFrame is the payload of one audio packet a Phone sends with codec (PCMU or PCMA);
// nil for another codec.
func ToneFrame(codec string) []byte {
	switch strings.ToUpper(codec) {
	case "PCMU":
		return append([]byte(nil), toneULaw...)
	case "PCMA":
		return append([]byte(nil), toneALaw...)
	}
	return nil
}

// isTone reports whether a G.711 payload is (mostly) the 1 kHz test tone: the energy of its
// 1 kHz bin is at least 80% of the total. It does not depend on phase, so it holds after a
// relay transcodes PCMU and PCMA into each other.
func isTone(payload []byte, alaw bool) bool {
	if len(payload) != frameSamples {
		return false
	}
	var i, q, total float64
	for n, b := range payload {
		var s int16
		if alaw {
			s = g711.DecodeAlawFrame(b)
		} else {
			s = g711.DecodeUlawFrame(b)
		}
		x := float64(s)
		i += x * toneCos[n]
		q += x * toneSin[n]
		total += x * x
	}
	if total < frameSamples*100*100 { // quieter than about -50 dBFS: silence
		return false
	}
	return 2*(i*i+q*q)/frameSamples >= 0.8*total
}

// dtmfJob is one digit queued for sending.
type dtmfJob struct {
	event byte
	step  int    // packets sent so far
	ts    uint32 // RTP timestamp of the event's start
	done  chan struct{}
}

// rtpStream is the media of one call: one UDP socket on 127.0.0.1 that receives and sends
// RTP (symmetric), a sender clocked every 20 ms and the counters.
type rtpStream struct {
	conn  *net.UDPConn
	local netip.AddrPort
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu sync.Mutex
	// sending
	dest    netip.AddrPort
	codec   media.Codec // what we send, with the payload type of the remote SDP
	sendDT  int         // telephone-event payload type of the remote SDP, media.NoDTMF
	active  bool        // the call and the SDP directions allow sending now
	muted   bool        // no audio (DTMF still goes)
	ssrc    uint32
	seq     uint16
	ts      uint32 // timestamp of the current 20 ms slot
	queue   []*dtmfJob
	gap     int // slots of audio still to send before the next digit
	sent    int
	sentPT  map[uint8]int
	dtmfOut strings.Builder
	// receiving
	recvPT     map[uint8]int
	recvTotal  int
	invalid    int
	source     netip.AddrPort
	sources    map[netip.AddrPort]int
	lawPT      map[uint8]byte // payload types that carry G.711: 'u' (PCMU) or 'a' (PCMA)
	dtmfPT     map[uint8]bool // payload types that carry telephone-event
	tones      int
	lastEvTS   uint32
	haveEv     bool
	evEnded    bool
	dtmfIn     strings.Builder
	firstRecv  time.Time
	lastRecv   time.Time
	lastSeqIn  uint16
	seqGaps    int
	lastSSRCIn uint32
	heard      []int16 // received G.711 audio decoded, in arrival order (at most maxHeard samples)
}

// maxHeard bounds the recording of received audio: 2 minutes at 8 kHz.
const maxHeard = 2 * 60 * 8000

// newRTPStream binds an even port on 127.0.0.1 and starts the receiver and the sender.
func newRTPStream(muted bool) (*rtpStream, error) {
	var conn *net.UDPConn
	for range 64 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		if c.LocalAddr().(*net.UDPAddr).Port%2 == 0 {
			conn = c
			break
		}
		c.Close()
	}
	if conn == nil {
		return nil, errors.New("pbxtest: no even UDP port for RTP")
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	s := &rtpStream{
		conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), stop: make(chan struct{}),
		sendDT: media.NoDTMF, muted: muted,
		ssrc: binary.BigEndian.Uint32(b[0:4]), seq: binary.BigEndian.Uint16(b[4:6]), ts: binary.BigEndian.Uint32(b[6:10]),
		sentPT: map[uint8]int{}, recvPT: map[uint8]int{}, sources: map[netip.AddrPort]int{},
		lawPT: map[uint8]byte{0: 'u', 8: 'a'}, dtmfPT: map[uint8]bool{},
	}
	s.wg.Add(2)
	go s.receive()
	go s.send()
	return s, nil
}

// close stops both goroutines and closes the socket; DTMF still queued is dropped.
func (s *rtpStream) close() {
	s.once.Do(func() {
		close(s.stop)
		s.conn.Close()
		s.wg.Wait()
		s.mu.Lock()
		for _, j := range s.queue {
			close(j.done)
		}
		s.queue = nil
		s.mu.Unlock()
	})
}

// learnFormats records, from an SDP we wrote or received, which payload types carry G.711
// and telephone-event, for the receive side.
func (s *rtpStream) learnFormats(sess *media.Session) {
	m := sess.Audio()
	if m == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range m.Formats {
		switch {
		case strings.EqualFold(f.Name, "PCMA"):
			s.lawPT[f.PayloadType] = 'a'
		case strings.EqualFold(f.Name, "PCMU"):
			s.lawPT[f.PayloadType] = 'u'
		case strings.EqualFold(f.Name, "telephone-event"):
			s.dtmfPT[f.PayloadType] = true
		}
	}
}

// configure sets where and what the sender sends.
func (s *rtpStream) configure(dest netip.AddrPort, codec media.Codec, dtmfPT int, active bool) {
	s.mu.Lock()
	s.dest, s.codec, s.sendDT, s.active = dest, codec, dtmfPT, active
	s.mu.Unlock()
}

func (s *rtpStream) setActive(active bool) {
	s.mu.Lock()
	s.active = active
	s.mu.Unlock()
}

func (s *rtpStream) setMuted(muted bool) {
	s.mu.Lock()
	s.muted = muted
	s.mu.Unlock()
}

// sendDTMF queues digits and waits until their last end packet went out.
func (s *rtpStream) sendDTMF(digits string) error {
	var jobs []*dtmfJob
	for _, d := range strings.ToUpper(digits) {
		i := strings.IndexRune(dtmfDigits, d)
		if i < 0 {
			return fmt.Errorf("pbxtest: %q is not a DTMF digit (0-9 * # A-D)", d)
		}
		jobs = append(jobs, &dtmfJob{event: byte(i), done: make(chan struct{})})
	}
	s.mu.Lock()
	switch {
	case s.sendDT == media.NoDTMF:
		s.mu.Unlock()
		return errNoDTMF
	case !s.active || !s.dest.IsValid():
		s.mu.Unlock()
		return errNotSendingForDTMF
	}
	s.queue = append(s.queue, jobs...)
	s.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-s.stop:
			return errRTPClosed
		}
	}
	return nil
}

// send is the 20 ms clock: each slot carries a DTMF packet when a digit is being sent,
// else an audio frame, else nothing; the timestamp advances by 160 per slot either way.
func (s *rtpStream) send() {
	defer s.wg.Done()
	tick := time.NewTicker(frameInterval)
	defer tick.Stop()
	buf := make([]byte, 0, 12+frameSamples)
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		pkt, dest, done := s.nextPacket(buf[:0])
		if pkt != nil {
			_, _ = s.conn.WriteToUDPAddrPort(pkt, dest)
		}
		if done != nil {
			close(done)
		}
	}
}

// nextPacket builds the packet of the current slot (nil for none) and moves the clock on.
func (s *rtpStream) nextPacket(buf []byte) (pkt []byte, dest netip.AddrPort, done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.ts += frameSamples }()
	if !s.active || !s.dest.IsValid() {
		return nil, dest, nil
	}
	dest = s.dest
	h := rtp.Header{Version: 2, SSRC: s.ssrc}
	var payload []byte
	if len(s.queue) > 0 && s.gap == 0 && s.sendDT != media.NoDTMF {
		j := s.queue[0]
		if j.step == 0 {
			j.ts = s.ts
			h.Marker = true
		}
		h.PayloadType, h.Timestamp = uint8(s.sendDT), j.ts
		dur := uint16(min(j.step+1, dtmfUpdates) * frameSamples)
		flags := byte(dtmfVolume)
		if j.step >= dtmfUpdates {
			flags |= 0x80 // E: end of event
		}
		payload = []byte{j.event, flags, byte(dur >> 8), byte(dur)}
		j.step++
		if j.step == dtmfUpdates+dtmfEnds {
			s.queue = s.queue[1:]
			s.gap = dtmfGap
			s.dtmfOut.WriteByte(dtmfDigits[j.event])
			done = j.done
		}
	} else {
		if s.gap > 0 {
			s.gap--
		}
		if s.muted {
			return nil, dest, nil
		}
		h.PayloadType, h.Timestamp = s.codec.PayloadType, s.ts
		switch strings.ToUpper(s.codec.Name) {
		case "PCMA":
			payload = toneALaw
		default:
			payload = toneULaw
		}
	}
	h.SequenceNumber = s.seq
	s.seq++
	b, err := h.MarshalTo(buf[:cap(buf)])
	if err != nil {
		return nil, dest, done
	}
	pkt = append(buf[:b], payload...)
	s.sent++
	s.sentPT[h.PayloadType]++
	return pkt, dest, done
}

// receive counts every packet that arrives on the socket.
func (s *rtpStream) receive() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.stop:
				return
			default:
				continue // e.g. ICMP port unreachable reported on the socket
			}
		}
		now := time.Now()
		s.mu.Lock()
		if err := p.Unmarshal(buf[:n]); err != nil || p.Version != 2 {
			s.invalid++
			s.mu.Unlock()
			continue
		}
		if s.recvTotal > 0 && p.SSRC == s.lastSSRCIn && p.SequenceNumber != s.lastSeqIn+1 {
			s.seqGaps++
		}
		s.lastSeqIn, s.lastSSRCIn = p.SequenceNumber, p.SSRC
		s.recvTotal++
		s.recvPT[p.PayloadType]++
		s.source = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.sources[s.source]++
		if s.firstRecv.IsZero() {
			s.firstRecv = now
		}
		s.lastRecv = now
		switch {
		case s.dtmfPT[p.PayloadType]:
			s.receiveEvent(&p)
		case s.lawPT[p.PayloadType] != 0:
			alaw := s.lawPT[p.PayloadType] == 'a'
			if isTone(p.Payload, alaw) {
				s.tones++
			}
			if len(s.heard)+len(p.Payload) <= maxHeard {
				for _, b := range p.Payload {
					if alaw {
						s.heard = append(s.heard, g711.DecodeAlawFrame(b))
					} else {
						s.heard = append(s.heard, g711.DecodeUlawFrame(b))
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// receiveEvent records a digit at the first packet of each event (a new timestamp).
func (s *rtpStream) receiveEvent(p *rtp.Packet) {
	if len(p.Payload) < 4 {
		return
	}
	ev, end := p.Payload[0], p.Payload[1]&0x80 != 0
	if !s.haveEv || p.Timestamp != s.lastEvTS {
		s.haveEv, s.lastEvTS, s.evEnded = true, p.Timestamp, false
		if int(ev) < len(dtmfDigits) {
			s.dtmfIn.WriteByte(dtmfDigits[ev])
		} else {
			s.dtmfIn.WriteByte('?')
		}
	}
	if end {
		s.evEnded = true
	}
}

// RTPStats are the media counters of a call.
type RTPStats struct {
	Local        netip.AddrPort // our RTP socket
	Sent         int            // packets sent, audio and DTMF
	SentByPT     map[uint8]int
	Received     int // valid RTP packets received
	ReceivedByPT map[uint8]int
	Invalid      int            // datagrams that were not RTP version 2
	Tones        int            // received audio packets that carry the 1 kHz test tone
	SeqGaps      int            // received packets whose sequence number did not follow the previous one
	Source       netip.AddrPort // where the last packet came from
	Sources      map[netip.AddrPort]int
	FirstPacket  time.Time // arrival of the first and last received packets
	LastPacket   time.Time
	DTMFSent     string // digits whose end packets went out
	DTMFReceived string // digits received, one per event
}

func (s *rtpStream) stats() RTPStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := RTPStats{
		Local: s.local, Sent: s.sent, SentByPT: make(map[uint8]int, len(s.sentPT)),
		Received: s.recvTotal, ReceivedByPT: make(map[uint8]int, len(s.recvPT)), Invalid: s.invalid,
		Tones: s.tones, SeqGaps: s.seqGaps, Source: s.source, Sources: make(map[netip.AddrPort]int, len(s.sources)),
		FirstPacket: s.firstRecv, LastPacket: s.lastRecv,
		DTMFSent: s.dtmfOut.String(), DTMFReceived: s.dtmfIn.String(),
	}
	for k, v := range s.sentPT {
		st.SentByPT[k] = v
	}
	for k, v := range s.recvPT {
		st.ReceivedByPT[k] = v
	}
	for k, v := range s.sources {
		st.Sources[k] = v
	}
	return st
}

// audioReceived counts received packets that are not telephone-event.
func (s *rtpStream) audioReceived() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.recvTotal
	for pt, c := range s.recvPT {
		if s.dtmfPT[pt] {
			n -= c
		}
	}
	return n
}

// heardAudio is a copy of the audio received so far.
func (s *rtpStream) heardAudio() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.heard...)
}

// ToneSequence names, for audio at 8 kHz, the tones of freqs heard one after the other:
// each 50 ms window is given the frequency whose Goertzel power dominates it (at least half
// of the window's energy), silence and mixtures give nothing, and repeats collapse, so
// prompts made of distinct tones read back as the order they were played in.
func ToneSequence(samples []int16, freqs []float64) []float64 {
	const win = 400
	var out []float64
	for off := 0; off+win <= len(samples); off += win {
		w := samples[off : off+win]
		var energy float64
		for _, v := range w {
			energy += float64(v) * float64(v)
		}
		if energy/win < 1e4 { // below about -50 dBFS: silence
			continue
		}
		best, bestP := 0.0, 0.0
		for _, f := range freqs {
			if p := goertzel(w, f); p > bestP {
				best, bestP = f, p
			}
		}
		// Goertzel power of a pure tone is about (N/2)^2 * A^2 / ... : compare with the
		// energy, normalised so a pure tone gives about 1.
		if bestP*2/(win*energy) < 0.5 {
			continue
		}
		if len(out) == 0 || out[len(out)-1] != best {
			out = append(out, best)
		}
	}
	return out
}

func goertzel(w []int16, f float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/8000)
	var s1, s2 float64
	for _, v := range w {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - k*s1*s2
}
