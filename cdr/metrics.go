package cdr

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	active prometheus.Gauge
	total  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "centrala_calls_active",
			Help: "Calls in progress on this node: started and not ended.",
		}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_calls_total",
			Help: "Calls ended, by direction (internal, inbound, outbound) and disposition (answered, no_answer, busy, failed, cancelled, rejected).",
		}, []string{"direction", "disposition"}),
	}
	// Every series exists from the start, so rates and alerts see a zero, not a gap.
	for _, d := range Directions {
		for _, disp := range Dispositions {
			m.total.WithLabelValues(string(d), string(disp))
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.active, m.total} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
