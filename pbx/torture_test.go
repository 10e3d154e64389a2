package pbx_test

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// TestTorture sends every RFC 4475 message over UDP and TCP and checks the answer against
// testdata/torture/index.tsv, then checks the server still answers an OPTIONS.
func TestTorture(t *testing.T) {
	e := pbxtest.StartEngine(t, pbxtest.EngineOptions{Accounts: accounts()})
	f, err := os.Open("testdata/torture/index.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		name, class, udpOK, tcpOK, forbid := col[0], col[3], col[5], col[6], col[8]
		if class == "unreferenced" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata/torture", name+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, network := range []string{"udp", "tcp"} {
			accept := udpOK
			addr := e.UDPAddr()
			if network == "tcp" {
				accept, addr = tcpOK, e.TCPAddr()
			}
			t.Run(name+"/"+network, func(t *testing.T) {
				t.Parallel()
				got, responses := exchange(t, network, addr, data)
				if !acceptable(got, strings.Split(accept, "|")) {
					t.Fatalf("answered %q, acceptable %s", got, accept)
				}
				if network == "udp" && forbid != "" {
					for _, r := range responses {
						if string(r.CSeq().MethodName) == forbid {
							t.Fatalf("answered the trailing octets as a %s", forbid)
						}
					}
				}
				ua := pbxtest.Dial(t, network, addr, "alice", "x")
				ua.Send(ua.Request("OPTIONS", "sip:centrala"))
				if r := ua.Recv(3 * time.Second); r == nil || r.StatusCode != 200 {
					t.Fatalf("server stopped answering after %s: %v", name, r)
				}
			})
		}
	}
}

var branchRe = regexp.MustCompile(`(?mi)^(?:Via|v)\s*:[^\r\n]*?branch=([^;,\s]+)`)

// exchange sends data and returns what happened to the first request in it (answers are
// matched by the top Via branch): a status code,
// "none" or "close". Answers are read leniently: a 400 echoes the malformed header lines it
// answers, which a strict parser refuses.
func exchange(t *testing.T, network, addr string, data []byte) (string, []*sip.Response) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	var want string
	if m := branchRe.FindSubmatch(data); m != nil {
		want = string(m[1])
	}
	var responses []*sip.Response
	var raw []byte
	result, closed := "", false
	deadline := time.Now().Add(1500 * time.Millisecond)
	buf := make([]byte, 65535)
	for time.Now().Before(deadline) && result == "" {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			closed = !(errors.As(err, &ne) && ne.Timeout())
			break
		}
		raw = append(raw, buf[:n]...)
		for {
			msg, rest, ok := cutMessage(raw)
			if !ok {
				break
			}
			raw = rest
			if network == "udp" {
				raw = nil
			}
			code, branch := statusAndBranch(msg)
			if r, err := sip.NewParser().ParseSIP(msg); err == nil {
				if res, ok := r.(*sip.Response); ok {
					responses = append(responses, res)
				}
			}
			if code >= 200 && (want == "" || branch == want) && result == "" {
				result = strconv.Itoa(code)
			}
		}
	}
	switch {
	case result != "":
	case closed:
		result = "close"
	default:
		result = "none"
	}
	return result, responses
}

// cutMessage splits the first message (headers, blank line, Content-Length body) off b.
func cutMessage(b []byte) (msg, rest []byte, ok bool) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, b, false
	}
	end := i + 4
	if m := regexp.MustCompile(`(?mi)^(?:Content-Length|l)\s*:\s*(\d+)`).FindSubmatch(b[:i]); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		end += n
	}
	if end > len(b) {
		return nil, b, false
	}
	return b[:end], b[end:], true
}

func statusAndBranch(msg []byte) (int, string) {
	line, _, _ := bytes.Cut(msg, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0, ""
	}
	code, _ := strconv.Atoi(f[1])
	branch := ""
	if m := branchRe.FindSubmatch(msg); m != nil {
		branch = string(m[1])
	}
	return code, branch
}

// acceptable: "ok" is any answer treating the message as well-formed (not 400, 413, 415,
// 416, 505 or 513); codes, "none" and "close" must match exactly.
func acceptable(got string, accept []string) bool {
	if slices.Contains(accept, got) {
		return true
	}
	code, err := strconv.Atoi(got)
	return err == nil && slices.Contains(accept, "ok") && !slices.Contains([]int{400, 413, 415, 416, 505, 513}, code)
}
