package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/pbx/registrar/registrartest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var prefixes atomic.Int64

// newPrefix keeps the subtests sharing one server apart.
func newPrefix() string { return fmt.Sprintf("test%d:", prefixes.Add(1)) }

func TestStoreContract(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	client, peerClient := srv.Client(t), srv.Client(t)
	registrartest.RunStoreContract(t,
		func(t *testing.T) registrar.Store { return New(client, newPrefix()) },
		// Another process: another connection pool, same server and prefix.
		func(t *testing.T, s registrar.Store) registrar.Store { return New(peerClient, s.(*Store).prefix) },
	)
}

func TestDefaultPrefixAndURL(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Addr != srv.Addr {
		t.Fatalf("URL %s names %s, Addr is %s", srv.URL, opt.Addr, srv.Addr)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ctx := context.Background()
	s := New(client, "")
	now := time.Now()
	if _, err := s.Apply(ctx, registrar.Update{AOR: "alice", CallID: "c", CSeq: 1, Now: now,
		Changes: []registrar.Change{{Binding: registrar.Binding{Contact: "sip:alice@h"}, Expires: time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "centrala:loc:") {
			t.Errorf("key %q outside centrala:loc:", k)
		}
	}
	if len(keys) != 3 {
		t.Errorf("keys %q, want the AOR hash, the expiry zset and the AOR set", keys)
	}
	// The AOR hash has a TTL past the binding's expiry, as a safety net.
	ttl, err := client.PTTL(ctx, "centrala:loc:aor:alice").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < time.Minute || ttl > time.Minute+keyGrace+time.Second {
		t.Errorf("AOR hash TTL %v", ttl)
	}
}

// TestKeysCleanedUp checks that removing, expiring and dropping every binding leaves no key
// behind.
func TestKeysCleanedUp(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	client := srv.Client(t)
	ctx := context.Background()
	s := New(client, "c:")
	t0 := time.Now()
	bind := func(aor, contact string, cseq uint32, expires time.Duration) {
		t.Helper()
		if _, err := s.Apply(ctx, registrar.Update{AOR: aor, CallID: "c", CSeq: cseq, Now: t0,
			Changes: []registrar.Change{{Binding: registrar.Binding{Contact: contact}, Expires: expires}}}); err != nil {
			t.Fatal(err)
		}
	}
	bind("a", "sip:1", 1, time.Minute)
	bind("a", "sip:2", 2, time.Minute)
	bind("a", "sip:1", 3, 0)
	bind("b", "sip:1", 1, time.Second)
	bind("c", "sip:1", 1, time.Minute)
	if _, err := s.RemoveAOR(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Expire(ctx, t0.Add(2*time.Second)); err != nil || len(got) != 1 {
		t.Fatalf("Expire: %d bindings, %v", len(got), err)
	}
	if _, err := s.Apply(ctx, registrar.Update{AOR: "a", CallID: "other", CSeq: 1, RemoveAll: true, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if keys := client.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Fatalf("keys left: %q", keys)
	}
}

// TestExpireBatches checks a backlog larger than one script batch, and that bindings
// dropped by Apply (lapsed when the AOR registered again) are not reported by Expire.
func TestExpireBatches(t *testing.T) {
	srv := pbxtest.StartRedis(t)
	s := New(srv.Client(t), "")
	ctx := context.Background()
	t0 := time.Now()
	const n = 2*expireBatch + 17
	changes := make([]registrar.Change, n)
	for i := range changes {
		changes[i] = registrar.Change{Binding: registrar.Binding{Contact: fmt.Sprint("sip:", i)}, Expires: time.Second}
	}
	if _, err := s.Apply(ctx, registrar.Update{AOR: "big", CallID: "c", CSeq: 1, Now: t0, Changes: changes}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, registrar.Update{AOR: "small", CallID: "c", CSeq: 1, Now: t0,
		Changes: changes[:1]}); err != nil {
		t.Fatal(err)
	}
	// "small" registers again after lapsing: Apply drops the old binding itself.
	if _, err := s.Apply(ctx, registrar.Update{AOR: "small", CallID: "d", CSeq: 1, Now: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Expire(ctx, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("Expire: %d bindings, want %d", len(got), n)
	}
	if zs := srv.Client(t).ZCard(ctx, s.expKey).Val(); zs != 0 {
		t.Fatalf("%d members left in %s", zs, s.expKey)
	}
}

func BenchmarkApply(b *testing.B) {
	srv := pbxtest.StartRedis(b)
	s := New(srv.Client(b), "")
	ctx := context.Background()
	now := time.Now()
	const aors = 10_000
	names := make([]string, aors)
	changes := make([][]registrar.Change, aors)
	for i := range names {
		names[i] = fmt.Sprint("user", i)
		changes[i] = []registrar.Change{{Binding: registrar.Binding{
			Contact: "sip:" + names[i] + "@192.0.2.1:5060", Transport: "udp", Source: "192.0.2.1:5060",
			Local: "198.51.100.1:5060", UserAgent: "bench", Node: "node-a"}, Expires: time.Hour}}
	}
	var goroutines atomic.Int64
	b.SetParallelism(8) // round-trip bound: keep several requests in flight per CPU
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := goroutines.Add(1)
		callID := fmt.Sprint("bench-", id)
		i := int(id * 7919)
		var cseq uint32 = 1
		for pb.Next() {
			i = (i + 1) % aors
			cseq++
			if _, err := s.Apply(ctx, registrar.Update{AOR: names[i], CallID: callID, CSeq: cseq,
				Changes: changes[i], Now: now, MaxContacts: 5}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
