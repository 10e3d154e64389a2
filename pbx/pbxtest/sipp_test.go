package pbxtest

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A SIPp UAS and a SIPp UAC (both built-in scenarios) on loopback: proves the runner
// starts sipp, binds free ports, stops by itself and reads the final statistics.
func TestRunSIPpAgainstUAS(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			uas := StartSIPp(t, SIPpOptions{
				BuiltIn:   "uas",
				Transport: transport,
				Calls:     3, // ends after answering three calls
				Timeout:   20 * time.Second,
			})
			res := RunSIPp(t, SIPpOptions{
				BuiltIn:   "uac",
				Target:    uas.Addr,
				Transport: transport,
				Calls:     3,
				Rate:      10,
				Timeout:   20 * time.Second,
			})
			if res.ExitCode != 0 || res.Successful != 3 || res.Failed != 0 {
				t.Fatalf("uac: %v\nerrors:\n%s\nstderr:\n%s", res, res.Errors(), res.Output)
			}
			if res.Created != 3 {
				t.Errorf("uac created %d calls, want 3", res.Created)
			}
			// What the UAC saw: per call 180 (optional in the scenario), 200 to INVITE,
			// 200 to BYE.
			codes := res.StatusCodes()
			if got := countInts(codes, 200); got != 6 {
				t.Errorf("uac received %d 200s (%v), want 6", got, codes)
			}
			if got := res.Count("INVITE", "Sent"); got != 3 {
				t.Errorf("Count(INVITE, Sent) = %d, want 3; counts %v", got, res.Counts)
			}
			for _, m := range res.Messages() {
				if !strings.HasPrefix(m, "SIP/2.0 ") || !strings.Contains(m, "\r\n\r\n") {
					t.Errorf("received message not read whole: %q", m)
				}
			}
			if len(res.Sent()) < 9 { // INVITE, ACK, BYE per call
				t.Errorf("sent %d messages, want at least 9", len(res.Sent()))
			}

			ures := uas.Wait()
			if ures.Created != 3 {
				t.Fatalf("uas: %v, want 3 calls\nerrors:\n%s\nstderr:\n%s", ures, ures.Errors(), ures.Output)
			}
			// The built-in uas waits 4 s after each call (timewait) for retransmitted BYEs.
			// Over TCP the UAC, done, closes the connection during the last call's wait,
			// which SIPp counts as FailedTcpClosed; over UDP all three succeed.
			wantOK := 3
			if transport == "tcp" {
				wantOK = 3 - atoi(ures.Stats["FailedTcpClosed(C)"])
			}
			if ures.Successful != wantOK || ures.Successful+ures.Failed != 3 {
				t.Fatalf("uas: %v\nerrors:\n%s\nstderr:\n%s", ures, ures.Errors(), ures.Output)
			}
		})
	}
}

// register_wrong_password.xml against silence: every call ends "silent", not failed.
func TestRunSIPpWrongPasswordSilentServer(t *testing.T) {
	// A UDP port nobody listens on: the REGISTERs go unanswered, like a server that
	// banned the sender.
	port, err := freeSIPPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	res := RunSIPp(t, SIPpOptions{
		Scenario: "deploy/sipp/register_wrong_password.xml",
		Target:   "127.0.0.1:" + strconv.Itoa(port),
		Rows:     [][]string{{"alice", "secret"}},
		Calls:    1,
		Timeout:  20 * time.Second,
	})
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("%v\nerrors:\n%s\nstderr:\n%s", res, res.Errors(), res.Output)
	}
	if got := res.Count("", "Timeout"); got != 1 {
		t.Errorf("timeouts = %d, want 1; counts %v", got, res.Counts)
	}
	if logs := res.Logs(); len(logs) != 1 || !strings.Contains(logs[0], "outcome=silent user=alice") {
		t.Errorf("logs = %q, want one outcome=silent user=alice", logs)
	}
}

func TestLastCSVRowSkipsCutRow(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.csv")
	data := "A;B;C;\n1;2;3;\n4;5;6;\n7;8"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	row, err := lastCSVRow(p)
	if err != nil {
		t.Fatal(err)
	}
	if row["A"] != "4" || row["C"] != "6" {
		t.Errorf("row = %v, want the last complete one (4,5,6)", row)
	}
}

func countInts(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// fakeRegistrarUAS challenges each REGISTER once, then accepts the one with credentials.
const fakeRegistrarUAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fake registrar">
  <recv request="REGISTER" />
  <send><![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="centrala", nonce="n[call_number]x", algorithm=MD5, qop="auth"
      Content-Length: 0

    ]]></send>
  <recv request="REGISTER">
    <action>
      <ereg regexp="Digest" search_in="hdr" header="Authorization:" check_it="true" assign_to="a" />
    </action>
  </recv>
  <Reference variables="a" />
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:]
      Content-Length: 0

    ]]></send>
</scenario>
`

// deploy/sipp/register_digest.xml against a SIPp UAS that challenges: the second REGISTER
// carries the same Call-ID, CSeq 2, the Expires asked for and a correct MD5 digest answer
// for each account of the injection file.
func TestRegisterDigestScenario(t *testing.T) {
	uasFile := filepath.Join(t.TempDir(), "uas.xml")
	if err := os.WriteFile(uasFile, []byte(fakeRegistrarUAS), 0o644); err != nil {
		t.Fatal(err)
	}
	accounts := [][]string{{"alice", "s3cret"}, {"bob", "hunter2"}}
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			uas := StartSIPp(t, SIPpOptions{Scenario: uasFile, Transport: transport, Calls: 2, Timeout: 20 * time.Second})
			res := RunSIPp(t, SIPpOptions{
				Scenario:  "deploy/sipp/register_digest.xml",
				Target:    uas.Addr,
				Transport: transport,
				Rows:      accounts,
				Calls:     2,
				Vars:      map[string]string{"expires": "120"},
				Timeout:   20 * time.Second,
			})
			if res.ExitCode != 0 || res.Successful != 2 {
				t.Fatalf("%v\nerrors:\n%s\nstderr:\n%s", res, res.Errors(), res.Output)
			}
			sent := res.Sent()
			if len(sent) != 4 {
				t.Fatalf("sent %d messages, want 4", len(sent))
			}
			for i, acc := range accounts {
				first, second := sent[2*i], sent[2*i+1]
				if header(second, "Call-ID") != header(first, "Call-ID") {
					t.Errorf("%s: Call-ID changed", acc[0])
				}
				if header(first, "CSeq") != "1 REGISTER" || header(second, "CSeq") != "2 REGISTER" {
					t.Errorf("%s: CSeq %q then %q", acc[0], header(first, "CSeq"), header(second, "CSeq"))
				}
				if header(second, "Expires") != "120" {
					t.Errorf("%s: Expires %q, want 120", acc[0], header(second, "Expires"))
				}
				if !strings.HasPrefix(header(second, "Contact"), "<sip:"+acc[0]+"@127.0.0.1:") {
					t.Errorf("%s: Contact %q", acc[0], header(second, "Contact"))
				}
				checkDigest(t, header(second, "Authorization"), acc[0], acc[1], "REGISTER")
			}
			uas.Wait()
		})
	}
}

func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkDigest verifies an MD5 qop=auth answer (RFC 2617) with the standard library.
func checkDigest(t *testing.T, authz, user, pass, method string) {
	t.Helper()
	p := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(authz, "Digest "), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			p[k] = strings.Trim(v, `"`)
		}
	}
	if p["username"] != user || p["realm"] != "centrala" || p["qop"] != "auth" {
		t.Fatalf("Authorization %q", authz)
	}
	h := func(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
	ha1 := h(user + ":" + p["realm"] + ":" + pass)
	ha2 := h(method + ":" + p["uri"])
	want := h(strings.Join([]string{ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2}, ":"))
	if p["response"] != want {
		t.Errorf("%s: digest response %s, want %s (%q)", user, p["response"], want, authz)
	}
}
