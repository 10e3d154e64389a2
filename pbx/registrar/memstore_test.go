package registrar_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/pbx/registrar/registrartest"
)

func TestMemoryStoreContract(t *testing.T) {
	registrartest.RunStoreContract(t, func(t *testing.T) registrar.Store {
		return registrar.NewMemoryStore()
	}, nil)
}

// TestMemoryStoreExpireSkipsIdleShards checks the per-shard lower bound on expiry: a sweep
// before anything is due reports nothing, and bindings refreshed past their first expiry
// are not reported.
func TestMemoryStoreExpireSkipsIdleShards(t *testing.T) {
	ctx := context.Background()
	s := registrar.NewMemoryStore()
	t0 := time.Now()
	for i := range 1000 {
		aor := fmt.Sprint("user", i)
		u := registrar.Update{AOR: aor, CallID: "c", CSeq: 1, Now: t0,
			Changes: []registrar.Change{{Binding: registrar.Binding{Contact: "sip:" + aor + "@h"}, Expires: time.Minute}}}
		if _, err := s.Apply(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Expire(ctx, t0.Add(30*time.Second)); len(got) != 0 {
		t.Fatalf("Expire before due: %d bindings", len(got))
	}
	// Refresh half of them for an hour.
	for i := 0; i < 1000; i += 2 {
		aor := fmt.Sprint("user", i)
		u := registrar.Update{AOR: aor, CallID: "c", CSeq: 2, Now: t0.Add(time.Second),
			Changes: []registrar.Change{{Binding: registrar.Binding{Contact: "sip:" + aor + "@h"}, Expires: time.Hour}}}
		if _, err := s.Apply(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Expire(ctx, t0.Add(2*time.Minute)); len(got) != 500 {
		t.Fatalf("Expire: %d bindings, want 500", len(got))
	}
	if got, _ := s.Expire(ctx, t0.Add(2*time.Minute)); len(got) != 0 {
		t.Fatalf("Expire again: %d bindings, want 0", len(got))
	}
	if got, _ := s.List(ctx, t0); len(got) != 500 {
		t.Fatalf("List: %d bindings, want 500", len(got))
	}
}

// BenchmarkApply measures a REGISTER refresh, spread over many AORs from parallel
// goroutines, as the registrar does under load.
func BenchmarkApply(b *testing.B) {
	const aors = 100_000
	ctx := context.Background()
	s := registrar.NewMemoryStore()
	now := time.Now()
	names := make([]string, aors)
	changes := make([][]registrar.Change, aors)
	for i := range names {
		names[i] = fmt.Sprint("user", i)
		changes[i] = []registrar.Change{{Binding: registrar.Binding{
			Contact: "sip:" + names[i] + "@192.0.2.1:5060", Transport: "udp", Source: "192.0.2.1:5060",
			Local: "198.51.100.1:5060", UserAgent: "bench", Node: "node-a"}, Expires: time.Hour}}
		if _, err := s.Apply(ctx, registrar.Update{AOR: names[i], CallID: "c", CSeq: 1, Changes: changes[i], Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var goroutines atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine has its own Call-ID and an increasing CSeq, so a refresh either
		// replaces another goroutine's binding or follows its own: never out of order.
		id := goroutines.Add(1)
		callID := fmt.Sprint("bench-", id)
		i := int(id * 7919)
		var cseq uint32 = 1
		for pb.Next() {
			i = (i + 1) % aors
			cseq++
			_, err := s.Apply(ctx, registrar.Update{AOR: names[i], CallID: callID, CSeq: cseq,
				Changes: changes[i], Now: now, MaxContacts: 5})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
