package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

// problem is an RFC 9457 problem details document (application/problem+json).
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []fieldError `json:"errors,omitempty"`
	// Conflicts are the other inbound objects a refused change would break (409).
	Conflicts []routing.GraphError `json:"conflicts,omitempty"`
}

// fieldError names one bad field of a request body.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// httpError is an error a handler returns to choose the answer itself.
type httpError struct {
	status int
	detail string
	fields []fieldError
	header http.Header // extra response headers (WWW-Authenticate, Allow)
	// conflicts: the inbound objects a refused change would break
	conflicts []routing.GraphError
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.detail }

func errorf(status int, detail string) *httpError { return &httpError{status: status, detail: detail} }

var (
	errForbidden = errorf(http.StatusForbidden, "your role does not allow this request")
	errNotFound  = errorf(http.StatusNotFound, "no such resource")
)

// errUnauthorized answers a request without valid credentials (RFC 6750 section 3).
func errUnauthorized(detail string, invalidToken bool) *httpError {
	v := `Bearer realm="centrala"`
	if invalidToken {
		v += `, error="invalid_token"`
	}
	return &httpError{status: http.StatusUnauthorized, detail: detail, header: http.Header{"Www-Authenticate": {v}}}
}

// errClientGone: the client went away; nothing is written and nothing is logged as a failure.
var errClientGone = errors.New("api: client gone")

// toProblem is the one place that maps an error to an HTTP answer.
func toProblem(err error) (problem, http.Header) {
	var (
		he       *httpError
		conflict *store.ConflictError
		tooLarge *http.MaxBytesError
		invalid  *queue.ValidationError
	)
	switch {
	case errors.As(err, &he):
		p := newProblem(he.status, he.detail, he.fields)
		p.Conflicts = he.conflicts
		return p, he.header
	case errors.As(err, &conflict):
		return newProblem(http.StatusConflict, conflict.Field+" is already in use",
			[]fieldError{{Field: conflict.Field, Message: "already in use"}}), nil
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, "conflicts with an existing resource", nil), nil
	case errors.Is(err, store.ErrNotFound):
		return newProblem(http.StatusNotFound, "no such resource", nil), nil
	case errors.As(err, &invalid): // a bad agent state request
		fields := make([]fieldError, len(invalid.Errors))
		for i, f := range invalid.Errors {
			fields[i] = fieldError{Field: f.Field, Message: f.Message}
		}
		return newProblem(http.StatusUnprocessableEntity, invalid.Error(), fields), nil
	case errors.Is(err, queue.ErrBadTransition): // the agent's state does not allow the change
		return newProblem(http.StatusConflict, err.Error(), nil), nil
	case errors.Is(err, queue.ErrConflict): // the agent record kept changing under the update
		return newProblem(http.StatusConflict, "the agent's state changed concurrently; try again", nil), nil
	case errors.As(err, &tooLarge):
		return newProblem(http.StatusRequestEntityTooLarge, "request body is too large", nil), nil
	}
	return newProblem(http.StatusInternalServerError, "internal error; see the server log", nil), nil
}

func newProblem(status int, detail string, fields []fieldError) problem {
	return problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields}
}

// writeError answers err and logs it: our failures at Error, the client's at Debug.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errClientGone) || (errors.Is(err, context.Canceled) && r.Context().Err() != nil) {
		s.log.Debug("client went away", "method", r.Method, "route", r.Pattern)
		return
	}
	p, h := toProblem(err)
	level := slog.LevelDebug
	if p.Status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "api request failed", "method", r.Method, "route", r.Pattern,
		"status", p.Status, "error", err)
	for k, v := range h {
		w.Header()[k] = v
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
