package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/pbx/trunk"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/routing"
)

// Store is what the API needs of the SQL store (implemented by *store.DB).
type Store interface {
	Ping(ctx context.Context) error

	CreateUser(ctx context.Context, u store.User, passwordHash string) (store.User, error)
	GetUser(ctx context.Context, id int64) (store.User, error)
	ListUsers(ctx context.Context, includeArchived bool) ([]store.User, error)
	UpdateUser(ctx context.Context, u store.User) (store.User, error)
	SetUserPassword(ctx context.Context, id int64, passwordHash string) error
	ArchiveUser(ctx context.Context, id int64) (store.User, error)
	DeleteUser(ctx context.Context, id int64) error
	UserCredentials(ctx context.Context, login string) (store.User, string, error)
	CountUsers(ctx context.Context) (int, error)

	CreateSIPAccount(ctx context.Context, a store.SIPAccount) (store.SIPAccount, error)
	GetSIPAccount(ctx context.Context, id int64) (store.SIPAccount, error)
	ListSIPAccounts(ctx context.Context, userID int64) ([]store.SIPAccount, error)
	UpdateSIPAccount(ctx context.Context, a store.SIPAccount) (store.SIPAccount, error)
	DeleteSIPAccount(ctx context.Context, id int64) error

	CreateTrunk(ctx context.Context, t store.Trunk) (store.Trunk, error)
	GetTrunk(ctx context.Context, id int64) (store.Trunk, error)
	ListTrunks(ctx context.Context) ([]store.Trunk, error)
	UpdateTrunk(ctx context.Context, t store.Trunk) (store.Trunk, error)
	DeleteTrunk(ctx context.Context, id int64) error

	CreateNumber(ctx context.Context, n store.Number) (store.Number, error)
	GetNumber(ctx context.Context, id int64) (store.Number, error)
	ListNumbers(ctx context.Context) ([]store.Number, error)
	UpdateNumber(ctx context.Context, n store.Number) (store.Number, error)
	DeleteNumber(ctx context.Context, id int64) error

	CreateIVR(ctx context.Context, v routing.IVR) (store.IVR, error)
	GetIVR(ctx context.Context, id int64) (store.IVR, error)
	ListIVRs(ctx context.Context) ([]store.IVR, error)
	UpdateIVR(ctx context.Context, v routing.IVR) (store.IVR, error)
	DeleteIVR(ctx context.Context, id int64) error

	CreateRingGroup(ctx context.Context, g routing.RingGroup) (store.RingGroup, error)
	GetRingGroup(ctx context.Context, id int64) (store.RingGroup, error)
	ListRingGroups(ctx context.Context) ([]store.RingGroup, error)
	UpdateRingGroup(ctx context.Context, g routing.RingGroup) (store.RingGroup, error)
	DeleteRingGroup(ctx context.Context, id int64) error

	CreateSchedule(ctx context.Context, sc routing.Schedule) (store.Schedule, error)
	GetSchedule(ctx context.Context, id int64) (store.Schedule, error)
	ListSchedules(ctx context.Context) ([]store.Schedule, error)
	UpdateSchedule(ctx context.Context, sc routing.Schedule) (store.Schedule, error)
	DeleteSchedule(ctx context.Context, id int64) error

	CreateQueue(ctx context.Context, q queue.Queue) (store.Queue, error)
	GetQueue(ctx context.Context, id int64) (store.Queue, error)
	ListQueues(ctx context.Context) ([]store.Queue, error)
	UpdateQueue(ctx context.Context, q queue.Queue) (store.Queue, error)
	DeleteQueue(ctx context.Context, id int64) error

	CreatePrompt(ctx context.Context, p store.Prompt) (store.Prompt, error)
	GetPrompt(ctx context.Context, id int64) (store.Prompt, error)
	ListPrompts(ctx context.Context) ([]store.Prompt, error)
	DeletePrompt(ctx context.Context, id int64) error

	ListOutboundRules(ctx context.Context) ([]store.OutboundRule, error)
	GetOutboundRule(ctx context.Context, id int64) (store.OutboundRule, error)
	CreateOutboundRule(ctx context.Context, r store.OutboundRule) (store.OutboundRule, error)
	UpdateOutboundRule(ctx context.Context, r store.OutboundRule) (store.OutboundRule, error)
	DeleteOutboundRule(ctx context.Context, id int64) error
	ReorderOutboundRules(ctx context.Context, ids []int64) ([]store.OutboundRule, error)
	// RoutingCaller describes a SIP account's user as a caller (routing explain).
	UserByExtension(ctx context.Context, ext string) (store.User, error)
	RoutingCaller(ctx context.Context, username string) (routing.Caller, store.AuthAccount, error)

	CreateToken(ctx context.Context, userID int64, name, tokenHash string, expiresAt *time.Time) (store.Token, error)
	TokenUser(ctx context.Context, tokenHash string, now time.Time) (store.User, error)
}

// Registrar is what the API needs of the SIP side (implemented by *registrar.Registrar).
type Registrar interface {
	// Bindings lists the live bindings of all accounts.
	Bindings(ctx context.Context) ([]registrar.Binding, error)
	// AccountChanged is called after every change to a SIP account (created, secret or limits
	// changed) so cached credentials, including a cached "no such account", are dropped. gone
	// means the account was deleted or its user archived: its bindings go too.
	AccountChanged(ctx context.Context, username string, gone bool)
}

var (
	_ Store     = (*store.DB)(nil)
	_ Registrar = (*registrar.Registrar)(nil)
)

// Server is the admin REST API.
type Server struct {
	cfg        Config
	store      Store
	reg        Registrar
	cdrs       CDRs          // call detail records (WithCDRs, or the Store)
	stats      Stats         // queue stays, offers and the agent state log (the Store)
	trunks     Trunks        // running trunks (WithTrunks); nil: none
	agents     queue.Store   // agent state, waiting callers (WithAgents); nil: the agent routes answer 503
	reasons    queue.Reasons // the not_ready reason catalogue (WithAgents)
	bus        *event.Bus
	log        *slog.Logger
	metrics    *metrics
	metricsReg prometheus.Registerer
	gatherer   prometheus.Gatherer
	handler    http.Handler
	table      []route

	routingMu sync.Mutex     // serialises changes of rules, numbers, trunks and inbound objects with rebuilds
	holder    routing.Holder // the current outbound routing table

	inbound       routing.GraphHolder  // the current inbound graph
	inboundBroken []routing.GraphError // what was wrong with the stored objects at the last rebuild (routingMu)
	promptIDs     atomic.Pointer[map[int64]bool]
	systemDir     string          // SystemPromptsDir with symbolic links resolved
	systemPrompts map[string]bool // paths below systemDir without .wav, "/"-separated; read-only after New

	heartbeat    time.Duration // SSE keep-alive comment interval
	readTimeout  time.Duration // http.Server ReadTimeout (event streams lift it)
	writeTimeout time.Duration // http.Server WriteTimeout (event streams lift it)
	now          func() time.Time
	hashSem      chan struct{} // bounds concurrent argon2 work (memory)

	stopOnce sync.Once
	stopping chan struct{} // closed when Run begins shutting down: ends event streams
}

// Option configures a Server.
type Option func(*Server) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error {
		if l == nil {
			return errors.New("api: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithRegisterer registers the API's collectors there (default: a new registry, which is
// then also what /metrics serves).
func WithRegisterer(r prometheus.Registerer) Option {
	return func(s *Server) error { s.metricsReg = r; return nil }
}

// WithGatherer sets what GET /metrics serves. Default: the Registerer when it is also a
// Gatherer (a *prometheus.Registry), else a new registry.
func WithGatherer(g prometheus.Gatherer) Option {
	return func(s *Server) error { s.gatherer = g; return nil }
}

// Trunks is what the API needs of the running trunks (the SIP side): the trunk list after
// every change, each register trunk's registration status, and the calls each carries.
type Trunks interface {
	Apply(ctx context.Context, trunks []store.Trunk)
	Status(id int64) (trunk.Status, bool)
	Channels(id int64) int
}

// WithTrunks connects the running trunks: changes are applied at once, status is shown.
func WithTrunks(t Trunks) Option { return func(s *Server) error { s.trunks = t; return nil } }

// New returns a Server. The collaborators are required; cfg gets its defaults.
func New(cfg Config, st Store, reg Registrar, bus *event.Bus, opts ...Option) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || reg == nil || bus == nil {
		return nil, errors.New("api: store, registrar and event bus are required")
	}
	s := &Server{cfg: cfg, store: st, reg: reg, bus: bus, log: slog.New(slog.DiscardHandler),
		heartbeat: 15 * time.Second, readTimeout: 30 * time.Second, writeTimeout: 60 * time.Second,
		now: time.Now, hashSem: make(chan struct{}, 4), stopping: make(chan struct{})}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.cdrs == nil {
		c, ok := st.(CDRs)
		if !ok {
			return nil, errors.New("api: the store does not keep call detail records: pass WithCDRs")
		}
		s.cdrs = c
	}
	stats, ok := st.(Stats)
	if !ok {
		return nil, errors.New("api: the store does not keep queue statistics")
	}
	s.stats = stats
	if s.metricsReg == nil {
		s.metricsReg = prometheus.NewRegistry()
	}
	if s.gatherer == nil {
		if g, ok := s.metricsReg.(prometheus.Gatherer); ok {
			s.gatherer = g
		} else {
			s.gatherer = prometheus.NewRegistry()
		}
	}
	m, err := newMetrics(s.metricsReg)
	if err != nil {
		return nil, fmt.Errorf("api metrics: %w", err)
	}
	s.metrics = m
	if err := s.openPrompts(); err != nil {
		return nil, err
	}
	if err := s.RebuildRouting(context.Background()); err != nil {
		return nil, err
	}
	if err := s.RebuildInbound(context.Background()); err != nil {
		return nil, err
	}
	s.table = s.routes()
	mux := http.NewServeMux()
	for _, rt := range s.table {
		mux.Handle(rt.pattern, s.adapt(rt))
	}
	s.handler = s.instrument(s.notFoundProblems(mux))
	return s, nil
}

// Handler is the whole API as an http.Handler (tests, or mounting elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on cfg.Addr (failing at once if it cannot) and serves until ctx is done, then
// shuts down gracefully: open event streams end, other requests get up to 10 seconds.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests listen on port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.readTimeout,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("api serve: %w", err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("api shutdown: %w", err)
	}
	s.log.Info("api stopped")
	return nil
}
