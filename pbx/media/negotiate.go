package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNoCommonCodec means the remote SDP has no usable audio stream with a codec we support;
// the engine answers the INVITE (or re-INVITE) with 488 Not Acceptable Here.
var ErrNoCommonCodec = errors.New("no common codec")

// Negotiate chooses the codec and the telephone-event payload type for the audio stream of
// a remote SDP (RFC 3264): the first format of the offerer's list, in its order of
// preference, that is one of supported (matched by name and clock rate, whatever payload
// type numbers supported carries). The returned Codec carries the payload type the remote
// SDP uses for it. dtmfPT is the remote's telephone-event payload type at the codec's clock
// rate, NoDTMF when it offers none.
//
// The same call reads an answer to an offer of ours: pass the codecs we offered.
func Negotiate(offer *Session, supported []Codec) (chosen Codec, dtmfPT int, err error) {
	m := offer.Audio()
	if m == nil {
		return Codec{}, NoDTMF, fmt.Errorf("%w: no active audio stream over RTP/AVP", ErrNoCommonCodec)
	}
	found := false
	for _, f := range m.Formats {
		for _, c := range supported {
			if c.matches(f) {
				chosen, found = Codec{Name: c.Name, PayloadType: f.PayloadType, ClockRate: c.ClockRate}, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return Codec{}, NoDTMF, fmt.Errorf("%w: offered %s, supported %s", ErrNoCommonCodec, formatNames(m.Formats), codecNames(supported))
	}
	dtmfPT = NoDTMF
	for _, f := range m.Formats {
		if strings.EqualFold(f.Name, telephoneEvent) && f.ClockRate == chosen.ClockRate {
			dtmfPT = int(f.PayloadType)
			break
		}
	}
	return chosen, dtmfPT, nil
}

// Local describes our side of one leg's audio stream for the SDP we send on it.
type Local struct {
	Addr      netip.AddrPort // where the peer must send RTP: our public address and the relay leg's port
	Codecs    []Codec        // supported codecs; an offer lists them in this order
	DTMF      bool           // offer, or accept, telephone-event
	Direction Direction      // what we want; an answer also follows the offer (RFC 3264 section 6.1)
	Ptime     int            // a=ptime in ms; 0 leaves it out

	SessionID      uint64 // o= session id, fixed for the dialog
	SessionVersion uint64 // o= version: increase it whenever the SDP of the dialog changes
}

func (l Local) session() *Session {
	a := l.Addr.Addr()
	return &Session{
		Origin: Origin{
			Username: "-", SessionID: strconv.FormatUint(l.SessionID, 10),
			SessionVersion: strconv.FormatUint(l.SessionVersion, 10),
			NetType:        "IN", AddrType: addrType(a), Address: a.String(),
		},
		Name:       "-",
		Connection: a,
	}
}

// NewOffer builds the SDP offer for a leg: one audio stream over RTP/AVP with l.Codecs in
// order and, when l.DTMF, telephone-event/8000 at DTMFPayloadType with events 0-16.
func NewOffer(l Local) *Session {
	s := l.session()
	m := Media{Type: "audio", Port: int(l.Addr.Port()), Proto: "RTP/AVP", Direction: l.Direction, Ptime: l.Ptime}
	for _, c := range l.Codecs {
		m.Formats = append(m.Formats, Format{PayloadType: c.PayloadType, Name: c.Name, ClockRate: c.ClockRate})
	}
	if l.DTMF {
		m.Formats = append(m.Formats, Format{PayloadType: DTMFPayloadType, Name: telephoneEvent, ClockRate: 8000, Fmtp: dtmfEvents})
	}
	s.Media = []Media{m}
	return s
}

// NewAnswer builds our answer to offer (RFC 3264 section 6): the codec Negotiate chooses
// from l.Codecs with the offerer's payload type, the offerer's telephone-event type when
// both sides want DTMF, the direction that answers the offered one, and every other m= line
// rejected with port 0. It returns ErrNoCommonCodec (answer 488) when nothing matches.
func NewAnswer(offer *Session, l Local) (*Session, error) {
	codec, dtmf, err := Negotiate(offer, l.Codecs)
	if err != nil {
		return nil, err
	}
	audio := offer.Audio()
	s := l.session()
	s.Media = make([]Media, 0, len(offer.Media))
	for i := range offer.Media {
		om := &offer.Media[i]
		if om != audio {
			rej := Media{Type: om.Type, Port: 0, Proto: om.Proto, Tokens: om.Tokens}
			for _, f := range om.Formats {
				rej.Formats = append(rej.Formats, Format{PayloadType: f.PayloadType})
			}
			s.Media = append(s.Media, rej)
			continue
		}
		am := Media{
			Type: "audio", Port: int(l.Addr.Port()), Proto: om.Proto,
			Formats:   []Format{{PayloadType: codec.PayloadType, Name: codec.Name, ClockRate: codec.ClockRate}},
			Direction: answerDirection(offer.effectiveDirection(om), l.Direction),
			Ptime:     l.Ptime,
		}
		if l.DTMF && dtmf != NoDTMF {
			am.Formats = append(am.Formats, Format{PayloadType: uint8(dtmf), Name: telephoneEvent, ClockRate: codec.ClockRate, Fmtp: dtmfEvents})
		}
		s.Media = append(s.Media, am)
	}
	return s, nil
}

func formatNames(fs []Format) string {
	names := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.Name == "" {
			names = append(names, strconv.Itoa(int(f.PayloadType)))
		} else {
			names = append(names, f.Name+"/"+strconv.Itoa(f.ClockRate))
		}
	}
	return "[" + strings.Join(names, " ") + "]"
}

func codecNames(cs []Codec) string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name+"/"+strconv.Itoa(c.ClockRate))
	}
	return "[" + strings.Join(names, " ") + "]"
}
