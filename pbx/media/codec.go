package media

import (
	"strings"

	"github.com/zaf/g711"
)

// Codec is an RTP payload format as negotiated in SDP: its encoding name, the payload type
// that carries it on one leg and its RTP clock rate.
type Codec struct {
	Name        string // canonical encoding name: "PCMU", "PCMA"
	PayloadType uint8  // 0..127
	ClockRate   int    // Hz
}

// The codecs the relay can transcode between. Their payload types are the static ones of
// RFC 3551; an SDP may map them to dynamic numbers, which Negotiate then returns.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	PCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

// DTMFPayloadType is the payload type Centrala offers for telephone-event (RFC 4733).
const DTMFPayloadType = 101

// NoDTMF is the dtmfPT of a leg that did not negotiate telephone-event.
const NoDTMF = -1

// telephoneEvent is the RFC 4733 encoding name.
const telephoneEvent = "telephone-event"

// dtmfEvents is the fmtp Centrala writes for telephone-event: digits, *, #, A-D and flash.
const dtmfEvents = "0-16"

// matches reports whether an SDP format carries codec c (name case-insensitive, same clock
// rate, mono).
func (c Codec) matches(f Format) bool {
	return strings.EqualFold(f.Name, c.Name) && f.ClockRate == c.ClockRate && f.Channels <= 1
}

// law identifies a G.711 variant for the per-packet path, where string compares are avoided.
type law uint8

const (
	lawOther law = iota
	lawU
	lawA
)

func lawOf(c Codec) law {
	switch {
	case c.ClockRate != 8000:
		return lawOther
	case strings.EqualFold(c.Name, "PCMU"):
		return lawU
	case strings.EqualFold(c.Name, "PCMA"):
		return lawA
	}
	return lawOther
}

// Direct G.711 conversion tables (ITU-T G.711 tables 3 and 4, as implemented by
// github.com/zaf/g711), copied into arrays so that a packet is converted with one indexed
// load per byte and no call.
var ulawToAlaw, alawToUlaw [256]byte

func init() {
	for i := range 256 {
		ulawToAlaw[i] = g711.Ulaw2AlawFrame(uint8(i))
		alawToUlaw[i] = g711.Alaw2UlawFrame(uint8(i))
	}
}

// transcodeTable returns the table converting from one law to the other, nil when the
// payload passes unchanged.
func transcodeTable(from, to law) *[256]byte {
	switch {
	case from == lawU && to == lawA:
		return &ulawToAlaw
	case from == lawA && to == lawU:
		return &alawToUlaw
	}
	return nil
}

// transcode converts p in place.
func transcode(t *[256]byte, p []byte) {
	for i, b := range p {
		p[i] = t[b]
	}
}
