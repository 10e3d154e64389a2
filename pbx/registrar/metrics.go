package registrar

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registerer is where collectors are registered (a prometheus.Registerer).
type Registerer = prometheus.Registerer

type metrics struct {
	outcomes      *prometheus.CounterVec
	authFailures  prometheus.Counter
	bans          prometheus.Counter
	bannedSources prometheus.Gauge
	registrations *prometheus.GaugeVec
	ok            prometheus.Counter // cached child of outcomes for the hot path
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_register_requests_total",
			Help: "REGISTER requests by outcome (ok, challenged, stale, auth_failed, forbidden, interval_too_brief, too_many_contacts, out_of_order, bad_request, error).",
		}, []string{"outcome"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "centrala_sip_auth_failures_total",
			Help: "Digest authentications that failed (wrong password, unknown user, forged nonce).",
		}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "centrala_sip_source_bans_total",
			Help: "Source addresses banned after repeated authentication failures.",
		}),
		bannedSources: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "centrala_sip_blocked_sources",
			Help: "Source addresses currently banned.",
		}),
		registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "centrala_registrations",
			Help: "Live registrations (bindings) in the location store by transport, refreshed every 10s; with Redis this is the whole cluster.",
		}, []string{"transport"}),
	}
	m.ok = m.outcomes.WithLabelValues("ok")
	for _, t := range []string{"udp", "tcp", "tls", "ws", "wss"} {
		m.registrations.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.outcomes, m.authFailures, m.bans, m.bannedSources, m.registrations} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) {
	if o == "ok" {
		m.ok.Inc()
		return
	}
	m.outcomes.WithLabelValues(o).Inc()
}

func (m *metrics) recount(ctx context.Context, s Store, now time.Time) {
	all, err := s.List(ctx, now)
	if err != nil {
		return
	}
	n := map[string]int{"udp": 0, "tcp": 0, "tls": 0, "ws": 0, "wss": 0}
	for _, b := range all {
		if _, ok := n[b.Transport]; ok {
			n[b.Transport]++
		}
	}
	for t, c := range n {
		m.registrations.WithLabelValues(t).Set(float64(c))
	}
}
