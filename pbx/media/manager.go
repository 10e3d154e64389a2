package media

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Manager makes the Relays of one server: it owns the RTP port pool, the configuration, the
// poller that reads the relays' sockets (on Linux: one goroutine per processor while relays
// are open, none when idle) and the metrics.
type Manager struct {
	cfg   Config
	pool  *PortPool
	log   *slog.Logger
	poll  poller
	clock playClock // paces the playbacks of all relays (play.go)

	mu     sync.Mutex
	relays map[*Relay]struct{}
	closed [2]legTotals // counters of closed relays, by source leg

	timeouts atomic.Uint64
}

// legTotals sums LegStats counters for the metrics.
type legTotals struct {
	packets, bytes, lost uint64
	dropped              [NumDropReasons]uint64
}

func (t *legTotals) add(l *leg) {
	t.packets += l.packets.Load()
	t.bytes += l.bytes.Load()
	t.lost += l.lost.Load()
	for i := range t.dropped {
		t.dropped[i] += l.dropped[i].Load()
	}
}

// Option configures a Manager.
type Option func(*Manager) error

// WithRegisterer registers the centrala_rtp_* metrics on reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(m *Manager) error {
		if reg == nil {
			return nil
		}
		if err := reg.Register(&collector{m: m}); err != nil {
			return fmt.Errorf("register rtp metrics: %w", err)
		}
		return nil
	}
}

// WithLogger sets the logger of relays created without one (default: discard).
func WithLogger(log *slog.Logger) Option {
	return func(m *Manager) error {
		m.log = log
		return nil
	}
}

// New validates cfg (call cfg.Defaults first) and creates the port pool. No socket is
// bound until NewRelay.
func New(cfg Config, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := NewPortPool(netip.MustParseAddr(cfg.BindAddr), cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, pool: pool, log: slog.New(slog.NewTextHandler(io.Discard, nil)), relays: make(map[*Relay]struct{})}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Ports is the manager's port pool.
func (m *Manager) Ports() *PortPool { return m.pool }

// NewRelay binds a socket for each leg and starts relaying (early media included); packets
// flow once SetLeg has been called for both legs. log is the call's logger (nil: the
// manager's). It fails with ErrNoPorts when the range is exhausted.
func (m *Manager) NewRelay(log *slog.Logger) (*Relay, error) {
	if log == nil {
		log = m.log
	}
	r := &Relay{m: m, log: log, timeoutC: make(chan Leg, 1)}
	release := func(legs []*leg) {
		for _, l := range legs {
			_ = l.sock.Close()
			m.pool.Release(l.port)
		}
	}
	for i := range r.legs {
		sock, err := m.pool.Listen()
		if err != nil {
			release(r.legs[:i])
			return nil, fmt.Errorf("rtp relay leg %s: %w", Leg(i), err)
		}
		r.legs[i] = &leg{id: Leg(i), relay: r, sock: sock, port: sock.LocalAddr().Port()}
	}
	if err := r.start(); err != nil {
		release(r.legs[:])
		return nil, err
	}
	m.mu.Lock()
	m.relays[r] = struct{}{}
	m.mu.Unlock()
	return r, nil
}

// remove folds the final counters of a closed relay into the totals.
func (m *Manager) remove(r *Relay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.relays[r]; !ok {
		return
	}
	delete(m.relays, r)
	for i, l := range r.legs {
		m.closed[i].add(l)
	}
}

// collector exposes the counters at scrape time: the per-packet path only bumps the
// relay's own atomics, never a shared Prometheus counter.
type collector struct{ m *Manager }

var (
	descRelayed = prometheus.NewDesc("centrala_rtp_packets_relayed_total",
		"RTP packets relayed, by direction (a_to_b: from the caller's leg to the callee's).", []string{"direction"}, nil)
	descBytes = prometheus.NewDesc("centrala_rtp_bytes_relayed_total",
		"Bytes of RTP packets relayed (RTP header included), by direction.", []string{"direction"}, nil)
	descLost = prometheus.NewDesc("centrala_rtp_packets_lost_total",
		"RTP packets missing from sequence gaps of the received streams, by direction.", []string{"direction"}, nil)
	descDropped = prometheus.NewDesc("centrala_rtp_packets_dropped_total",
		"Packets received and not relayed, by direction and reason.", []string{"direction", "reason"}, nil)
	descActive = prometheus.NewDesc("centrala_rtp_relays_active",
		"Relays (calls with anchored media) open now.", nil, nil)
	descTimeouts = prometheus.NewDesc("centrala_rtp_timeouts_total",
		"Relays that reported an RTP timeout.", nil, nil)
	descPlayed = prometheus.NewDesc("centrala_rtp_packets_played_total",
		"RTP packets of prompts (IVR menus, announcements, ringback) sent, by leg they went to (a: the caller).", []string{"leg"}, nil)
	descPlaySkipped = prometheus.NewDesc("centrala_rtp_play_frames_skipped_total",
		"Prompt frames not sent because the playback clock fell more than 200 ms behind (an overloaded server).", nil, nil)
	descPorts = prometheus.NewDesc("centrala_rtp_ports_in_use",
		"RTP ports of the range held by relays.", nil, nil)
)

var directionLabels = [2]string{"a_to_b", "b_to_a"}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRelayed, descBytes, descLost, descDropped, descActive, descTimeouts, descPorts, descPlayed, descPlaySkipped} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	sum := m.closed
	active := len(m.relays)
	for r := range m.relays {
		for i, l := range r.legs {
			sum[i].add(l)
		}
	}
	m.mu.Unlock()
	for i, t := range sum {
		dir := directionLabels[i]
		ch <- prometheus.MustNewConstMetric(descRelayed, prometheus.CounterValue, float64(t.packets), dir)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(t.bytes), dir)
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(t.lost), dir)
		for reason, n := range t.dropped {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), dir, DropReason(reason).String())
		}
	}
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(active))
	ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(m.timeouts.Load()))
	ch <- prometheus.MustNewConstMetric(descPorts, prometheus.GaugeValue, float64(m.pool.InUse()))
	ch <- prometheus.MustNewConstMetric(descPlayed, prometheus.CounterValue, float64(m.clock.played[LegA].Load()), "a")
	ch <- prometheus.MustNewConstMetric(descPlayed, prometheus.CounterValue, float64(m.clock.played[LegB].Load()), "b")
	ch <- prometheus.MustNewConstMetric(descPlaySkipped, prometheus.CounterValue, float64(m.clock.skipped.Load()))
}
