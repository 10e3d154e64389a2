package pbx

import (
	"bytes"
	"testing"
)

func TestFramer(t *testing.T) {
	msg := func(body string, extra string) string {
		return "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n" + extra + "\r\n" + body
	}
	for _, tc := range []struct {
		name   string
		chunks []string
		want   int
		err    error
	}{
		{"one", []string{msg("", "Content-Length: 0\r\n")}, 1, nil},
		{"split across reads", []string{"OPTIONS sip:x SIP/2.0\r\nContent-", "Length: 3\r\n\r\nab", "c"}, 1, nil},
		{"two in one read with CRLFs between", []string{msg("", "l: 0\r\n") + "\r\n\r\n" + msg("xy", "Content-Length: 2\r\n")}, 2, nil},
		{"keep-alive only", []string{"\r\n\r\n"}, 0, nil},
		{"no content-length", []string{msg("", "")}, 1, nil},
		{"negative", []string{msg("", "Content-Length: -999\r\n")}, 0, errFraming},
		{"two lengths", []string{msg("", "Content-Length: 0\r\nl: 5\r\n")}, 0, errFraming},
		{"body over the limit", []string{msg("", "Content-Length: 5000\r\n")}, 0, errTooLarge},
		{"headers over the limit", []string{"OPTIONS sip:x SIP/2.0\r\nX: " + string(bytes.Repeat([]byte("a"), 5000))}, 0, errTooLarge},
		{"waiting for body", []string{msg("ab", "Content-Length: 3\r\n")}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := framer{max: 4096}
			got := 0
			var err error
			for _, c := range tc.chunks {
				var msgs [][]byte
				msgs, _, err = f.feed([]byte(c))
				got += len(msgs)
				if err != nil {
					break
				}
			}
			if got != tc.want || err != tc.err {
				t.Fatalf("messages %d err %v, want %d %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nab\r\nBYE sip:y SIP/2.0\r\nl: 0\r\n\r\n"), 7)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		fr := framer{max: 1024}
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		a, _, err := fr.feed(data[:cut])
		if err != nil {
			return
		}
		b, _, _ := fr.feed(data[cut:])
		for _, m := range append(a, b...) {
			if len(m) > 1024 || !bytes.Contains(m, []byte("\r\n\r\n")) {
				t.Fatalf("bad frame %q", m)
			}
		}
	})
}
