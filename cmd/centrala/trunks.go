package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/trunk"
)

// trunkRuntime adapts the trunk registrations to what the API asks: the stored trunks after
// every change, and the status of each.
type trunkRuntime struct {
	mgr         *trunk.Manager
	engine      *pbx.Engine
	plan        *dialplan
	contactHost string // our SIP address, in the Contact of outbound REGISTERs
	contactPort int    // UDP and TCP
	tlsPort     int    // our TLS listener's port; 0: none (a TLS trunk then uses its connection)
	log         *slog.Logger
}

func (r trunkRuntime) Apply(ctx context.Context, ts []store.Trunk) {
	r.plan.setTrunks(ts)
	specs := make([]trunk.Spec, 0, len(ts))
	for _, t := range ts {
		specs = append(specs, trunk.Spec{Kind: t.Kind, Enabled: t.Enabled, Config: trunk.Config{
			ID: t.ID, Host: t.Host, Port: t.Port, Transport: t.Transport, Username: t.Username,
			Password: t.Password, Expires: time.Duration(t.RegisterExpires) * time.Second,
			ContactHost: r.contactHost, ContactPort: r.portFor(t.Transport)}})
	}
	if err := r.mgr.Reconcile(ctx, specs); err != nil {
		r.log.Error("apply trunks", "error", err)
	}
}

func (r trunkRuntime) Channels(id int64) int { return r.engine.TrunkChannels(id) }

func (r trunkRuntime) Status(id int64) (trunk.Status, bool) {
	st, ok := r.mgr.Statuses()[id]
	return st, ok
}

func (r trunkRuntime) portFor(transport string) int {
	if transport == "tls" && r.tlsPort != 0 {
		return r.tlsPort
	}
	return r.contactPort
}
