package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
)

// Queue and agent statistics (GET /api/v1/queues/{id}/stats, GET
// /api/v1/agents/{user_id}/stats) and today's service level of the queue status: package
// queue's QueueReport and AgentReport over what the store keeps, the queue stays and offers
// of the call records and the agent state log.

// Stats is what the API reads for statistics (implemented by *store.DB).
type Stats interface {
	QueueCalls(ctx context.Context, queueID int64, from, to time.Time) ([]queue.CallRecord, error)
	AgentCalls(ctx context.Context, userID int64, from, to time.Time) ([]queue.CallRecord, error)
	AgentOffers(ctx context.Context, userID int64, from, to time.Time) ([]queue.OfferRecord, error)
	AgentSpans(ctx context.Context, userID int64, from, to, now time.Time) ([]queue.StateSpan, error)
}

var _ Stats = (*store.DB)(nil)

// maxStatsRange bounds the range of one statistics request.
const maxStatsRange = 366 * 24 * time.Hour

// startOfDay is the start of t's day in UTC: where "today" begins.
func startOfDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// ServiceLevelToday is the queue's service level (percent, see queue.QueueStats) of the
// calls that joined it today, from the start of the UTC day to now; nil when no call counts.
// The queue status and the centrala_queue_service_level_percent metric show it.
func ServiceLevelToday(ctx context.Context, st Stats, q queue.Queue, now time.Time) (*float64, error) {
	from := startOfDay(now)
	calls, err := st.QueueCalls(ctx, q.ID, from, now)
	if err != nil {
		return nil, fmt.Errorf("queue %d service level: %w", q.ID, err)
	}
	return queue.QueueReport(q.ID, from, now, q.ServiceLevel(), calls).ServiceLevel, nil
}

// statsRange reads from and to (RFC 3339; defaults: the start of the current UTC day, and
// now). to must be after from, and the range at most 366 days: 422 naming the parameter.
func statsRange(q url.Values, now time.Time) (from, to time.Time, err error) {
	var bad fieldErrors
	parse := func(name string, def time.Time) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return def, false
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad.add(name, "must be an RFC 3339 time like 2025-03-10T09:00:00Z")
			return def, true
		}
		return t, true
	}
	from, _ = parse("from", startOfDay(now))
	to, toGiven := parse("to", now)
	if len(bad) == 0 {
		switch {
		case !to.After(from) && toGiven:
			bad.add("to", "must be after from")
		case !to.After(from):
			bad.add("from", "must be before to (default: now)")
		case to.Sub(from) > maxStatsRange:
			bad.add("to", "must be at most 366 days after from")
		}
	}
	return from, to, bad.err()
}

func (s *Server) queueStats(w http.ResponseWriter, r *http.Request) error {
	from, to, err := statsRange(r.URL.Query(), s.now())
	if err != nil {
		return err
	}
	q, err := fromPath(r, s.store.GetQueue)
	if err != nil {
		return err
	}
	st, err := s.queueReport(r.Context(), q.Queue, from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// queueReport is queue.QueueReport of the queue's calls that joined in [from, to).
func (s *Server) queueReport(ctx context.Context, q queue.Queue, from, to time.Time) (queue.QueueStats, error) {
	calls, err := s.stats.QueueCalls(ctx, q.ID, from, to)
	if err != nil {
		return queue.QueueStats{}, fmt.Errorf("queue %d stats: %w", q.ID, err)
	}
	return queue.QueueReport(q.ID, from.UTC(), to.UTC(), q.ServiceLevel(), calls), nil
}

func (s *Server) agentStats(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	from, to, err := statsRange(r.URL.Query(), now)
	if err != nil {
		return err
	}
	id, err := s.pathUser(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	offers, err := s.stats.AgentOffers(ctx, id, from, to)
	if err != nil {
		return fmt.Errorf("agent %d stats: %w", id, err)
	}
	calls, err := s.stats.AgentCalls(ctx, id, from, to)
	if err != nil {
		return fmt.Errorf("agent %d stats: %w", id, err)
	}
	spans, err := s.stats.AgentSpans(ctx, id, from, to, now)
	if err != nil {
		return fmt.Errorf("agent %d stats: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, queue.AgentReport(id, from.UTC(), to.UTC(), offers, calls, spans))
}
