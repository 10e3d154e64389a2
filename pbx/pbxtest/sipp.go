package pbxtest

// SIPp runner: starts the installed sipp binary (Debian package sip-tester) against a
// server on loopback and reads what it measured. Scenarios live in deploy/sipp/.
//
// How results are read (checked against SIPp 3.6.1, Debian bookworm):
//   - -trace_stat -stf FILE: a ';' CSV, a header line then one row per dump (at start,
//     every -fd period, at exit). The last row holds the cumulative counters:
//     SuccessfulCall(C), FailedCall(C), OutgoingCall(C), IncomingCall(C),
//     Retransmissions(C), FailedTimeoutOnRecv(C), ... (time columns contain tabs).
//   - -trace_counts: <scenario>_<pid>_counts.csv in the working directory (no option
//     names it, so sipp runs in its own temporary directory): per scenario message, columns
//     like "5_401_Recv", "5_401_Timeout", "6_REGISTER_Retrans". Count() sums them.
//   - -trace_msg -message_file FILE: every message sent and received; Messages() returns the
//     received ones byte-exact (the log gives each one's length).
//   - -trace_err -error_file FILE: unexpected messages and errors.
//   - -trace_logs -log_file FILE: lines written by <log> actions of the scenario.
//   - the exit code: 0 every call succeeded, 1 at least one failed, 97 stopped by an
//     internal command, 99 no call processed, 255 fatal error (bad scenario...).
//
// SIPp's own -timeout only asks it to quit softly (calls blocked on a recv keep it alive),
// so the runner also sets -recv_timeout and kills the process by its PID at a hard
// deadline, failing the test.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIPp defaults.
const (
	sippDefaultTimeout     = 30 * time.Second
	sippDefaultRecvTimeout = 10 * time.Second
	sippKillGrace          = 15 * time.Second // after Timeout, before the hard kill
)

// SIPpOptions describes one sipp run. Zero values take the defaults noted.
type SIPpOptions struct {
	// Scenario is a scenario file, relative to the repository root (the directory with
	// go.mod), e.g. "deploy/sipp/register_digest.xml", or absolute.
	Scenario string
	// BuiltIn is one of SIPp's embedded scenarios (-sn), e.g. "uac", "uas"; used when
	// Scenario is empty.
	BuiltIn string

	// Target is the host:port to send to (a UAC). Empty for a UAS that only listens.
	Target string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// SocketPerCall opens one socket per call (-t un / -t tn) instead of one shared
	// socket (-t u1 / -t t1).
	SocketPerCall bool

	// Rows are the injection file's lines, written to a temporary CSV (fields joined by
	// ';') whose first line is InjectionOrder (SEQUENTIAL by default): [field0] is row[0].
	Rows           [][]string
	InjectionOrder string // SEQUENTIAL | RANDOM | USER

	Calls       int           // -m: stop after this many calls; 0 = unbounded (UAS)
	Rate        float64       // -r: calls per RatePeriod; 0 = SIPp's default (10)
	RatePeriod  time.Duration // -rp; 0 = 1s
	Limit       int           // -l: concurrent calls at most; 0 = SIPp's default
	Timeout     time.Duration // -timeout: global run time; default 30s. Always set.
	RecvTimeout time.Duration // -recv_timeout: a recv that waits longer fails the call; default 10s

	// LocalIP and LocalPort are where sipp binds (-i, -p): 127.0.0.1 and a free port
	// (UDP and TCP) by default.
	LocalIP   string
	LocalPort int

	Keys map[string]string // -key NAME VALUE: [NAME] keywords of the scenario
	Vars map[string]string // -set NAME VALUE: scenario variables, e.g. "expires": "0"

	Args []string // more raw arguments, appended last
}

// SIPp is a running sipp process. RunSIPp starts and waits for one; StartSIPp starts one
// in the background (a UAS that a UAC calls) and Wait collects its result.
type SIPp struct {
	// Addr is the local ip:port sipp is bound to: where a UAS listens.
	Addr string
	// Dir is the run's directory: every file sipp wrote is there.
	Dir string

	t       testing.TB
	cmd     *exec.Cmd
	opts    SIPpOptions
	exited  chan struct{}
	output  *lockedBuffer
	files   sippFiles
	started time.Time
}

type sippFiles struct {
	stats, messages, errors, logs, screen string
}

// SIPpResult is what one sipp run did.
type SIPpResult struct {
	ExitCode   int
	Successful int // SuccessfulCall(C) of the final statistics row
	Failed     int // FailedCall(C)
	Created    int // OutgoingCall(C) + IncomingCall(C)
	Retrans    int // Retransmissions(C)
	Duration   time.Duration

	// Stats is the final row of the -stf statistics file, by column name.
	Stats map[string]string
	// Counts is the final row of the -trace_counts file, by column name
	// ("5_401_Recv": 3, ...).
	Counts map[string]int

	MessageLog string // -trace_msg file
	ErrorLog   string // -trace_err file
	LogFile    string // -trace_logs file
	StatsFile  string // -stf file
	Output     string // sipp's stderr

	t testing.TB
}

// RunSIPp runs sipp to completion and returns what it measured. It skips the test when
// sipp is not installed (and fails it under CI=true): `make test` installs sip-tester.
// A run that outlives Timeout plus a grace period is killed and fails the test; a
// non-zero exit code does not fail it, the caller asserts on the result.
func RunSIPp(t testing.TB, opts SIPpOptions) SIPpResult {
	t.Helper()
	return StartSIPp(t, opts).Wait()
}

// StartSIPp starts sipp and returns once its socket is bound. The process is stopped (by
// its PID) when the test ends if it is still running.
func StartSIPp(t testing.TB, opts SIPpOptions) *SIPp {
	t.Helper()
	bin := sippBinary(t)

	if opts.Scenario == "" && opts.BuiltIn == "" {
		t.Fatalf("pbxtest: SIPpOptions needs a Scenario or a BuiltIn")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = sippDefaultTimeout
	}
	if opts.RecvTimeout <= 0 {
		opts.RecvTimeout = sippDefaultRecvTimeout
	}
	if opts.LocalIP == "" {
		opts.LocalIP = "127.0.0.1"
	}
	network := strings.ToLower(opts.Transport)
	if network == "" {
		network = "udp"
	}
	if network != "udp" && network != "tcp" {
		t.Fatalf("pbxtest: SIPp transport %q: want udp or tcp", opts.Transport)
	}
	opts.Transport = network

	dir := t.TempDir()
	var errs []error
	for attempt := 0; attempt < 5; attempt++ {
		o := opts
		if o.LocalPort == 0 {
			p, err := freeSIPPort(o.LocalIP)
			if err != nil {
				t.Fatalf("pbxtest: finding a free port for sipp: %v", err)
			}
			o.LocalPort = p
		}
		runDir := filepath.Join(dir, strconv.Itoa(attempt))
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			t.Fatalf("pbxtest: %v", err)
		}
		s, retry, err := startSIPp(t, bin, runDir, o)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		errs = append(errs, err)
		if !retry || opts.LocalPort != 0 {
			break
		}
	}
	t.Fatalf("pbxtest: starting sipp: %v", errors.Join(errs...))
	return nil
}

func sippBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		const msg = "pbxtest: sipp not found on PATH; `make test` installs it " +
			"(Debian package sip-tester)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skip(msg)
	}
	return bin
}

// startSIPp starts the process and waits for its socket. retry reports whether the
// failure may be a lost race for the port.
func startSIPp(t testing.TB, bin, dir string, o SIPpOptions) (s *SIPp, retry bool, err error) {
	args, files, err := sippArgs(dir, o)
	if err != nil {
		return nil, false, err
	}
	screen, err := os.Create(files.screen)
	if err != nil {
		return nil, false, err
	}
	defer screen.Close() // the child has its own descriptor

	out := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir // -trace_counts writes <scenario>_<pid>_counts.csv in the working directory
	cmd.Stdin = nil
	cmd.Stdout = screen // the statistics screens, repainted with escape codes
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start %s: %w", bin, err)
	}
	s = &SIPp{
		Addr:    net.JoinHostPort(o.LocalIP, strconv.Itoa(o.LocalPort)),
		Dir:     dir,
		t:       t,
		cmd:     cmd,
		opts:    o,
		exited:  make(chan struct{}),
		output:  out,
		files:   files,
		started: time.Now(),
	}
	go func() {
		_ = cmd.Wait() // the exit code is read from cmd.ProcessState
		close(s.exited)
	}()

	// Wait until sipp holds its port (or has finished already: a short UAC run).
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.exited:
			if code := cmd.ProcessState.ExitCode(); code == 254 || code == 255 {
				// 254: could not bind; 255: fatal (bad scenario, ...)
				return nil, code == 254 || strings.Contains(out.String(), "already in use"),
					fmt.Errorf("sipp %s exited %d:\n%s", strings.Join(args, " "), code, out.String())
			}
			return s, false, nil
		default:
		}
		if portBound(o.Transport, o.LocalPort) {
			return s, false, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, false, fmt.Errorf("sipp did not bind %s within 10s:\n%s", s.Addr, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sippArgs builds the command line; every output file goes into dir.
func sippArgs(dir string, o SIPpOptions) ([]string, sippFiles, error) {
	files := sippFiles{
		stats:    filepath.Join(dir, "stats.csv"),
		messages: filepath.Join(dir, "messages.log"),
		errors:   filepath.Join(dir, "errors.log"),
		logs:     filepath.Join(dir, "logs.log"),
		screen:   filepath.Join(dir, "screen.log"),
	}
	var args []string
	if o.Scenario != "" {
		path := o.Scenario
		if !filepath.IsAbs(path) {
			root, err := RepoRoot()
			if err != nil {
				return nil, files, err
			}
			path = filepath.Join(root, path)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, files, fmt.Errorf("scenario: %w", err)
		}
		args = append(args, "-sf", path)
	} else {
		args = append(args, "-sn", o.BuiltIn)
	}

	mode := map[[2]bool]string{
		{false, false}: "u1", {false, true}: "un",
		{true, false}: "t1", {true, true}: "tn",
	}[[2]bool{o.Transport == "tcp", o.SocketPerCall}]
	args = append(args,
		"-t", mode,
		"-i", o.LocalIP,
		"-p", strconv.Itoa(o.LocalPort),
		"-bind_local", // listen on LocalIP only, not on every address
		"-nostdin",
		"-max_socket", strconv.Itoa(maxSockets()),
		"-timeout", sippDuration(o.Timeout),
		"-recv_timeout", strconv.FormatInt(o.RecvTimeout.Milliseconds(), 10),
		"-trace_stat", "-stf", files.stats,
		"-trace_counts",
		"-trace_msg", "-message_file", files.messages,
		"-trace_err", "-error_file", files.errors,
		"-trace_logs", "-log_file", files.logs,
	)
	if o.Calls > 0 {
		args = append(args, "-m", strconv.Itoa(o.Calls))
	}
	if o.Rate > 0 {
		args = append(args, "-r", strconv.FormatFloat(o.Rate, 'f', -1, 64))
	}
	if o.RatePeriod > 0 {
		args = append(args, "-rp", strconv.FormatInt(o.RatePeriod.Milliseconds(), 10))
	}
	if o.Limit > 0 {
		args = append(args, "-l", strconv.Itoa(o.Limit))
	}
	if len(o.Rows) > 0 {
		inf := filepath.Join(dir, "injection.csv")
		if err := writeInjection(inf, o.InjectionOrder, o.Rows); err != nil {
			return nil, files, err
		}
		args = append(args, "-inf", inf)
	}
	for _, k := range sortedKeys(o.Keys) {
		args = append(args, "-key", k, o.Keys[k])
	}
	for _, k := range sortedKeys(o.Vars) {
		args = append(args, "-set", k, o.Vars[k])
	}
	args = append(args, o.Args...)
	if o.Target != "" {
		args = append(args, o.Target)
	}
	return args, files, nil
}

func writeInjection(path, order string, rows [][]string) error {
	if order == "" {
		order = "SEQUENTIAL"
	}
	var b strings.Builder
	b.WriteString(order + "\n")
	for i, row := range rows {
		for _, f := range row {
			if strings.ContainsAny(f, ";\n\r") {
				return fmt.Errorf("injection row %d: field %q contains ';' or a newline", i, f)
			}
		}
		b.WriteString(strings.Join(row, ";") + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Wait waits for sipp to end by itself, at most Timeout plus a grace period, after which
// it is killed and the test fails.
func (s *SIPp) Wait() SIPpResult {
	s.t.Helper()
	hard := s.opts.Timeout + sippKillGrace - time.Since(s.started)
	select {
	case <-s.exited:
	case <-time.After(hard):
		s.stop()
		s.t.Fatalf("pbxtest: sipp did not stop by itself within %v; killed (pid %d). stderr:\n%s",
			s.opts.Timeout+sippKillGrace, s.cmd.Process.Pid, s.output.String())
	}
	return s.result()
}

// stop ends the process (by its PID: SIGTERM, then SIGKILL) if it still runs.
func (s *SIPp) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *SIPp) result() SIPpResult {
	r := SIPpResult{
		ExitCode:   s.cmd.ProcessState.ExitCode(),
		Duration:   time.Since(s.started),
		MessageLog: s.files.messages,
		ErrorLog:   s.files.errors,
		LogFile:    s.files.logs,
		StatsFile:  s.files.stats,
		Output:     s.output.String(),
		t:          s.t,
	}
	stats, err := lastCSVRow(s.files.stats)
	if err != nil {
		s.t.Fatalf("pbxtest: sipp statistics (exit %d): %v\nstderr:\n%s", r.ExitCode, err, r.Output)
	}
	r.Stats = stats
	num := func(k string) int { n, _ := strconv.Atoi(strings.TrimSpace(stats[k])); return n }
	r.Successful = num("SuccessfulCall(C)")
	r.Failed = num("FailedCall(C)")
	r.Created = num("OutgoingCall(C)") + num("IncomingCall(C)")
	r.Retrans = num("Retransmissions(C)")

	counts, _ := filepath.Glob(filepath.Join(s.Dir, "*_counts.csv"))
	if len(counts) > 0 {
		row, err := lastCSVRow(counts[0])
		if err != nil {
			s.t.Fatalf("pbxtest: sipp counts: %v", err)
		}
		r.Counts = make(map[string]int, len(row))
		for k, v := range row {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				r.Counts[k] = n
			}
		}
	}
	return r
}

// lastCSVRow reads a SIPp ';' CSV (header line, then rows) and returns its last complete
// row by column name.
func lastCSVRow(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma = ';'
	rd.FieldsPerRecord = -1
	rd.LazyQuotes = true
	var header, last []string
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if header == nil {
			header = rec
			continue
		}
		if len(rec) >= len(header)-1 { // a row cut by a kill is shorter: skip it
			last = rec
		}
	}
	if header == nil || last == nil {
		return nil, fmt.Errorf("%s: no statistics row", path)
	}
	row := make(map[string]string, len(header))
	for i, name := range header {
		if name != "" && i < len(last) {
			row[name] = last[i]
		}
	}
	return row, nil
}

// Count sums the -trace_counts columns of every scenario message that match: code is a
// response code or a method ("401", "REGISTER"; "" for any), kind is one of Sent, Recv,
// Retrans, Timeout, Unexp. Count("403", "Recv") is how many 403s the calls received.
func (r SIPpResult) Count(code, kind string) int {
	n := 0
	for k, v := range r.Counts {
		parts := strings.Split(k, "_")
		if len(parts) != 3 {
			continue
		}
		if (code == "" || parts[1] == code) && parts[2] == kind {
			n += v
		}
	}
	return n
}

// "UDP message received [437] bytes :" and "UDP message sent (392 bytes):", then an empty
// line, then the message.
var sippMessageHeader = regexp.MustCompile(`(?m)^(?:UDP|TCP|TLS|SCTP|WS|WSS) message (received|sent) (?:\[(\d+)\] bytes :|\((\d+) bytes\):)\n\n`)

// Messages returns the SIP messages sipp received, in order, each exactly as it arrived.
func (r SIPpResult) Messages() []string { return r.messages("received") }

// Sent returns the SIP messages sipp sent, in order.
func (r SIPpResult) Sent() []string { return r.messages("sent") }

func (r SIPpResult) messages(dir string) []string {
	data, err := os.ReadFile(r.MessageLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.t.Fatalf("pbxtest: sipp message log: %v", err)
	}
	var msgs []string
	for _, m := range sippMessageHeader.FindAllSubmatchIndex(data, -1) {
		if string(data[m[2]:m[3]]) != dir {
			continue
		}
		lo, hi := m[4], m[5] // [n] of a received message
		if lo < 0 {
			lo, hi = m[6], m[7] // (n bytes) of a sent one
		}
		n, _ := strconv.Atoi(string(data[lo:hi]))
		start := m[1]
		end := start + n
		if end > len(data) {
			end = len(data)
		}
		msgs = append(msgs, string(data[start:end]))
	}
	return msgs
}

// StatusCodes returns the status codes of the responses sipp received, in order.
func (r SIPpResult) StatusCodes() []int {
	var codes []int
	for _, m := range r.Messages() {
		var code int
		if _, err := fmt.Sscanf(m, "SIP/2.0 %d", &code); err == nil {
			codes = append(codes, code)
		}
	}
	return codes
}

// Logs returns the lines the scenario's <log> actions wrote.
func (r SIPpResult) Logs() []string {
	f, err := os.Open(r.LogFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.t.Fatalf("pbxtest: sipp log: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// Errors returns the error trace (unexpected messages, failed calls), for test output.
func (r SIPpResult) Errors() string {
	b, _ := os.ReadFile(r.ErrorLog)
	return string(b)
}

// String summarises the run for test failure messages, with the reasons of failed calls
// (the non-zero Failed...(C) statistics).
func (r SIPpResult) String() string {
	s := fmt.Sprintf("sipp exit %d: %d successful, %d failed, %d created, %d retransmissions in %v",
		r.ExitCode, r.Successful, r.Failed, r.Created, r.Retrans, r.Duration.Round(time.Millisecond))
	var why []string
	for _, k := range sortedKeys(r.Stats) {
		if strings.HasPrefix(k, "Failed") && k != "FailedCall(C)" && strings.HasSuffix(k, "(C)") {
			if v := strings.TrimSpace(r.Stats[k]); v != "" && v != "0" {
				why = append(why, strings.TrimSuffix(k, "(C)")+"="+v)
			}
		}
	}
	if len(why) > 0 {
		s += " (" + strings.Join(why, ", ") + ")"
	}
	return s
}

// RepoRoot returns the directory holding go.mod, walking up from the working directory
// (a package's directory under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pbxtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// freeSIPPort returns a port free for both UDP and TCP on ip a moment ago.
func freeSIPPort(ip string) (int, error) {
	for i := 0; i < 20; i++ {
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no port free for both udp and tcp")
}

// portBound reports whether a socket is bound to the port: a UDP socket, or a TCP one in
// LISTEN state. It reads /proc/net (Linux), so it never holds the port itself.
func portBound(network string, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, file := range []string{"/proc/net/" + network, "/proc/net/" + network + "6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasSuffix(f[1], want) {
				continue
			}
			if network == "tcp" && f[3] != "0A" { // 0A: LISTEN
				continue
			}
			return true
		}
	}
	return false
}

// maxSockets keeps sipp's -max_socket under the open-file limit (it refuses to start
// otherwise: its default is 50000).
func maxSockets() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 256 {
		return 100
	}
	n := int(lim.Cur) - 128
	if n > 50000 {
		n = 50000
	}
	return n
}

// sippDuration formats d for sipp options whose default unit is seconds (-timeout).
func sippDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
