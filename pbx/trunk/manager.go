package trunk

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/prometheus/client_golang/prometheus"
)

// Spec is one configured trunk as the Manager sees it.
type Spec struct {
	Kind    string // register, ip: only register trunks are registered
	Enabled bool
	Config  Config // Config.ID identifies the trunk
}

type running struct {
	cfg    Config
	reg    *Registration
	cancel context.CancelFunc
	done   chan struct{}
}

// Manager keeps one Registration per enabled register-kind trunk.
type Manager struct {
	ua   *sipgo.UserAgent
	log  *slog.Logger
	opts []Option

	registered *prometheus.GaugeVec
	failures   *prometheus.CounterVec

	base   context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	regs   map[int64]*running
	closed bool
}

// NewManager makes a manager sending through ua. Metrics go to reg when not nil; opts
// apply to every Registration.
func NewManager(ua *sipgo.UserAgent, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{ua: ua, log: log, opts: opts, regs: map[int64]*running{},
		registered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "centrala_trunk_registered",
			Help: "1 while the trunk's registration at its provider is current."}, []string{"trunk_id"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "centrala_trunk_register_failures_total",
			Help: "Failed REGISTER attempts to the trunk's provider."}, []string{"trunk_id"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.registered, m.failures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	m.base, m.stop = context.WithCancel(context.Background())
	return m, nil
}

// Reconcile makes the running registrations match specs: new ones start, removed, changed
// and disabled ones are stopped (unregistered) and waited for. It returns ctx's error if
// ctx ends while waiting; Close still waits for them.
func (m *Manager) Reconcile(ctx context.Context, specs []Spec) error {
	want := map[int64]Config{}
	for _, s := range specs {
		if s.Enabled && s.Kind == "register" {
			want[s.Config.ID] = s.Config
		}
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return context.Canceled
	}
	var stopping []*running
	for id, r := range m.regs {
		if cfg, ok := want[id]; !ok || cfg != r.cfg {
			r.cancel()
			stopping = append(stopping, r)
			delete(m.regs, id)
		}
	}
	m.mu.Unlock()
	for _, r := range stopping {
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		id := strconv.FormatInt(r.cfg.ID, 10)
		m.registered.DeleteLabelValues(id)
		m.failures.DeleteLabelValues(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return context.Canceled
	}
	for id, cfg := range want {
		if _, ok := m.regs[id]; ok {
			continue
		}
		label := strconv.FormatInt(id, 10)
		gauge, counter := m.registered.WithLabelValues(label), m.failures.WithLabelValues(label)
		gauge.Set(0)
		opts := append([]Option{WithLogger(m.log)}, m.opts...)
		opts = append(opts, withHooks(func(ok bool) {
			if ok {
				gauge.Set(1)
			} else {
				gauge.Set(0)
			}
		}, counter.Inc))
		reg, err := New(m.ua, cfg, opts...)
		if err != nil {
			m.log.Error("trunk registration not started", "trunk_id", id, "error", err)
			continue
		}
		rctx, cancel := context.WithCancel(m.base)
		r := &running{cfg: cfg, reg: reg, cancel: cancel, done: make(chan struct{})}
		m.regs[id] = r
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer close(r.done)
			_ = reg.Run(rctx)
		}()
	}
	return nil
}

// Statuses returns the status of every running registration by trunk id.
func (m *Manager) Statuses() map[int64]Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int64]Status, len(m.regs))
	for id, r := range m.regs {
		out[id] = r.reg.Status()
	}
	return out
}

// Close stops (unregisters) every registration and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.regs = map[int64]*running{}
	m.mu.Unlock()
	m.stop()
	m.wg.Wait()
}
