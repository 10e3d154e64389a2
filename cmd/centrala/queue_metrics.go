package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/api"
	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
)

// queueCollector exposes the queue state shared by every node at scrape time: agents by
// state (users marked as agents) and, per queue, the callers waiting and the longest wait.
// It reads the store (memory or Redis) on each scrape, so every node reports the same,
// cluster-wide figures. Per queue it also exposes today's service level from the call
// records (api.ServiceLevelToday), read at most once per serviceLevelTTL per queue.
type queueCollector struct {
	db     *store.DB
	st     queue.Store
	log    *slog.Logger
	now    func() time.Time
	levels *serviceLevels // nil: read the service level on every scrape
}

// serviceLevelTTL is how long a queue's service level is served from the cache.
const serviceLevelTTL = 10 * time.Second

// serviceLevels caches each queue's service level of today between scrapes.
type serviceLevels struct {
	mu sync.Mutex
	m  map[int64]cachedLevel
}

type cachedLevel struct {
	at    time.Time
	level *float64
}

// get returns the queue's service level at now, from the cache when read less than
// serviceLevelTTL ago (and on the same UTC day), else from the records.
func (c *serviceLevels) get(ctx context.Context, db *store.DB, q queue.Queue, now time.Time) (*float64, error) {
	if c != nil {
		c.mu.Lock()
		e, ok := c.m[q.ID]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < serviceLevelTTL && now.Sub(e.at) >= 0 && sameUTCDay(e.at, now) {
			return e.level, nil
		}
	}
	level, err := api.ServiceLevelToday(ctx, db, q, now)
	if err != nil || c == nil {
		return level, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int64]cachedLevel{}
	}
	c.m[q.ID] = cachedLevel{at: now, level: level}
	c.mu.Unlock()
	return level, nil
}

// forget drops the queues not in keep (deleted queues).
func (c *serviceLevels) forget(keep map[int64]bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	for id := range c.m {
		if !keep[id] {
			delete(c.m, id)
		}
	}
	c.mu.Unlock()
}

func sameUTCDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

var (
	descAgents = prometheus.NewDesc("centrala_agents",
		"Agents (users marked as agents) by state, across every node.", []string{"state"}, nil)
	descWaiting = prometheus.NewDesc("centrala_queue_waiting_callers",
		"Callers waiting in a queue, across every node.", []string{"queue_id"}, nil)
	descLongest = prometheus.NewDesc("centrala_queue_longest_wait_seconds",
		"How long the caller waiting longest in a queue has waited (0 when none).", []string{"queue_id"}, nil)
	descServiceLevel = prometheus.NewDesc("centrala_queue_service_level_percent",
		"Today's (UTC) service level of a queue in percent, from the call records; absent while no call counts.",
		[]string{"queue_id"}, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAgents
	ch <- descWaiting
	ch <- descLongest
	ch <- descServiceLevel
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.now()
	users, err := c.db.ListUsers(ctx, false)
	if err != nil {
		c.log.Warn("queue metrics: users", "error", err)
		return
	}
	var ids []int64
	for _, u := range users {
		if u.IsAgent {
			ids = append(ids, u.ID)
		}
	}
	counts := map[queue.State]int{}
	if len(ids) > 0 {
		agents, err := c.st.Agents(ctx, ids, now)
		if err != nil {
			c.log.Warn("queue metrics: agents", "error", err)
			return
		}
		for _, a := range agents {
			counts[a.State]++
		}
	}
	for _, s := range []queue.State{queue.LoggedOut, queue.Available, queue.NotReady, queue.Offered, queue.OnCall, queue.AfterCallWork} {
		ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	queues, err := c.db.ListQueues(ctx)
	if err != nil {
		c.log.Warn("queue metrics: queues", "error", err)
		return
	}
	keep := make(map[int64]bool, len(queues))
	for _, q := range queues {
		keep[q.ID] = true
		id := strconv.FormatInt(q.ID, 10)
		if level, err := c.levels.get(ctx, c.db, q.Queue, now); err != nil {
			c.log.Warn("queue metrics: service level", "queue_id", q.ID, "error", err)
		} else if level != nil {
			ch <- prometheus.MustNewConstMetric(descServiceLevel, prometheus.GaugeValue, *level, id)
		}
		waiting, err := c.st.Waiting(ctx, q.ID)
		if err != nil {
			c.log.Warn("queue metrics: waiting", "queue_id", q.ID, "error", err)
			continue
		}
		var longest time.Duration
		for _, w := range waiting {
			longest = max(longest, now.Sub(w.JoinedAt))
		}
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(len(waiting)), id)
		ch <- prometheus.MustNewConstMetric(descLongest, prometheus.GaugeValue, longest.Seconds(), id)
	}
	c.levels.forget(keep)
}
