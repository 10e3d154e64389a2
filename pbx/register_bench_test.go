package pbx_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/centrala/centrala/pbx/pbxtest"
)

// BenchmarkRegisterFlowUDP measures whole REGISTER-with-digest flows (REGISTER, 401,
// REGISTER with credentials, 200) over loopback UDP from 8 clients with distinct accounts.
// Client work is included; deploy/bench/register.sh measures the server alone with SIPp.
func BenchmarkRegisterFlowUDP(b *testing.B) {
	accts := pbxtest.Accounts{}
	for i := 0; i < 8; i++ {
		u := fmt.Sprintf("bench%d", i)
		accts[u] = pbxtest.NewAccount(u, "bench-secret", 3)
	}
	e := pbxtest.StartEngine(b, pbxtest.EngineOptions{Accounts: accts})
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		u := fmt.Sprintf("bench%d", next.Add(1)%8)
		ua := pbxtest.Dial(b, "udp", e.UDPAddr(), u, "bench-secret")
		for pb.Next() {
			if r := ua.Register("MD5", "Contact: <"+ua.Contact()+">"); r == nil || r.StatusCode != 200 {
				b.Fatalf("register: %v", r)
			}
		}
	})
}

// BenchmarkRegistrationMemory registers 10,000 distinct accounts through a real engine over
// UDP and reports the live heap each registration adds (after GC), in-process store.
func BenchmarkRegistrationMemory(b *testing.B) {
	const n = 10000
	accts := pbxtest.Accounts{}
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("m%05d", i)
		accts[u] = pbxtest.NewAccount(u, "bench-secret", 3)
	}
	for i := 0; i < b.N; i++ {
		e := pbxtest.StartEngine(b, pbxtest.EngineOptions{Accounts: accts})
		before := liveHeap()
		ua := pbxtest.Dial(b, "udp", e.UDPAddr(), "", "bench-secret")
		for j := 0; j < n; j++ {
			ua.User, ua.CallID = fmt.Sprintf("m%05d", j), pbxtest.Rand()
			if r := ua.Register("MD5", "Contact: <"+ua.Contact()+">"); r == nil || r.StatusCode != 200 {
				b.Fatalf("register: %v", r)
			}
		}
		b.ReportMetric(float64(liveHeap()-before)/n, "B/registration")
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
