package pbx_test

import (
	"fmt"
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
