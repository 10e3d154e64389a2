package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
)

func withHeartbeat(d time.Duration) Option {
	return func(s *Server) error { s.heartbeat = d; return nil }
}

func withTimeouts(read, write time.Duration) Option {
	return func(s *Server) error { s.readTimeout, s.writeTimeout = read, write; return nil }
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.JSONEq(t, `{"status":"ok"}`, string(res.body))

	require.NoError(t, e.db.Close())
	res = e.do("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	res.problem(t)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/healthz", "", nil)
	e.do("GET", "/api/v1/users/12345", testAdminToken, nil)
	e.do("GET", "/api/v1/users/67890", testAdminToken, nil)
	e.do("GET", "/no/such/path", "", nil, offContract)
	e.do("BREW", "/healthz", "", nil, offContract)

	res := e.do("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	text := string(res.body)
	require.Contains(t, text, `centrala_api_requests_total{code="200",method="GET",route="GET /healthz"} 1`)
	// The route is the pattern, not the path: both ids count in one series.
	require.Contains(t, text, `centrala_api_requests_total{code="404",method="GET",route="GET /api/v1/users/{id}"} 2`)
	require.NotContains(t, text, "12345")
	require.Contains(t, text, `centrala_api_requests_total{code="404",method="GET",route="unmatched"} 1`)
	require.Contains(t, text, `centrala_api_requests_total{code="405",method="other",route="unmatched"} 1`)
	require.Contains(t, text, `centrala_api_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"} 1`)
}

func TestRegistrations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	e.mu.Lock()
	e.bindings = []registrar.Binding{
		{AOR: "anna-desk", Contact: "sip:anna@192.0.2.10:5060", Transport: "udp", Source: "192.0.2.10:5060", ExpiresAt: exp, UpdatedAt: exp.Add(-time.Hour)},
		{AOR: "bob-soft", Contact: "sip:bob@198.51.100.7:40000;transport=tcp", Transport: "tcp", Source: "198.51.100.7:40000", ExpiresAt: exp, UpdatedAt: exp.Add(-time.Hour), CSeq: 7},
	}
	e.mu.Unlock()

	res := e.do("GET", "/api/v1/registrations", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var got []registrar.Binding
	res.decode(t, &got)
	e.mu.Lock()
	require.Equal(t, e.bindings, got)
	e.mu.Unlock()
	var raw []map[string]any
	res.decode(t, &raw)
	for _, k := range []string{"username", "contact", "transport", "source", "expires_at"} {
		require.Contains(t, raw[0], k)
	}

	res = e.do("GET", "/api/v1/registrations?username=bob-soft", testAdminToken, nil)
	res.decode(t, &got)
	require.Len(t, got, 1)
	require.Equal(t, "bob-soft", got[0].AOR)

	res = e.do("GET", "/api/v1/registrations?username=nobody", testAdminToken, nil)
	require.JSONEq(t, `[]`, string(res.body))

	e.mu.Lock()
	e.bindingsErr = errors.New("redis: connection refused")
	e.mu.Unlock()
	res = e.do("GET", "/api/v1/registrations", testAdminToken, nil)
	require.Equal(t, http.StatusInternalServerError, res.status)
	require.NotContains(t, string(res.body), "redis", "internal errors stay in the log")
}

// sseReader reads a text/event-stream.
type sseReader struct{ sc *bufio.Scanner }

// next returns the next event (type and data), or a comment as type ":".
func (r sseReader) next(t *testing.T) (string, string) {
	t.Helper()
	var typ, data string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if typ != "" || data != "" {
				return typ, data
			}
		case strings.HasPrefix(line, ":"):
			return ":", strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			typ = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	require.NoError(t, r.sc.Err())
	return "", "" // end of stream
}

func (e *env) openStream(t *testing.T, query, token string) (sseReader, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/v1/events"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	r := sseReader{bufio.NewScanner(res.Body)}
	typ, _ := r.next(t)
	require.Equal(t, ":", typ, "the stream opens with a comment once subscribed")
	return r, func() { cancel(); res.Body.Close() }
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOption(withHeartbeat(50*time.Millisecond)))
	_, supTok := e.userWithToken("sup", "201", "supervisor")
	stream, closeStream := e.openStream(t, "?type=registration.", supTok)

	e.bus.Publish(event.Event{Type: "call.started", CallID: "c1", Data: map[string]string{"from": "201"}})
	b := registrar.Binding{AOR: "anna-desk", Contact: "sip:anna@192.0.2.10", Transport: "udp", Source: "192.0.2.10:5060"}
	e.bus.Publish(event.Event{Type: "registration.updated", CallID: "r1", Data: b})

	for {
		typ, data := stream.next(t)
		if typ == ":" {
			continue // heartbeat
		}
		require.Equal(t, "registration.updated", typ, "call.started is filtered out")
		var got struct {
			Type   string            `json:"type"`
			Time   time.Time         `json:"time"`
			CallID string            `json:"call_id"`
			Data   registrar.Binding `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &got))
		require.Equal(t, "registration.updated", got.Type)
		require.Equal(t, "r1", got.CallID)
		require.Equal(t, "anna-desk", got.Data.AOR)
		require.False(t, got.Time.IsZero())
		break
	}
	// Heartbeats keep an idle stream alive.
	typ, data := stream.next(t)
	require.Equal(t, ":", typ)
	require.Equal(t, "heartbeat", data)

	require.Equal(t, 1.0, e.gauge(t, "centrala_api_event_streams"))
	closeStream()
	require.Eventually(t, func() bool { return e.gauge(t, "centrala_api_event_streams") == 0 },
		5*time.Second, 10*time.Millisecond, "the server notices the client went")
}

func (e *env) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Run listens first and fails at once on a taken address; Serve stops cleanly when its context
// ends, closing event streams on the way.
func TestRunAndShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOption(withHeartbeat(50*time.Millisecond)), withOption(withTimeouts(200*time.Millisecond, 200*time.Millisecond)))

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	busy, err := New(Config{Addr: taken.Addr().String(), Realm: testRealm}, e.db, e.reg, e.bus)
	require.NoError(t, err)
	start := time.Now()
	require.Error(t, busy.Run(t.Context()))
	require.Less(t, time.Since(start), 5*time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("http://%s/api/v1/events", ln.Addr()), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	r := sseReader{bufio.NewScanner(res.Body)}
	typ, _ := r.next(t)
	require.Equal(t, ":", typ)
	// The stream outlives the server's write timeout.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		typ, data := r.next(t)
		require.Equal(t, ":", typ)
		require.Equal(t, "heartbeat", data)
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	// Heartbeats written before the shutdown may still be in flight; then the stream ends.
	for range 100 {
		if typ, _ = r.next(t); typ != ":" {
			break
		}
	}
	require.Empty(t, typ, "the stream ended")
}
