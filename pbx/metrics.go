package pbx

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/routing"
)

type metrics struct {
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	dropped   *prometheus.CounterVec

	refusedCalls   *prometheus.CounterVec
	trunkChannels  *prometheus.GaugeVec
	trunkResponses *prometheus.CounterVec

	ivrEntries     *prometheus.CounterVec
	ivrChoices     *prometheus.CounterVec
	ivrFailures    *prometheus.CounterVec
	ringGroupCalls *prometheus.CounterVec
	ringGroupTries *prometheus.CounterVec

	queueCalls  *prometheus.CounterVec
	queueWait   *prometheus.HistogramVec
	queueOffers *prometheus.CounterVec
	queueClaims *prometheus.CounterVec
	queueCycles prometheus.Histogram
}

// refusal reasons of centrala_calls_refused_total.
var refusalReasons = []string{"unknown_source", "user_limit", "trunk_limit", "denied"}

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
		refusedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_calls_refused_total",
			Help: "INVITEs refused before ringing anyone, by reason (unknown_source: for a project number from an address that is no trunk; user_limit, trunk_limit: call limits; denied: by an outbound rule).",
		}, []string{"reason"}),
		trunkChannels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "centrala_trunk_channels_in_use",
			Help: "Calls a trunk carries now, both directions.",
		}, []string{"trunk_id"}),
		trunkResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_trunk_call_responses_total",
			Help: "Final responses of trunks to outbound INVITEs, by trunk and status code.",
		}, []string{"trunk_id", "code"}),
		ivrEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_ivr_entered_total",
			Help: "Calls that entered an IVR menu (retries not counted), by IVR.",
		}, []string{"ivr_id"}),
		ivrChoices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_ivr_choices_total",
			Help: "Valid inputs of IVR menus, by IVR and choice (the choice's digits, or extension for dial-by-extension).",
		}, []string{"ivr_id", "choice"}),
		ivrFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_ivr_failures_total",
			Help: "Failed inputs of IVR menus, by IVR and kind (no_input, invalid, max_retries: the menu gave up).",
		}, []string{"ivr_id", "kind"}),
		ringGroupCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_ring_group_calls_total",
			Help: "Calls a ring group rang, by group and outcome (answered, no_answer: the call went to the fallback).",
		}, []string{"ring_group_id", "outcome"}),
		ringGroupTries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_ring_group_members_total",
			Help: "Ring group members considered for a call, by group and result (rung; skipped because busy, unregistered or gone).",
		}, []string{"ring_group_id", "result"}),
		queueCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_queue_calls_total",
			Help: "Callers that left a queue, by queue and exit (answered, abandoned, timeout, full, empty).",
		}, []string{"queue_id", "exit"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "centrala_queue_wait_seconds",
			Help:    "How long callers waited in a queue before they left it, by queue and exit.",
			Buckets: []float64{1, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
		}, []string{"queue_id", "exit"}),
		queueOffers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_queue_offers_total",
			Help: "Offers of queued calls to agents, by queue and outcome (answered, no_answer, rejected, failed, cancelled).",
		}, []string{"queue_id", "outcome"}),
		queueClaims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centrala_queue_claims_total",
			Help: "Claims of agents by this node's dispatcher, by result (won; lost: another node or change came first).",
		}, []string{"result"}),
		queueCycles: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "centrala_queue_dispatch_seconds",
			Help:    "Time of one dispatch cycle of one queue (read callers and agents, claim, hand over).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
	}
	for _, r := range []string{"banned", "malformed", "oversized", "overload", "stray_response"} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range refusalReasons {
		m.refusedCalls.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.responses, m.dropped, m.refusedCalls, m.trunkChannels, m.trunkResponses,
			m.ivrEntries, m.ivrChoices, m.ivrFailures, m.ringGroupCalls, m.ringGroupTries,
			m.queueCalls, m.queueWait, m.queueOffers, m.queueClaims, m.queueCycles} {
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

func (m *metrics) refused(reason string) { m.refusedCalls.WithLabelValues(reason).Inc() }

func (m *metrics) trunkResponse(id int64, code int) {
	m.trunkResponses.WithLabelValues(strconv.FormatInt(id, 10), strconv.Itoa(code)).Inc()
}

func (m *metrics) ivrEntered(id int64) { m.ivrEntries.WithLabelValues(strconv.FormatInt(id, 10)).Inc() }

// ivrOutcome counts how one input of an IVR went, from the walk's last IVR step.
func (m *metrics) ivrOutcome(id int64, h routing.Hop) {
	ivr := strconv.FormatInt(id, 10)
	switch h.Branch {
	case "choice":
		m.ivrChoices.WithLabelValues(ivr, h.Digits).Inc()
	case "extension":
		m.ivrChoices.WithLabelValues(ivr, "extension").Inc()
	case "no_input", "invalid", "max_retries":
		m.ivrFailures.WithLabelValues(ivr, h.Branch).Inc()
	case "retry": // a failure the menu answered by playing itself again
		switch h.Note {
		case "no input":
			m.ivrFailures.WithLabelValues(ivr, "no_input").Inc()
		case "invalid input":
			m.ivrFailures.WithLabelValues(ivr, "invalid").Inc()
		}
	}
}

func (m *metrics) ringGroupCall(id int64, outcome string) {
	m.ringGroupCalls.WithLabelValues(strconv.FormatInt(id, 10), outcome).Inc()
}

func (m *metrics) ringGroupMember(id int64, result string) {
	m.ringGroupTries.WithLabelValues(strconv.FormatInt(id, 10), result).Inc()
}

func (m *metrics) queueCall(id int64, exit string, wait time.Duration) {
	q := strconv.FormatInt(id, 10)
	m.queueCalls.WithLabelValues(q, exit).Inc()
	m.queueWait.WithLabelValues(q, exit).Observe(max(wait, 0).Seconds())
}

func (m *metrics) queueOffer(id int64, outcome string) {
	m.queueOffers.WithLabelValues(strconv.FormatInt(id, 10), outcome).Inc()
}

func (m *metrics) queueClaim(won bool) {
	if won {
		m.queueClaims.WithLabelValues("won").Inc()
	} else {
		m.queueClaims.WithLabelValues("lost").Inc()
	}
}

func (m *metrics) dispatchCycle(d time.Duration) { m.queueCycles.Observe(d.Seconds()) }
