package pbx

import (
	"testing"
	"time"

	"github.com/centrala/centrala/queue"
)

// TestQueueLeaseRenewal: the dispatcher renews the lease of each agent on one of its queue
// calls (so the claim outlives the ring time while the call lasts) and shrugs off a call
// that ended since it took its list.
func TestQueueLeaseRenewal(t *testing.T) {
	h := newQueueBench(t, startBenchRedis(t), 0, 2, nil)
	h.d.answered(h.onCall[1], 1, benchQueueID)
	h.d.answered("ended-meanwhile", 2, benchQueueID)
	before := time.Now()
	h.d.renewOnCall(h.ctx)
	a, err := h.st.Agent(h.ctx, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a.State != queue.OnCall || a.Current == nil || a.Current.LeaseUntil.Before(before.Add(busyTTL)) ||
		a.Current.LeaseUntil.After(time.Now().Add(busyTTL)) {
		t.Fatalf("agent 1 after the renewal: %+v", a.Current)
	}
	b, err := h.st.Agent(h.ctx, 2, time.Now())
	if err != nil || b.Current == nil || b.Current.CallID != h.onCall[2] || b.Current.LeaseUntil.Before(time.Now().Add(time.Hour)) {
		t.Fatalf("agent 2's own call was touched: %+v %v", b.Current, err)
	}
	h.d.callEnded(h.onCall[1], benchQueueID, time.Minute)
	if h.d.handleTime(benchQueueID) != time.Minute {
		t.Fatalf("handle time %v", h.d.handleTime(benchQueueID))
	}
}
