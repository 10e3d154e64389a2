package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// These tests run the real binary the way the README does, and look at it only from outside:
// environment variables, the HTTP API, SIP on loopback.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "centrala-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "centrala")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int { return pbxtest.FreePort(t) }

type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	SIP     string // 127.0.0.1:port (UDP and TCP)
	HTTP    string // http://127.0.0.1:port
	Token   string
	DataDir string
	mu      sync.Mutex
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	done    chan error
	ports   map[string]int // SIPp callees' local ports, by SIP account
}

// start runs the binary with env (CENTRALA_*), choosing free ports and a data dir unless set.
func start(t testing.TB, env map[string]string) *server {
	t.Helper()
	s := &server{t: t, done: make(chan error, 1)}
	if env == nil {
		env = map[string]string{}
	}
	if env["CENTRALA_DATA_DIR"] == "" {
		env["CENTRALA_DATA_DIR"] = t.TempDir()
	}
	if env["CENTRALA_SIP_ADDR"] == "" {
		env["CENTRALA_SIP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	if env["CENTRALA_HTTP_ADDR"] == "" {
		env["CENTRALA_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	if _, ok := env["CENTRALA_ADMIN_TOKEN"]; !ok {
		env["CENTRALA_ADMIN_TOKEN"] = "test-admin-token-" + fmt.Sprint(time.Now().UnixNano())
	}
	s.SIP, s.HTTP, s.Token, s.DataDir = env["CENTRALA_SIP_ADDR"], "http://"+env["CENTRALA_HTTP_ADDR"], env["CENTRALA_ADMIN_TOKEN"], env["CENTRALA_DATA_DIR"]
	s.cmd = exec.Command(binary)
	s.cmd.Env = append(os.Environ(), "CENTRALA_LOG_LEVEL=debug")
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout = lockedWriter{&s.mu, &s.stdout}
	s.cmd.Stderr = lockedWriter{&s.mu, &s.stderr}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			s.mu.Lock()
			t.Logf("server stderr:\n%s", s.stderr.String())
			s.mu.Unlock()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.HTTP + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited at start: %v\n%s", err, s.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after 30s\n%s", s.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *server) Stdout() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stdout.String() }
func (s *server) Stderr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stderr.String() }

// stop sends SIGTERM and requires a clean exit.
func (s *server) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("exit after SIGTERM: %v\n%s", err, s.Stderr())
		}
	case <-time.After(15 * time.Second):
		s.t.Fatal("no exit 15s after SIGTERM")
	}
}

// api sends a JSON request with the admin token (or token, if given) and decodes the answer.
func (s *server) api(method, path string, body any, out any, token ...string) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.HTTP+path, rd)
	tok := s.Token
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return res.StatusCode
}

// account creates a user with extension ext and one SIP account username/password.
func (s *server) account(ext, username, password string) (userID int64) {
	s.t.Helper()
	var u struct{ ID int64 }
	if code := s.api("POST", "/api/v1/users", map[string]any{"login": "user" + ext, "password": "user-password-" + ext,
		"role": "agent", "first_name": "Test", "last_name": "User" + ext, "extension": ext}, &u); code != 201 {
		s.t.Fatalf("create user: %d", code)
	}
	var a struct {
		ID       int64
		Username string
	}
	if code := s.api("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID), map[string]any{"username": username, "password": password}, &a); code != 201 || a.Username != username {
		s.t.Fatalf("create sip account: %d %+v", code, a)
	}
	return u.ID
}

type binding struct {
	Username  string    `json:"username"`
	Contact   string    `json:"contact"`
	Transport string    `json:"transport"`
	Source    string    `json:"source"`
	UserAgent string    `json:"user_agent"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *server) registrations() []binding {
	s.t.Helper()
	var bs []binding
	if code := s.api("GET", "/api/v1/registrations", nil, &bs); code != 200 {
		s.t.Fatalf("registrations: %d", code)
	}
	return bs
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Scan()
	return sc.Text()
}

func httpGet(url string) (string, error) { return httpGetAuth(url, "") }

// httpGetAuth is httpGet with a bearer token.
func httpGetAuth(url, token string) (string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}
