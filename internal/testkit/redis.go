// Package testkit holds test helpers that import nothing of Centrala, so every package's
// tests may use them (pbx's internal tests too, which cannot import pbxtest): a throw-away
// redis-server (pbxtest.StartRedis is StartRedis), a buffer for a peer's output, the JSON
// examples of a README.
package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStartTimeout bounds how long StartRedis waits for the server to answer PING.
const redisStartTimeout = 10 * time.Second

// Redis is a redis-server started for one test and stopped by its cleanup.
type Redis struct {
	Addr string // host:port, e.g. 127.0.0.1:41234
	URL  string // redis://127.0.0.1:41234/0

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	output *Output
}

// StartRedis starts a throw-away redis-server on a free loopback port, without
// persistence, in a temporary directory, and stops it (by its PID) when the test ends.
//
// Without redis-server on PATH the test is skipped, or fails when CI=true: the project's
// test command installs it (apt-get install redis-server).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "testkit: redis-server not found on PATH; the test command installs it " +
			"(apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	var errs []error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testkit: finding a free port: %v", err)
		}
		r, retry, err := startRedis(bin, dir, port)
		if err == nil {
			t.Cleanup(func() {
				r.stop()
				if t.Failed() {
					t.Logf("redis-server %s output:\n%s", r.Addr, r.output.String())
				}
			})
			return r
		}
		errs = append(errs, err)
		if !retry {
			break
		}
	}
	t.Fatalf("testkit: starting redis-server: %v", errors.Join(errs...))
	return nil
}

// Client returns a client of the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freePort returns a loopback port nobody listened on a moment ago. Another process may
// take it before redis-server binds it: StartRedis then tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts the server and waits for it. retry reports whether the failure may be
// a lost race for the port.
func startRedis(bin, dir string, port int) (r *Redis, retry bool, err error) {
	p := strconv.Itoa(port)
	out := &Output{}
	cmd := exec.Command(bin,
		"--port", p,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, false, err
	}
	r = &Redis{
		Addr:   net.JoinHostPort("127.0.0.1", p),
		URL:    "redis://127.0.0.1:" + p + "/0",
		cmd:    cmd,
		exited: make(chan struct{}),
		output: out,
	}
	go func() {
		_ = cmd.Wait()
		close(r.exited)
	}()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case <-r.exited:
			// Most likely "Address already in use": someone took the port.
			return nil, true, fmt.Errorf("redis-server on port %d exited (%v):\n%s", port, cmd.ProcessState, out.String())
		default:
		}
		if ping(r.Addr) == nil {
			return r, false, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, false, fmt.Errorf("redis-server on port %d did not answer PING within %v:\n%s", port, redisStartTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop terminates the process it started (SIGTERM, then SIGKILL after 5 seconds) and
// waits for it.
func (r *Redis) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}
