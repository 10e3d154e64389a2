package media

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrInvalidSDP wraps every parse error; the engine answers such an offer with 400.
var ErrInvalidSDP = errors.New("invalid SDP")

// Limits that keep a hostile body cheap to reject.
const (
	maxSDPSize = 32 << 10 // larger than any SIP message the engine accepts
	maxMedia   = 32       // m-lines per session
)

// Direction is an SDP direction attribute (RFC 3264 section 5.1), seen from the side that
// wrote the SDP.
type Direction uint8

// Directions. The zero value is sendrecv, the default when no attribute is present.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

func parseDirection(s string) (Direction, bool) {
	switch s {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return 0, false
}

// sends and receives tell what the side that wrote d does.
func (d Direction) sends() bool    { return d == SendRecv || d == SendOnly }
func (d Direction) receives() bool { return d == SendRecv || d == RecvOnly }

func direction(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

// answerDirection is the direction of an answer to an offered stream (RFC 3264 section
// 6.1): we send only if the offerer receives and we want to send, and the other way round.
func answerDirection(offered, local Direction) Direction {
	return direction(offered.receives() && local.sends(), offered.sends() && local.receives())
}

// Origin is the o= line (RFC 4566 section 5.2).
type Origin struct {
	Username       string
	SessionID      string // digits
	SessionVersion string // digits; increases with every changed SDP of the session
	NetType        string // "IN"
	AddrType       string // "IP4" or "IP6"
	Address        string
}

// Format is one payload type of an RTP m-line with what its a=rtpmap and a=fmtp say.
// Static payload types without a=rtpmap get their RFC 3551 name and clock rate.
type Format struct {
	PayloadType uint8
	Name        string // encoding name as written; empty for a dynamic type without rtpmap
	ClockRate   int
	Channels    int // 0 when rtpmap does not say
	Fmtp        string
}

// Media is one m= section.
type Media struct {
	Type       string     // "audio", "video", "image", ...
	Port       int        // 0 rejects or disables the stream
	NumPorts   int        // the "/<number>" of the m-line, 0 when absent
	Proto      string     // "RTP/AVP", "udptl", ...
	Tokens     []string   // the m-line's format list as written
	Formats    []Format   // parsed payload types, for RTP/* protocols only, in m-line order
	Connection netip.Addr // media-level c=, invalid when absent
	Direction  Direction  // media-level attribute, else the session-level one, else sendrecv
	Ptime      int        // a=ptime in ms (media level, else session level), 0 when absent
}

// Session is a parsed or built session description. Attributes the media layer does not
// use are not kept: Marshal writes what Centrala sends, it does not round-trip foreign SDP.
type Session struct {
	Origin     Origin
	Name       string     // s=
	Connection netip.Addr // session-level c=, invalid when absent
	Media      []Media
}

// Audio returns the stream the media layer uses: the first audio m-line with a non-zero
// port over RTP/AVP. It is nil when there is none (SRTP, for one, is not supported).
func (s *Session) Audio() *Media {
	for i := range s.Media {
		m := &s.Media[i]
		if m.Type == "audio" && m.Port != 0 && m.Proto == "RTP/AVP" {
			return m
		}
	}
	return nil
}

// Addr returns where the writer of s wants to receive m: the media-level connection
// address, else the session-level one, with the m-line's port.
func (s *Session) Addr(m *Media) netip.AddrPort {
	a := m.Connection
	if !a.IsValid() {
		a = s.Connection
	}
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(m.Port))
}

// AudioAddr is Addr of the Audio stream, the zero AddrPort when there is none. Its address
// is unspecified (0.0.0.0) for an RFC 2543 style hold.
func (s *Session) AudioAddr() netip.AddrPort {
	m := s.Audio()
	if m == nil {
		return netip.AddrPort{}
	}
	return s.Addr(m)
}

// OnHold reports whether this SDP, as an offer, puts the call on hold: its audio stream is
// sendonly or inactive, or has the connection address 0.0.0.0 (RFC 2543, still used by
// some phones), or there is no usable audio stream at all. A recvonly answer to a sendonly
// offer is the normal reply to a hold, not a hold of its own.
func (s *Session) OnHold() bool {
	m := s.Audio()
	if m == nil {
		return true
	}
	return m.Direction == SendOnly || m.Direction == Inactive || s.Addr(m).Addr().IsUnspecified()
}

// effectiveDirection is what the writer of s does on m, counting c=0.0.0.0 as "does not
// receive".
func (s *Session) effectiveDirection(m *Media) Direction {
	d := m.Direction
	if s.Addr(m).Addr().IsUnspecified() {
		d = direction(d.sends(), false)
	}
	return d
}

// staticFormats are the RFC 3551 payload types phones still use without a=rtpmap.
var staticFormats = map[uint8]Format{
	0:  {Name: "PCMU", ClockRate: 8000},
	3:  {Name: "GSM", ClockRate: 8000},
	4:  {Name: "G723", ClockRate: 8000},
	8:  {Name: "PCMA", ClockRate: 8000},
	9:  {Name: "G722", ClockRate: 8000},
	13: {Name: "CN", ClockRate: 8000},
	18: {Name: "G729", ClockRate: 8000},
}

// sdpParser holds the state of one Parse call.
type sdpParser struct {
	s          *Session
	line       int
	sawV, sawO bool
	sawS       bool
	sessionDir Direction
	sessDirSet bool
	ptime      int
	mediaDir   []bool          // a direction attribute was seen for Media[i]
	rtpmapSeen map[uint16]bool // media index<<8 | payload type
	fmtpSeen   map[uint16]bool
}

func (p *sdpParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrInvalidSDP, p.line, fmt.Sprintf(format, args...))
}

// Parse reads an SDP body (RFC 4566). It is strict about what the media layer relies on
// (v=0 first, a well-formed o= line, IP connection addresses present for every active
// stream, numeric payload types, well-formed rtpmap, fmtp, ptime and direction attributes,
// known line types) and ignores attributes it does not use. s= and t= may be missing: some
// devices omit them and they do not affect media. Lines may end in CRLF or LF.
func Parse(b []byte) (*Session, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrInvalidSDP)
	}
	if len(b) > maxSDPSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidSDP, len(b), maxSDPSize)
	}
	p := &sdpParser{s: &Session{}}
	for rest := b; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		p.line++
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if err := p.parseLine(line); err != nil {
			return nil, err
		}
	}
	return p.finish()
}

func (p *sdpParser) parseLine(line []byte) error {
	if len(line) < 2 || line[1] != '=' {
		return p.errorf("not <type>=<value>: %q", truncate(line))
	}
	if i := bytes.IndexAny(line, "\x00\r"); i >= 0 {
		return p.errorf("control character in %q", truncate(line))
	}
	typ, val := line[0], string(line[2:])
	if !p.sawV && typ != 'v' {
		return p.errorf("the first line must be v=0")
	}
	inMedia := len(p.s.Media) > 0
	switch typ {
	case 'v':
		if p.sawV || val != "0" {
			return p.errorf("want one v=0 as the first line, got v=%q", val)
		}
		p.sawV = true
	case 'o':
		if p.sawO || inMedia {
			return p.errorf("o= must appear once, before the media")
		}
		p.sawO = true
		return p.parseOrigin(val)
	case 's':
		if p.sawS || inMedia {
			return p.errorf("s= must appear once, before the media")
		}
		p.sawS = true
		p.s.Name = val
	case 'c':
		a, err := p.parseConnection(val)
		if err != nil {
			return err
		}
		target := &p.s.Connection
		if inMedia {
			target = &p.s.Media[len(p.s.Media)-1].Connection
		}
		if target.IsValid() {
			return p.errorf("more than one c= line at one level")
		}
		*target = a
	case 'm':
		if !p.sawO {
			return p.errorf("m= before o=")
		}
		if len(p.s.Media) == maxMedia {
			return p.errorf("more than %d m= lines", maxMedia)
		}
		m, err := p.parseMediaLine(val)
		if err != nil {
			return err
		}
		p.s.Media = append(p.s.Media, m)
		p.mediaDir = append(p.mediaDir, false)
	case 'a':
		return p.parseAttribute(val)
	case 'i', 'u', 'e', 'p', 'b', 't', 'r', 'z', 'k':
		// Known and not needed for media.
	default:
		// RFC 4566 section 5: a parser must not accept a type letter it does not know.
		return p.errorf("unknown line type %q", typ)
	}
	return nil
}

func (p *sdpParser) parseOrigin(val string) error {
	f := strings.Split(val, " ")
	if len(f) != 6 {
		return p.errorf("o= needs 6 fields, got %q", val)
	}
	o := Origin{Username: f[0], SessionID: f[1], SessionVersion: f[2], NetType: f[3], AddrType: f[4], Address: f[5]}
	if o.Username == "" || o.Address == "" {
		return p.errorf("o= with an empty field: %q", val)
	}
	if !isDigits(o.SessionID, 32) || !isDigits(o.SessionVersion, 32) {
		return p.errorf("o= session id and version must be numbers: %q", val)
	}
	if o.NetType != "IN" || (o.AddrType != "IP4" && o.AddrType != "IP6") {
		return p.errorf("o= network type must be IN IP4 or IN IP6: %q", val)
	}
	p.s.Origin = o
	return nil
}

// parseConnection reads "IN IP4 <addr>[/ttl[/n]]". Only IP addresses are accepted: the
// media path does not resolve names.
func (p *sdpParser) parseConnection(val string) (netip.Addr, error) {
	f := strings.Split(val, " ")
	if len(f) != 3 || f[0] != "IN" {
		return netip.Addr{}, p.errorf("c= must be \"IN IP4|IP6 <address>\", got %q", val)
	}
	host, _, _ := strings.Cut(f[2], "/")
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, p.errorf("c= address %q is not an IP address", f[2])
	}
	switch {
	case f[1] == "IP4" && a.Is4():
	case f[1] == "IP6" && a.Is6() && !a.Is4In6():
	default:
		return netip.Addr{}, p.errorf("c= address %q is not of type %q", host, f[1])
	}
	return a, nil
}

func (p *sdpParser) parseMediaLine(val string) (Media, error) {
	f := strings.Split(val, " ")
	if len(f) < 4 {
		return Media{}, p.errorf("m= needs <media> <port> <proto> <fmt>..., got %q", val)
	}
	m := Media{Type: f[0], Proto: f[2], Tokens: f[3:]}
	if m.Type == "" || m.Proto == "" {
		return Media{}, p.errorf("m= with an empty field: %q", val)
	}
	port, num, hasNum := strings.Cut(f[1], "/")
	var ok bool
	if m.Port, ok = parseUint(port, 65535); !ok {
		return Media{}, p.errorf("m= port %q", f[1])
	}
	if hasNum {
		if m.NumPorts, ok = parseUint(num, 65535); !ok || m.NumPorts == 0 {
			return Media{}, p.errorf("m= port count %q", f[1])
		}
	}
	for _, t := range m.Tokens {
		if t == "" {
			return Media{}, p.errorf("m= with an empty format: %q", val)
		}
	}
	if !strings.HasPrefix(m.Proto, "RTP/") {
		return m, nil
	}
	var seen [128]bool
	m.Formats = make([]Format, 0, len(m.Tokens))
	for _, t := range m.Tokens {
		pt, ok := parseUint(t, 127)
		if !ok {
			return Media{}, p.errorf("m= payload type %q is not 0..127", t)
		}
		if seen[pt] {
			return Media{}, p.errorf("m= lists payload type %d twice", pt)
		}
		seen[pt] = true
		m.Formats = append(m.Formats, Format{PayloadType: uint8(pt)})
	}
	return m, nil
}

func (p *sdpParser) parseAttribute(val string) error {
	name, value, hasValue := strings.Cut(val, ":")
	var m *Media
	if len(p.s.Media) > 0 {
		m = &p.s.Media[len(p.s.Media)-1]
	}
	if d, ok := parseDirection(name); ok {
		if hasValue {
			return p.errorf("a=%s takes no value", name)
		}
		if m == nil {
			if p.sessDirSet {
				return p.errorf("more than one session-level direction attribute")
			}
			p.sessionDir, p.sessDirSet = d, true
			return nil
		}
		if p.mediaDir[len(p.s.Media)-1] {
			return p.errorf("more than one direction attribute for one m= line")
		}
		m.Direction, p.mediaDir[len(p.s.Media)-1] = d, true
		return nil
	}
	switch name {
	case "ptime":
		ms, ok := parseUint(value, 1000)
		if !ok || ms == 0 {
			// Some phones write fractions ("a=ptime:20.0"); only whole milliseconds pass.
			return p.errorf("a=ptime %q is not 1..1000 ms", value)
		}
		if m == nil {
			p.ptime = ms
		} else {
			m.Ptime = ms
		}
	case "rtpmap", "fmtp":
		if m == nil || m.Formats == nil {
			return nil // meaningless outside an RTP m= section; ignored
		}
		ptText, rest, ok := strings.Cut(value, " ")
		pt, okPT := parseUint(ptText, 127)
		if !okPT {
			return p.errorf("a=%s payload type %q is not 0..127", name, ptText)
		}
		f := m.format(uint8(pt))
		if name == "fmtp" {
			if p.markSeen(&p.fmtpSeen, pt) {
				return p.errorf("a=fmtp for payload type %d twice", pt)
			}
			if f != nil {
				f.Fmtp = rest
			}
			return nil
		}
		if !ok {
			return p.errorf("a=rtpmap %q needs <encoding>/<clock rate>", value)
		}
		if p.markSeen(&p.rtpmapSeen, pt) {
			return p.errorf("a=rtpmap for payload type %d twice", pt)
		}
		enc, err := p.parseRtpmap(rest)
		if err != nil {
			return err
		}
		if f != nil { // an rtpmap for a type the m-line does not list is ignored
			enc.PayloadType, enc.Fmtp = f.PayloadType, f.Fmtp
			*f = enc
		}
	}
	return nil
}

// markSeen records payload type pt of the current m= line, reporting whether it was
// already there.
func (p *sdpParser) markSeen(set *map[uint16]bool, pt int) bool {
	if *set == nil {
		*set = make(map[uint16]bool)
	}
	k := uint16(len(p.s.Media))<<8 | uint16(pt)
	if (*set)[k] {
		return true
	}
	(*set)[k] = true
	return false
}

// parseRtpmap reads "<encoding name>/<clock rate>[/<channels>]".
func (p *sdpParser) parseRtpmap(s string) (Format, error) {
	f := strings.Split(s, "/")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || strings.ContainsAny(f[0], " \t") {
		return Format{}, p.errorf("a=rtpmap %q needs <encoding>/<clock rate>[/<channels>]", s)
	}
	clock, ok := parseUint(f[1], 10_000_000)
	if !ok || clock == 0 {
		return Format{}, p.errorf("a=rtpmap clock rate %q", f[1])
	}
	r := Format{Name: f[0], ClockRate: clock}
	if len(f) == 3 {
		if r.Channels, ok = parseUint(f[2], 255); !ok || r.Channels == 0 {
			return Format{}, p.errorf("a=rtpmap channels %q", f[2])
		}
	}
	return r, nil
}

func (m *Media) format(pt uint8) *Format {
	for i := range m.Formats {
		if m.Formats[i].PayloadType == pt {
			return &m.Formats[i]
		}
	}
	return nil
}

func (p *sdpParser) finish() (*Session, error) {
	if !p.sawV || !p.sawO {
		return nil, fmt.Errorf("%w: v= and o= are required", ErrInvalidSDP)
	}
	s := p.s
	for i := range s.Media {
		m := &s.Media[i]
		if !p.mediaDir[i] && p.sessDirSet {
			m.Direction = p.sessionDir
		}
		if m.Ptime == 0 {
			m.Ptime = p.ptime
		}
		if m.Port != 0 && !m.Connection.IsValid() && !s.Connection.IsValid() {
			return nil, fmt.Errorf("%w: m=%s %d has no connection address (c=)", ErrInvalidSDP, m.Type, m.Port)
		}
		for j := range m.Formats {
			f := &m.Formats[j]
			if st, ok := staticFormats[f.PayloadType]; ok && f.Name == "" {
				f.Name, f.ClockRate = st.Name, st.ClockRate
			}
		}
	}
	return s, nil
}

// Marshal writes s as SDP with CRLF line ends: v, o, s, c, t, then each m= section with its
// c=, a=rtpmap and a=fmtp for each named format, a=ptime and the direction. A rejected
// stream (port 0) gets only its m= line.
func (s *Session) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(256)
	o := s.Origin
	if o.Username == "" {
		o.Username = "-"
	}
	if o.SessionID == "" {
		o.SessionID = "0"
	}
	if o.SessionVersion == "" {
		o.SessionVersion = "0"
	}
	if o.Address == "" {
		a := s.Connection
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
		o.NetType, o.AddrType, o.Address = "IN", addrType(a), a.String()
	}
	name := s.Name
	if name == "" {
		name = "-"
	}
	fmt.Fprintf(&b, "v=0\r\no=%s %s %s %s %s %s\r\ns=%s\r\n", o.Username, o.SessionID, o.SessionVersion,
		o.NetType, o.AddrType, o.Address, name)
	if s.Connection.IsValid() {
		fmt.Fprintf(&b, "c=IN %s %s\r\n", addrType(s.Connection), s.Connection)
	}
	b.WriteString("t=0 0\r\n")
	for i := range s.Media {
		m := &s.Media[i]
		fmt.Fprintf(&b, "m=%s %d", m.Type, m.Port)
		if m.NumPorts > 0 {
			fmt.Fprintf(&b, "/%d", m.NumPorts)
		}
		b.WriteString(" " + m.Proto)
		if len(m.Formats) > 0 {
			for _, f := range m.Formats {
				b.WriteString(" " + strconv.Itoa(int(f.PayloadType)))
			}
		} else {
			for _, t := range m.Tokens {
				b.WriteString(" " + t)
			}
		}
		b.WriteString("\r\n")
		if m.Connection.IsValid() {
			fmt.Fprintf(&b, "c=IN %s %s\r\n", addrType(m.Connection), m.Connection)
		}
		if m.Port == 0 {
			continue
		}
		for _, f := range m.Formats {
			if f.Name != "" {
				fmt.Fprintf(&b, "a=rtpmap:%d %s/%d", f.PayloadType, f.Name, f.ClockRate)
				if f.Channels > 0 {
					fmt.Fprintf(&b, "/%d", f.Channels)
				}
				b.WriteString("\r\n")
			}
			if f.Fmtp != "" {
				fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", f.PayloadType, f.Fmtp)
			}
		}
		if m.Ptime > 0 {
			fmt.Fprintf(&b, "a=ptime:%d\r\n", m.Ptime)
		}
		fmt.Fprintf(&b, "a=%s\r\n", m.Direction)
	}
	return b.Bytes()
}

func addrType(a netip.Addr) string {
	if a.Is6() {
		return "IP6"
	}
	return "IP4"
}

// parseUint accepts decimal digits only (no sign, no spaces) up to max.
func parseUint(s string, max int) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

func isDigits(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
