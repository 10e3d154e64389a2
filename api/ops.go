package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
)

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDoc)
	return nil
}

// healthz answers 200 when the store answers a ping within 2 seconds.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Error("health check: store unreachable", "error", err)
		writeProblem(w, newProblem(http.StatusServiceUnavailable, "store unreachable", nil))
		return nil
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}).ServeHTTP(w, r)
	return nil
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("metrics", "error", fmt.Sprint(v...)) }

// accountChanged tells the SIP side; not cancelled when the client goes, since the change is
// already stored.
func (s *Server) accountChanged(ctx context.Context, username string, gone bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.reg.AccountChanged(ctx, username, gone)
}

func (s *Server) listRegistrations(w http.ResponseWriter, r *http.Request) error {
	bindings, err := s.reg.Bindings(r.Context())
	if err != nil {
		return fmt.Errorf("list bindings: %w", err)
	}
	out := []registrar.Binding{}
	username := r.URL.Query().Get("username")
	for _, b := range bindings {
		if username == "" || b.AOR == username {
			out = append(out, b)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// events streams the event bus as Server-Sent Events until the client goes or the server
// stops. ?type= keeps events whose type starts with it (registration. for registrations).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	prefix := r.URL.Query().Get("type")
	var filter func(event.Event) bool
	if prefix != "" {
		filter = func(e event.Event) bool { return strings.HasPrefix(e.Type, prefix) }
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	sub := s.bus.Subscribe(256, filter)
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": connected\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.stopping:
			return nil
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
		case e, ok := <-sub.C:
			if !ok {
				return nil
			}
			data, err := json.Marshal(e)
			if err == nil && strings.ContainsAny(e.Type, "\r\n") {
				err = fmt.Errorf("event type %q has a line break", e.Type)
			}
			if err != nil {
				s.log.Error("event not encodable; skipped", "type", e.Type, "error", err)
				continue
			}
			// JSON from encoding/json has no raw line breaks, so one data line holds it.
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
