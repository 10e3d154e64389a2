package pbx

import (
	"bytes"
	"errors"
	"strconv"
)

// framer cuts a stream (TCP, TLS) into SIP messages (RFC 3261 section 18.3): CRLFs before a
// start line are skipped (section 7.5, and RFC 5626 keep-alives), a message is its header
// section and then exactly Content-Length bytes.
type framer struct {
	buf []byte
	max int
}

var (
	errFraming  = errors.New("sip framing: missing, multiple or invalid Content-Length")
	errTooLarge = errors.New("sip framing: message too large")
)

// feed adds data and returns the messages it completes (copies). After an error the stream
// has no message boundary left and must be closed; head is the header section that failed.
func (f *framer) feed(data []byte) (msgs [][]byte, head []byte, err error) {
	f.buf = append(f.buf, data...)
	for {
		i := 0
		for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
			i++
		}
		f.buf = f.buf[i:]
		if len(f.buf) == 0 {
			f.buf = nil
			return msgs, nil, nil
		}
		end := bytes.Index(f.buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(f.buf) > f.max {
				return msgs, f.buf, errTooLarge
			}
			return msgs, nil, nil
		}
		head := f.buf[:end+4]
		n, err := contentLength(head)
		if err != nil {
			return msgs, head, err
		}
		total := end + 4 + n
		if total > f.max {
			return msgs, head, errTooLarge
		}
		if len(f.buf) < total {
			return msgs, nil, nil
		}
		msgs = append(msgs, bytes.Clone(f.buf[:total]))
		f.buf = f.buf[total:]
	}
}

// contentLength reads the one Content-Length (or compact l) of a header section; none
// means an empty body (RFC 2543 messages).
func contentLength(head []byte) (int, error) {
	n, seen := 0, false
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name = bytes.TrimSpace(name)
		if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
			continue
		}
		if seen {
			return 0, errFraming
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 31)
		if err != nil {
			return 0, errFraming
		}
		n, seen = int(v), true
	}
	return n, nil
}
