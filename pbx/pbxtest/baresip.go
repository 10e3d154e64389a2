package pbxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Baresip is a real softphone (Debian package baresip-core) running for a test.
type Baresip struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
}

// BaresipOptions say where and as whom baresip registers.
type BaresipOptions struct {
	Server    string // host:port of the registrar
	Transport string // udp or tcp
	User      string
	Password  string
	Expires   int  // regint, seconds (default 120)
	Answer    bool // answer incoming calls at once (answermode=auto); it sends a 440 Hz sine
}

// Need returns the path of a test peer binary. When it is missing the test fails under CI
// (the test command installs it) and is skipped elsewhere.
func Need(t testing.TB, binary, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(binary)
	if err == nil {
		return p
	}
	missing(t, binary, pkg)
	return ""
}

// missing fails the test under CI (CI=true) and skips it elsewhere, naming the Debian package
// that installs what is missing.
func missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found: install Debian package %s (make test does)", what, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedFile returns path when it exists; otherwise it fails the test under CI (CI=true) and
// skips it elsewhere, naming the Debian package that installs it.
func NeedFile(t testing.TB, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	missing(t, path, pkg)
	return ""
}

// StartBaresip runs baresip with one account until the test ends; it is stopped by its PID.
func StartBaresip(t testing.TB, o BaresipOptions) *Baresip {
	t.Helper()
	bin := Need(t, "baresip", "baresip-core")
	if o.Expires == 0 {
		o.Expires = 120
	}
	dir := t.TempDir()
	port := FreePort(t)
	config := fmt.Sprintf("module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:%d\n"+
		"module account.so\nmodule g711.so\nmodule ausine.so\naudio_source ausine,440\naudio_player ausine,440\n", port)
	account := fmt.Sprintf("<sip:%s@%s;transport=%s>;auth_pass=%s;regint=%d", o.User, o.Server, o.Transport, o.Password, o.Expires)
	if o.Answer {
		config += "module menu.so\nmodule rtcpsummary.so\nrtp_stats yes\nausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\nauplay_channels 2\n"
		account += ";answermode=auto"
	}
	account += "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Baresip{cmd: exec.Command(bin, "-f", dir), done: make(chan struct{})}
	b.cmd.Stdout = &b.out
	b.cmd.Stderr = &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			t.Errorf("baresip pid %d did not stop", b.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("baresip output:\n%s", b.Output())
		}
	})
	return b
}

// Output is what baresip printed so far.
func (b *Baresip) Output() string { return b.out.String() }
