package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
)

// queueCollector exposes the queue state shared by every node at scrape time: agents by
// state (users marked as agents) and, per queue, the callers waiting and the longest wait.
// It reads the store (memory or Redis) on each scrape, so every node reports the same,
// cluster-wide figures.
type queueCollector struct {
	db  *store.DB
	st  queue.Store
	log *slog.Logger
	now func() time.Time
}

var (
	descAgents = prometheus.NewDesc("centrala_agents",
		"Agents (users marked as agents) by state, across every node.", []string{"state"}, nil)
	descWaiting = prometheus.NewDesc("centrala_queue_waiting_callers",
		"Callers waiting in a queue, across every node.", []string{"queue_id"}, nil)
	descLongest = prometheus.NewDesc("centrala_queue_longest_wait_seconds",
		"How long the caller waiting longest in a queue has waited (0 when none).", []string{"queue_id"}, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAgents
	ch <- descWaiting
	ch <- descLongest
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
	for _, q := range queues {
		waiting, err := c.st.Waiting(ctx, q.ID)
		if err != nil {
			c.log.Warn("queue metrics: waiting", "queue_id", q.ID, "error", err)
			continue
		}
		var longest time.Duration
		for _, w := range waiting {
			longest = max(longest, now.Sub(w.JoinedAt))
		}
		id := strconv.FormatInt(q.ID, 10)
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(len(waiting)), id)
		ch <- prometheus.MustNewConstMetric(descLongest, prometheus.GaugeValue, longest.Seconds(), id)
	}
}
