package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
)

// eventBridge shares the contact centre's live events between the nodes of one Redis: each
// node publishes its own agent.*, queue.* and call.* events on one channel and puts the other
// nodes' on its bus (Event.Node naming where they happened). A supervisor's event stream on
// any node then shows every node's calls, queues and agents, and an agent made available
// through one node wakes the queue dispatchers of all at once (agent.state data is decoded
// back into a queue.Agent for them). Delivery is best effort, as on the bus itself.
type eventBridge struct {
	rc      *redis.Client
	bus     *event.Bus
	node    string
	channel string
	log     *slog.Logger
}

// bridged reports whether events of the type go to the other nodes.
func bridged(typ string) bool {
	return strings.HasPrefix(typ, "agent.") || strings.HasPrefix(typ, "queue.") || strings.HasPrefix(typ, "call.")
}

// wireEvent is an event on the channel.
type wireEvent struct {
	Node   string          `json:"node"`
	Type   string          `json:"type"`
	Time   time.Time       `json:"time"`
	CallID string          `json:"call_id,omitempty"`
	Data   json.RawMessage `json:"data"`
}

// run bridges until ctx ends.
func (b eventBridge) run(ctx context.Context) {
	local := b.bus.Subscribe(4096, func(e event.Event) bool { return e.Node == "" && bridged(e.Type) })
	defer local.Close()
	ps := b.rc.Subscribe(ctx, b.channel)
	defer ps.Close()
	remote := ps.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-local.C:
			data, err := json.Marshal(e.Data)
			if err != nil {
				b.log.Warn("event bridge: encode", "type", e.Type, "error", err)
				continue
			}
			msg, _ := json.Marshal(wireEvent{Node: b.node, Type: e.Type, Time: e.Time, CallID: e.CallID, Data: data})
			if err := b.rc.Publish(ctx, b.channel, msg).Err(); err != nil && ctx.Err() == nil {
				b.log.Warn("event bridge: publish", "type", e.Type, "error", err)
			}
		case m, ok := <-remote:
			if !ok {
				return
			}
			var w wireEvent
			if err := json.Unmarshal([]byte(m.Payload), &w); err != nil || w.Node == b.node || w.Node == "" {
				continue
			}
			e := event.Event{Type: w.Type, Time: w.Time, CallID: w.CallID, Node: w.Node, Data: w.Data}
			if w.Type == "agent.state" {
				var a queue.Agent
				if json.Unmarshal(w.Data, &a) == nil {
					e.Data = a
				}
			}
			b.bus.Publish(e)
		}
	}
}
