package pbx

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_sip_requests_total",
			Help: "SIP requests received, by method (unknown methods as OTHER) and transport.",
		}, []string{"method", "transport"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_sip_responses_total",
			Help: "SIP responses sent statelessly, by request method and status code.",
		}, []string{"method", "code"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_sip_dropped_total",
			Help: "SIP messages not served, by reason (banned, malformed, oversized, overload, stray_response).",
		}, []string{"reason"}),
	}
	for _, r := range []string{"banned", "malformed", "oversized", "overload", "stray_response"} {
		m.dropped.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.responses, m.dropped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func methodLabel(m string) string {
	switch m {
	case "INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "SUBSCRIBE", "NOTIFY", "REFER",
		"INFO", "MESSAGE", "PRACK", "UPDATE", "PUBLISH", "unparsable":
		return m
	}
	return "OTHER"
}

func (m *metrics) request(method, transport string) {
	m.requests.WithLabelValues(methodLabel(method), lower(transport)).Inc()
}

func (m *metrics) response(method string, code int) {
	m.responses.WithLabelValues(methodLabel(method), strconv.Itoa(code)).Inc()
}

func (m *metrics) drop(reason string) { m.dropped.WithLabelValues(reason).Inc() }
