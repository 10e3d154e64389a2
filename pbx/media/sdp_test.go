package media

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crlf turns a readable literal (LF, leading tabs) into SDP with CRLF line ends.
func crlf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// The INVITE offer of SIPp's built-in uac_pcap scenario (sipp -sd uac_pcap), with
// [local_ip] 127.0.0.1 and [auto_media_port] 6000.
var sippUACPcap = crlf(`
	v=0
	o=user1 53655765 2353687637 IN IP4 127.0.0.1
	s=-
	c=IN IP4 127.0.0.1
	t=0 0
	m=audio 6000 RTP/AVP 8 101
	a=rtpmap:8 PCMA/8000
	a=rtpmap:101 telephone-event/8000
	a=fmtp:101 0-11,16
`)

// An INVITE offer captured from baresip 1.0.0 (Debian baresip-core) with the g711 module.
var baresipG711 = crlf(`
	v=0
	o=- 4109093657 15597693 IN IP4 192.0.2.2
	s=-
	c=IN IP4 192.0.2.2
	t=0 0
	a=tool:baresip 1.0.0
	m=audio 45360 RTP/AVP 0 8 101
	a=rtpmap:0 PCMU/8000
	a=rtpmap:8 PCMA/8000
	a=rtpmap:101 telephone-event/8000
	a=fmtp:101 0-15
	a=sendrecv
	a=label:1
	a=rtcp-rsize
	a=ssrc:2619418707 cname:sip:alice@127.0.0.1:25099
	a=minptime:20
	a=ptime:20
`)

// The same baresip with the opus and g722 modules loaded: wideband codecs first.
var baresipOpus = crlf(`
	v=0
	o=- 420418412 1381268508 IN IP4 192.0.2.2
	s=-
	c=IN IP4 192.0.2.2
	t=0 0
	a=tool:baresip 1.0.0
	m=audio 3982 RTP/AVP 96 9 0 8 101
	a=rtpmap:96 opus/48000/2
	a=fmtp:96 stereo=1;sprop-stereo=1
	a=rtpmap:9 G722/8000
	a=rtpmap:0 PCMU/8000
	a=rtpmap:8 PCMA/8000
	a=rtpmap:101 telephone-event/8000
	a=fmtp:101 0-15
	a=sendrecv
	a=label:1
	a=rtcp-rsize
	a=ssrc:3633898138 cname:sip:alice@127.0.0.1:25099
	a=minptime:20
	a=ptime:20
`)

// A minimal phone offer: LF line ends, static types without rtpmap, media-level c=.
var staticOffer = "v=0\no=alice 1 1 IN IP4 10.0.0.7\ns=call\nt=0 0\nm=audio 4000 RTP/AVP 18 0 8\nc=IN IP4 10.0.0.7\n"

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		sdp  string
		want *Session
	}{
		{name: "SIPp uac_pcap", sdp: sippUACPcap, want: &Session{
			Origin:     Origin{"user1", "53655765", "2353687637", "IN", "IP4", "127.0.0.1"},
			Name:       "-",
			Connection: netip.MustParseAddr("127.0.0.1"),
			Media: []Media{{Type: "audio", Port: 6000, Proto: "RTP/AVP", Tokens: []string{"8", "101"},
				Formats: []Format{
					{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
					{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, Fmtp: "0-11,16"},
				}}},
		}},
		{name: "baresip 1.0.0", sdp: baresipG711, want: &Session{
			Origin:     Origin{"-", "4109093657", "15597693", "IN", "IP4", "192.0.2.2"},
			Name:       "-",
			Connection: netip.MustParseAddr("192.0.2.2"),
			Media: []Media{{Type: "audio", Port: 45360, Proto: "RTP/AVP", Tokens: []string{"0", "8", "101"},
				Formats: []Format{
					{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
					{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
					{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, Fmtp: "0-15"},
				}, Ptime: 20}},
		}},
		{name: "static payload types, media-level c=, LF", sdp: staticOffer, want: &Session{
			Origin: Origin{"alice", "1", "1", "IN", "IP4", "10.0.0.7"},
			Name:   "call",
			Media: []Media{{Type: "audio", Port: 4000, Proto: "RTP/AVP", Tokens: []string{"18", "0", "8"},
				Connection: netip.MustParseAddr("10.0.0.7"),
				Formats: []Format{
					{PayloadType: 18, Name: "G729", ClockRate: 8000},
					{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
					{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
				}}},
		}},
		{name: "IPv6, session-level direction and ptime, T.38 and rejected video", sdp: crlf(`
			v=0
			o=- 7 8 IN IP6 2001:db8::1
			s=-
			c=IN IP6 2001:db8::1
			t=0 0
			a=sendonly
			a=ptime:30
			m=audio 5004 RTP/AVP 0
			m=video 0 RTP/AVP 96
			a=rtpmap:96 H264/90000
			m=image 6000 udptl t38
			a=T38FaxVersion:0
			a=recvonly
		`), want: &Session{
			Origin:     Origin{"-", "7", "8", "IN", "IP6", "2001:db8::1"},
			Name:       "-",
			Connection: netip.MustParseAddr("2001:db8::1"),
			Media: []Media{
				{Type: "audio", Port: 5004, Proto: "RTP/AVP", Tokens: []string{"0"},
					Formats: []Format{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}}, Direction: SendOnly, Ptime: 30},
				{Type: "video", Port: 0, Proto: "RTP/AVP", Tokens: []string{"96"},
					Formats: []Format{{PayloadType: 96, Name: "H264", ClockRate: 90000}}, Direction: SendOnly, Ptime: 30},
				{Type: "image", Port: 6000, Proto: "udptl", Tokens: []string{"t38"}, Direction: RecvOnly, Ptime: 30},
			},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.sdp))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
	cases := []struct {
		name, sdp, want string
	}{
		{"empty", "", "empty body"},
		{"not SDP", "INVITE sip:bob@example.com SIP/2.0\r\n", "not <type>=<value>"},
		{"v= not first", "o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n", "first line must be v=0"},
		{"version 1", "v=1\r\n", "want one v=0"},
		{"no origin", "v=0\r\ns=-\r\n", "v= and o= are required"},
		{"origin fields", "v=0\r\no=- 1 IN IP4 10.0.0.1\r\n", "o= needs 6 fields"},
		{"origin version not a number", "v=0\r\no=- 1 x IN IP4 10.0.0.1\r\n", "must be numbers"},
		{"origin network type", "v=0\r\no=- 1 1 ATM NSAP 47\r\n", "IN IP4 or IN IP6"},
		{"m= before o=", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", "m= before o="},
		{"host name in c=", strings.Replace(head, "c=IN IP4 10.0.0.1", "c=IN IP4 pbx.example.com", 1), "not an IP address"},
		{"IPv6 address as IP4", strings.Replace(head, "c=IN IP4 10.0.0.1", "c=IN IP4 ::1", 1), "not of type"},
		{"two session c=", head + "c=IN IP4 10.0.0.2\r\n", "more than one c="},
		{"no connection", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n", "no connection address"},
		{"port too big", head + "m=audio 70000 RTP/AVP 0\r\n", "m= port"},
		{"signed port", head + "m=audio +4000 RTP/AVP 0\r\n", "m= port"},
		{"no formats", head + "m=audio 4000 RTP/AVP\r\n", "m= needs"},
		{"payload type not a number", head + "m=audio 4000 RTP/AVP PCMU\r\n", "not 0..127"},
		{"payload type 128", head + "m=audio 4000 RTP/AVP 128\r\n", "not 0..127"},
		{"payload type twice", head + "m=audio 4000 RTP/AVP 0 0\r\n", "twice"},
		{"double space in m=", head + "m=audio 4000 RTP/AVP 0  8\r\n", "empty format"},
		{"rtpmap without clock", head + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n", "rtpmap"},
		{"rtpmap clock 0", head + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/0\r\n", "clock rate"},
		{"rtpmap twice", head + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\na=rtpmap:96 PCMA/8000\r\n", "twice"},
		{"fmtp twice", head + "m=audio 4000 RTP/AVP 101\r\na=fmtp:101 0-15\r\na=fmtp:101 0-16\r\n", "twice"},
		{"ptime not a number", head + "m=audio 4000 RTP/AVP 0\r\na=ptime:20.0\r\n", "a=ptime"},
		{"two directions", head + "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\na=sendrecv\r\n", "more than one direction"},
		{"direction with a value", head + "m=audio 4000 RTP/AVP 0\r\na=sendonly:1\r\n", "takes no value"},
		{"unknown line type", head + "x=1\r\n", "unknown line type"},
		{"NUL byte", head + "a=tool:a\x00b\r\n", "control character"},
		{"bare CR inside a line", head + "a=tool:a\rb\r\n", "control character"},
		{"too big", head + strings.Repeat("a=x\r\n", 8000), "more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.sdp))
			require.ErrorIs(t, err, ErrInvalidSDP)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNegotiate(t *testing.T) {
	offer := func(mline string, attrs ...string) string {
		return "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" + mline + "\r\n" +
			strings.Join(append(attrs, ""), "\r\n")
	}
	g711 := []Codec{PCMU, PCMA}
	cases := []struct {
		name      string
		sdp       string
		supported []Codec
		codec     Codec
		dtmf      int
		err       error
	}{
		{name: "SIPp: PCMA and DTMF", sdp: sippUACPcap, supported: g711, codec: PCMA, dtmf: 101},
		{name: "SIPp offers only PCMA: 488 for a PCMU-only server", sdp: sippUACPcap, supported: []Codec{PCMU}, err: ErrNoCommonCodec},
		{name: "baresip: the offerer's order wins over ours", sdp: baresipG711, supported: []Codec{PCMA, PCMU}, codec: PCMU, dtmf: 101},
		{name: "baresip with opus and G722 first", sdp: baresipOpus, supported: g711, codec: PCMU, dtmf: 101},
		{name: "static types without rtpmap, no DTMF", sdp: staticOffer, supported: g711, codec: PCMU, dtmf: NoDTMF},
		{name: "G.729 only: 488", sdp: offer("m=audio 4000 RTP/AVP 18"), supported: g711, err: ErrNoCommonCodec},
		{name: "PCMU on a dynamic type", sdp: offer("m=audio 4000 RTP/AVP 97 101", "a=rtpmap:97 pcmu/8000", "a=rtpmap:101 telephone-event/8000"),
			supported: g711, codec: pcmuAt(97), dtmf: 101},
		{name: "PCMU at 16 kHz is not PCMU", sdp: offer("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"), supported: g711, err: ErrNoCommonCodec},
		{name: "stereo PCMA is not PCMA", sdp: offer("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMA/8000/2"), supported: g711, err: ErrNoCommonCodec},
		{name: "telephone-event at another rate is ignored", sdp: offer("m=audio 4000 RTP/AVP 8 100 101", "a=rtpmap:100 telephone-event/48000", "a=rtpmap:101 telephone-event/8000"),
			supported: g711, codec: PCMA, dtmf: 101},
		{name: "dynamic type without rtpmap is not matched", sdp: offer("m=audio 4000 RTP/AVP 96 8"), supported: g711, codec: PCMA, dtmf: NoDTMF},
		{name: "audio rejected (port 0)", sdp: offer("m=audio 0 RTP/AVP 0"), supported: g711, err: ErrNoCommonCodec},
		{name: "SRTP only", sdp: offer("m=audio 4000 RTP/SAVP 0"), supported: g711, err: ErrNoCommonCodec},
		{name: "video only", sdp: offer("m=video 4000 RTP/AVP 96", "a=rtpmap:96 VP8/90000"), supported: g711, err: ErrNoCommonCodec},
		{name: "second audio stream used when the first is rejected", sdp: offer("m=audio 0 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8"), supported: g711, codec: PCMA, dtmf: NoDTMF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.sdp))
			require.NoError(t, err)
			codec, dtmf, err := Negotiate(s, tc.supported)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.Equal(t, NoDTMF, dtmf)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.codec, codec)
			require.Equal(t, tc.dtmf, dtmf)
		})
	}
}

func TestNewAnswer(t *testing.T) {
	local := Local{Addr: netip.MustParseAddrPort("203.0.113.5:20000"), Codecs: []Codec{PCMU, PCMA}, DTMF: true,
		Ptime: 20, SessionID: 42, SessionVersion: 1}
	cases := []struct {
		name  string
		offer string
		local func(*Local)
		want  string
	}{
		{name: "SIPp uac_pcap", offer: sippUACPcap, want: crlf(`
			v=0
			o=- 42 1 IN IP4 203.0.113.5
			s=-
			c=IN IP4 203.0.113.5
			t=0 0
			m=audio 20000 RTP/AVP 8 101
			a=rtpmap:8 PCMA/8000
			a=rtpmap:101 telephone-event/8000
			a=fmtp:101 0-16
			a=ptime:20
			a=sendrecv
		`)},
		{name: "baresip with opus, no DTMF wanted", offer: baresipOpus, local: func(l *Local) { l.DTMF = false; l.Ptime = 0 }, want: crlf(`
			v=0
			o=- 42 1 IN IP4 203.0.113.5
			s=-
			c=IN IP4 203.0.113.5
			t=0 0
			m=audio 20000 RTP/AVP 0
			a=rtpmap:0 PCMU/8000
			a=sendrecv
		`)},
		{name: "hold offer with video and T.38: recvonly, the rest rejected", offer: crlf(`
			v=0
			o=- 7 8 IN IP4 10.0.0.9
			s=-
			c=IN IP4 10.0.0.9
			t=0 0
			m=video 5006 RTP/AVP 96
			a=rtpmap:96 H264/90000
			m=audio 5004 RTP/AVP 0 101
			a=rtpmap:101 telephone-event/8000
			a=sendonly
			m=image 6000 udptl t38
		`), want: crlf(`
			v=0
			o=- 42 1 IN IP4 203.0.113.5
			s=-
			c=IN IP4 203.0.113.5
			t=0 0
			m=video 0 RTP/AVP 96
			m=audio 20000 RTP/AVP 0 101
			a=rtpmap:0 PCMU/8000
			a=rtpmap:101 telephone-event/8000
			a=fmtp:101 0-16
			a=ptime:20
			a=recvonly
			m=image 0 udptl t38
		`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			offer, err := Parse([]byte(tc.offer))
			require.NoError(t, err)
			l := local
			if tc.local != nil {
				tc.local(&l)
			}
			ans, err := NewAnswer(offer, l)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(ans.Marshal()))

			// The answer parses, and reading it back chooses the same codec.
			back, err := Parse(ans.Marshal())
			require.NoError(t, err)
			want, wantDTMF, _ := Negotiate(offer, l.Codecs)
			got, gotDTMF, err := Negotiate(back, l.Codecs)
			require.NoError(t, err)
			require.Equal(t, want, got)
			if l.DTMF {
				require.Equal(t, wantDTMF, gotDTMF)
			}
			require.Equal(t, l.Addr, back.AudioAddr())
		})
	}

	_, err := NewAnswer(mustParse(t, sippUACPcap), Local{Addr: local.Addr, Codecs: []Codec{PCMU}})
	require.ErrorIs(t, err, ErrNoCommonCodec)
}

func TestAnswerDirection(t *testing.T) {
	cases := []struct {
		offered, local, want Direction
	}{
		{SendRecv, SendRecv, SendRecv},
		{SendOnly, SendRecv, RecvOnly},
		{RecvOnly, SendRecv, SendOnly},
		{Inactive, SendRecv, Inactive},
		{SendRecv, SendOnly, SendOnly},
		{SendOnly, SendOnly, Inactive},
		{RecvOnly, RecvOnly, Inactive},
		{SendRecv, Inactive, Inactive},
	}
	for _, tc := range cases {
		t.Run(tc.offered.String()+"/"+tc.local.String(), func(t *testing.T) {
			require.Equal(t, tc.want, answerDirection(tc.offered, tc.local))
		})
	}
}

func TestNewOffer(t *testing.T) {
	s := NewOffer(Local{Addr: netip.MustParseAddrPort("[2001:db8::5]:20002"), Codecs: []Codec{PCMA, PCMU}, DTMF: true,
		Direction: SendOnly, Ptime: 20, SessionID: 9, SessionVersion: 3})
	require.Equal(t, crlf(`
		v=0
		o=- 9 3 IN IP6 2001:db8::5
		s=-
		c=IN IP6 2001:db8::5
		t=0 0
		m=audio 20002 RTP/AVP 8 0 101
		a=rtpmap:8 PCMA/8000
		a=rtpmap:0 PCMU/8000
		a=rtpmap:101 telephone-event/8000
		a=fmtp:101 0-16
		a=ptime:20
		a=sendonly
	`), string(s.Marshal()))
	back := mustParse(t, string(s.Marshal()))
	require.True(t, back.OnHold())
	codec, dtmf, err := Negotiate(back, []Codec{PCMU, PCMA})
	require.NoError(t, err)
	require.Equal(t, PCMA, codec)
	require.Equal(t, DTMFPayloadType, dtmf)
}

func TestOnHold(t *testing.T) {
	const head = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
	cases := []struct {
		name string
		sdp  string
		hold bool
		addr string
	}{
		{"sendrecv", head + "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n", false, "10.0.0.1:4000"},
		{"sendonly", head + "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n", true, "10.0.0.1:4000"},
		{"inactive", head + "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=inactive\r\n", true, "10.0.0.1:4000"},
		{"recvonly is not a hold", head + "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n", false, "10.0.0.1:4000"},
		{"c=0.0.0.0 (RFC 2543)", head + "c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n", true, "0.0.0.0:4000"},
		{"session-level sendonly", head + "c=IN IP4 10.0.0.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n", true, "10.0.0.1:4000"},
		{"media level overrides session level", head + "c=IN IP4 10.0.0.1\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n", false, "10.0.0.1:4000"},
		{"media-level c= overrides session-level 0.0.0.0", head + "c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n", false, "10.0.0.2:4000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.sdp)
			require.Equal(t, tc.hold, s.OnHold())
			require.Equal(t, netip.MustParseAddrPort(tc.addr), s.AudioAddr())
		})
	}
	// An RFC 2543 hold offer (c=0.0.0.0, no attribute) is answered recvonly.
	ans, err := NewAnswer(mustParse(t, head+"c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n"),
		Local{Addr: netip.MustParseAddrPort("10.9.9.9:20000"), Codecs: []Codec{PCMU}})
	require.NoError(t, err)
	require.Equal(t, RecvOnly, ans.Media[0].Direction)
}

func mustParse(t *testing.T, sdp string) *Session {
	t.Helper()
	s, err := Parse([]byte(sdp))
	require.NoError(t, err)
	return s
}

// FuzzParse: Parse never panics, and what it accepts survives Marshal: the marshalled form
// parses again to the same marshalled form. Negotiate and NewAnswer accept any parsed SDP.
func FuzzParse(f *testing.F) {
	for _, s := range []string{sippUACPcap, baresipG711, baresipOpus, staticOffer,
		"v=0\no=- 1 1 IN IP6 ::1\nc=IN IP6 ::1\na=inactive\nm=audio 1/2 RTP/AVP 0 96\na=fmtp:96 x\nm=image 9 udptl t38\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		m1 := s.Marshal()
		s2, err := Parse(m1)
		if err != nil {
			t.Fatalf("marshalled form does not parse: %v\n%q", err, m1)
		}
		if m2 := s2.Marshal(); string(m1) != string(m2) {
			t.Fatalf("marshal is not stable:\n%q\n%q", m1, m2)
		}
		_, _, _ = Negotiate(s, []Codec{PCMU, PCMA})
		if ans, err := NewAnswer(s, Local{Addr: netip.MustParseAddrPort("10.0.0.1:20000"), Codecs: []Codec{PCMU, PCMA}, DTMF: true}); err == nil {
			if _, err := Parse(ans.Marshal()); err != nil {
				t.Fatalf("answer does not parse: %v\n%q", err, ans.Marshal())
			}
		}
	})
}
