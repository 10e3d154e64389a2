package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
)

func TestMain(m *testing.M) {
	// The cheapest argon2id parameters: the suite hashes hundreds of passwords.
	hashParams = argonParams{memory: 64, time: 1, threads: 1}
	// Prompt uploads and downloads are WAV bodies: the validator checks them as files.
	for _, mt := range wavTypes {
		openapi3filter.RegisterBodyDecoder(mt, openapi3filter.FileBodyDecoder)
	}
	goleak.VerifyTestMain(m)
}

// fakeRegistrar is the seam to the SIP side; the registrar's own tests run it for real.
type fakeRegistrar struct {
	BindingsFunc       func(ctx context.Context) ([]registrar.Binding, error)
	AccountChangedFunc func(ctx context.Context, username string, gone bool)
}

func (f *fakeRegistrar) Bindings(ctx context.Context) ([]registrar.Binding, error) {
	if f.BindingsFunc == nil {
		return nil, nil
	}
	return f.BindingsFunc(ctx)
}

func (f *fakeRegistrar) AccountChanged(ctx context.Context, username string, gone bool) {
	if f.AccountChangedFunc != nil {
		f.AccountChangedFunc(ctx, username, gone)
	}
}

// accountChange is one recorded AccountChanged call.
type accountChange struct {
	Username string
	Gone     bool
}

const (
	testRealm      = "test.centrala"
	testAdminToken = "test-admin-token-0123456789"
)

// testSecretKey seals trunk passwords in the test store.
var testSecretKey = []byte("0123456789abcdef0123456789abcdef")

// env is a Server on a real SQLite store behind an httptest server, with a client whose
// every request and response is checked against the OpenAPI document.
type env struct {
	t        *testing.T
	srv      *Server
	db       *store.DB
	bus      *event.Bus
	reg      *fakeRegistrar
	registry *prometheus.Registry
	ts       *httptest.Server
	client   *http.Client

	mu      sync.Mutex
	changes []accountChange
	hook    func(context.Context, accountChange) // called with mu held
	// what the fake registrar reports
	bindings    []registrar.Binding
	bindingsErr error
	offset      atomic.Int64 // the server's clock runs this far ahead (token expiry)
}

// envOpt adjusts the configuration or adds a server option before the server starts.
type envOpt struct {
	cfg func(*Config)
	opt Option
}

func withConfig(f func(*Config)) envOpt { return envOpt{cfg: f} }
func withOption(o Option) envOpt        { return envOpt{opt: o} }

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "", t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.SetSecretKey(testSecretKey))
	e := &env{t: t, db: db, bus: event.NewBus(), registry: prometheus.NewRegistry()}
	e.reg = &fakeRegistrar{AccountChangedFunc: func(ctx context.Context, username string, gone bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		c := accountChange{username, gone}
		e.changes = append(e.changes, c)
		if e.hook != nil {
			e.hook(ctx, c)
		}
	}}
	e.reg.BindingsFunc = func(context.Context) ([]registrar.Binding, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.bindings, e.bindingsErr
	}
	cfg := Config{AdminToken: testAdminToken, Realm: testRealm, PromptsDir: filepath.Join(t.TempDir(), "prompts"),
		SystemPromptsDir: systemPromptsDir(t)}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	options := []Option{WithLogger(log), WithRegisterer(e.registry)}
	for _, o := range opts {
		if o.cfg != nil {
			o.cfg(&cfg)
		}
		if o.opt != nil {
			options = append(options, o.opt)
		}
	}
	e.srv, err = New(cfg, db, e.reg, e.bus, options...)
	require.NoError(t, err)
	e.srv.now = func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: &validatingTransport{t: t, router: specRouter(t), base: tr}}
	return e
}

// testWriter sends the server's log to the test log (shown on failure or with -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (e *env) accountChanges() []accountChange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]accountChange(nil), e.changes...)
}

// onChange runs f (under the env's lock) on each later AccountChanged call.
func (e *env) onChange(f func(context.Context, accountChange)) {
	e.mu.Lock()
	e.hook = f
	e.mu.Unlock()
}

func contextWithMode(req *http.Request, m specMode) context.Context {
	return context.WithValue(req.Context(), specModeKey{}, m)
}

func (e *env) resetAccountChanges() {
	e.mu.Lock()
	e.changes = nil
	e.mu.Unlock()
}

// specMode says how the validating transport treats a request.
type specMode int

const (
	specValid     specMode = iota // the request must conform to the document (default)
	specInvalid                   // the test sends a bad request: the document must reject it too
	specUnchecked                 // bad in a way the document cannot express (duplicates, config-dependent limits)
	offContract                   // not an operation of the document at all (405 tests)
)

type specModeKey struct{}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request. body may be nil, a string (sent as is) or any value (sent as JSON).
func (e *env) do(method, path, token string, body any, mode ...specMode) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	m := specValid
	if len(mode) > 0 {
		m = mode[0]
	}
	ctx := context.WithValue(e.t.Context(), specModeKey{}, m)
	req, err := http.NewRequestWithContext(ctx, method, e.ts.URL+path, rd)
	require.NoError(e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// problem decodes a problem+json answer and checks its media type and status.
func (r response) problem(t *testing.T) problem {
	t.Helper()
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	require.Equal(t, "application/problem+json", mt, "body: %s", r.body)
	var p problem
	r.decode(t, &p)
	require.Equal(t, r.status, p.Status)
	return p
}

func fieldsOf(p problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(openAPIDoc)
		if specErr == nil {
			specErr = specDoc.Validate(loader.Context)
		}
	})
	require.NoError(t, specErr, "openapi.json")
	return specDoc
}

func specRouter(t *testing.T) routers.Router {
	r, err := legacy.NewRouter(loadSpec(t))
	require.NoError(t, err)
	return r
}

// validatingTransport checks every request the tests send and every response they get
// against the OpenAPI document (kin-openapi), so the document cannot drift from the server.
type validatingTransport struct {
	t      *testing.T
	router routers.Router
	base   http.RoundTripper
}

var validationOptions = &openapi3filter.Options{
	AuthenticationFunc:    hasBearer,
	IncludeResponseStatus: true, // an undocumented status code is a failure
	MultiError:            true,
}

// hasBearer is the document's bearerAuth scheme: a request must carry some bearer token
// (whether it is valid is the server's business).
func hasBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, tok, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	mode, _ := req.Context().Value(specModeKey{}).(specMode)
	if mode == offContract {
		return v.base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	reset := func() {
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	reset()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Errorf("%s %s is not an operation of the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return v.base.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validationOptions}
	verr := openapi3filter.ValidateRequest(req.Context(), in)
	switch {
	case mode == specValid && verr != nil:
		v.t.Errorf("request %s %s does not conform to the OpenAPI document: %v", req.Method, req.URL.Path, verr)
	case mode == specInvalid && verr == nil:
		v.t.Errorf("request %s %s is bad on purpose but the OpenAPI document accepts it", req.Method, req.URL.Path)
	}
	reset()
	res, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: validationOptions}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/event-stream" {
		// An endless body: check the status and media type only.
		opts := *validationOptions
		opts.ExcludeResponseBody = true
		out.Options = &opts
		if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
			v.t.Errorf("response to %s %s does not conform to the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
		return res, nil
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.t.Errorf("response %d to %s %s does not conform to the OpenAPI document: %v\nbody: %s",
			res.StatusCode, req.Method, req.URL.Path, err, raw)
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	return res, nil
}

// Helpers that build state through the API itself.

func validUser(login, ext string) map[string]any {
	return map[string]any{"login": login, "password": "correct horse", "role": "agent",
		"first_name": "Anna", "last_name": "Nowak", "extension": ext}
}

func (e *env) createUser(body map[string]any) store.User {
	e.t.Helper()
	res := e.do("POST", "/api/v1/users", testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var u store.User
	res.decode(e.t, &u)
	return u
}

// userWithToken creates a user of the role and logs them in.
func (e *env) userWithToken(login, ext string, role store.Role) (store.User, string) {
	e.t.Helper()
	b := validUser(login, ext)
	b["role"] = string(role)
	u := e.createUser(b)
	return u, e.login(login, "correct horse")
}

func (e *env) login(login, password string) string {
	e.t.Helper()
	res := e.do("POST", "/api/v1/auth/login", "", map[string]any{"login": login, "password": password})
	require.Equal(e.t, http.StatusOK, res.status, "body: %s", res.body)
	var lr struct{ Token string }
	res.decode(e.t, &lr)
	require.NotEmpty(e.t, lr.Token)
	return lr.Token
}

func (e *env) createSIPAccount(userID int64, body map[string]any) store.SIPAccount {
	e.t.Helper()
	res := e.do("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", userID), testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var a store.SIPAccount
	res.decode(e.t, &a)
	return a
}
