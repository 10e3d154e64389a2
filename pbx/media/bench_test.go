package media

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRelayPacket sends one G.711 packet from phone A through a relay to phone B and
// waits for it: the time of one packet in and out through real sockets, and the
// allocations of the whole process per packet.
func BenchmarkRelayPacket(b *testing.B) {
	for _, tc := range []struct {
		name string
		a, b Codec
	}{{"PCMU-PCMU", PCMU, PCMU}, {"PCMU-PCMA", PCMU, PCMA}} {
		b.Run(tc.name, func(b *testing.B) {
			m := newTestManager(b, testConfig())
			r := newTestRelay(b, m)
			pa, pb := newPhone(b), newPhone(b)
			require.NoError(b, r.SetLeg(LegA, LegConfig{Remote: pa.addr, Codec: tc.a, DTMFPT: NoDTMF}))
			require.NoError(b, r.SetLeg(LegB, LegConfig{Remote: pb.addr, Codec: tc.b, DTMFPT: NoDTMF}))
			pkt, err := audio(tc.a.PayloadType, 1, 1).Marshal()
			require.NoError(b, err)
			buf := make([]byte, 2048)
			dst := legAddr(r, LegA)
			require.NoError(b, pb.conn.SetReadDeadline(time.Now().Add(10*time.Minute)))
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				binary.BigEndian.PutUint16(pkt[2:], uint16(i))
				if _, err := pa.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
					b.Fatal(err)
				}
				if _, err := pb.conn.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.EqualValues(b, b.N, r.Stats().A.Packets)
		})
	}
}

var (
	benchRelays  = flag.String("media.relays", "250,500,1000", "BenchmarkConcurrentRelays: comma-separated relay counts")
	benchMeasure = flag.Duration("media.measure", 5*time.Second, "BenchmarkConcurrentRelays: measured time per count (after 1 s of warm-up)")
	benchSockets = flag.Int("media.phone_sockets", 16, "BenchmarkConcurrentRelays: phone sockets per side in the load generator")
)

// BenchmarkConcurrentRelays runs N relays, each carrying G.711 20 ms both ways (50 packets/s
// per direction, 172-byte packets), and measures the CPU time this process spends per
// relay-second with getrusage. The phones run in a child process (this test binary
// re-executed as a load generator), so their CPU is not counted. Reported:
//
//	cpu-ns/pkt      CPU time of this process per relayed packet
//	cpu-us/relay-s  CPU per relay per second of call: cpu-ns/pkt * 100 packets / 1000
//	relays/core     1e6 / cpu-us/relay-s: concurrent relayed calls one core carries
//	pkts/s          packets relayed per second; rate-% of the N*100 offered. When the
//	                machine is saturated (relay and generator share its cores) the generator
//	                falls behind: the per-packet figures stay valid, hence the normalisation
//	loss-%          packets the phones sent and did not get back from the other side
//	heap-KiB/relay  heap and goroutine stacks per relay
//
// On loopback the sender's sendto also runs the receiving socket's softirq and wakes the
// receiver, so each side pays for the other's receive path; over a NIC it costs less.
//
// Run: go test ./pbx/media/ -run '^$' -bench ConcurrentRelays -benchtime 1x -media.relays 500,1000
func BenchmarkConcurrentRelays(b *testing.B) {
	for _, f := range strings.Split(*benchRelays, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		require.NoError(b, err)
		b.Run(fmt.Sprintf("relays=%d", n), func(b *testing.B) {
			for range b.N {
				runConcurrentRelays(b, n, *benchMeasure)
			}
		})
	}
}

const loadgenEnv = "CENTRALA_MEDIA_LOADGEN"

// loadSpec is what the parent tells the load generator on its stdin. The generator's phone
// sockets are file descriptors 3.. (Sockets of side A, then Sockets of side B).
type loadSpec struct {
	Targets  [][2]uint16   // per relay: its leg A and leg B ports on 127.0.0.1
	Sockets  int           // phone sockets per side
	Duration time.Duration // how long to send
}

type loadResult struct {
	Sent, Received uint64
}

func runConcurrentRelays(b *testing.B, n int, measure time.Duration) {
	const warmup = time.Second
	k := min(*benchSockets, n)
	cfg := Config{BindAddr: "127.0.0.1", PortMin: 24000, PortMax: 24000 + 4*n + 8}
	cfg.Defaults()
	m, err := New(cfg)
	require.NoError(b, err)

	// Phone sockets, bound here so the relays know their addresses, used by the child.
	var files []*os.File
	var phones [2][]*net.UDPConn
	for side := range 2 {
		for range k {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(b, err)
			_ = c.SetReadBuffer(4 << 20)
			_ = c.SetWriteBuffer(4 << 20)
			f, err := c.File()
			require.NoError(b, err)
			phones[side] = append(phones[side], c)
			files = append(files, f)
		}
	}

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	relays := make([]*Relay, n)
	spec := loadSpec{Targets: make([][2]uint16, n), Sockets: k, Duration: warmup + measure + time.Second}
	for i := range relays {
		r, err := m.NewRelay(nil)
		require.NoError(b, err)
		relays[i] = r
		require.NoError(b, r.SetLeg(LegA, LegConfig{Remote: phones[0][i%k].LocalAddr().(*net.UDPAddr).AddrPort(), Codec: PCMU, DTMFPT: 101}))
		require.NoError(b, r.SetLeg(LegB, LegConfig{Remote: phones[1][i%k].LocalAddr().(*net.UDPAddr).AddrPort(), Codec: PCMU, DTMFPT: 101}))
		r.ArmTimeout()
		spec.Targets[i] = [2]uint16{uint16(r.Port(LegA)), uint16(r.Port(LegB))}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	defer func() {
		for _, r := range relays {
			_ = r.Close()
		}
	}()

	in, err := json.Marshal(spec)
	require.NoError(b, err)
	var out, errOut bytes.Buffer
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), loadgenEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	cmd.ExtraFiles = files
	require.NoError(b, cmd.Start())
	for i, f := range files {
		_ = f.Close()
		_ = phones[i/k][i%k].Close()
	}

	relayed := func() (p uint64) {
		for _, r := range relays {
			s := r.Stats()
			p += s.A.Packets + s.B.Packets
		}
		return p
	}
	time.Sleep(warmup)
	ru0, t0, p0 := rusage(), time.Now(), relayed()
	time.Sleep(measure)
	ru1, t1, p1 := rusage(), time.Now(), relayed()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("load generator: %v\n%s", err, errOut.String())
	}
	var res loadResult
	require.NoError(b, json.Unmarshal(out.Bytes(), &res), "load generator said %q %q", out.String(), errOut.String())

	wall := t1.Sub(t0)
	cpu := ru1 - ru0
	pkts := float64(p1 - p0)
	nsPerPkt := float64(cpu.Nanoseconds()) / pkts
	// A G.711 20 ms call is 100 packets per second through the relay (50 each way).
	perRelaySec := nsPerPkt * 100 / 1e3
	b.ReportMetric(nsPerPkt, "cpu-ns/pkt")
	b.ReportMetric(perRelaySec, "cpu-us/relay-s")
	b.ReportMetric(1e6/perRelaySec, "relays/core")
	b.ReportMetric(pkts/wall.Seconds(), "pkts/s")
	b.ReportMetric(100*pkts/wall.Seconds()/float64(100*n), "rate-%")
	b.ReportMetric(100*(1-float64(res.Received)/float64(res.Sent)), "loss-%")
	mem := int64(ms1.HeapAlloc+ms1.StackInuse) - int64(ms0.HeapAlloc+ms0.StackInuse)
	b.ReportMetric(float64(mem)/1024/float64(n), "heap-KiB/relay")
	b.ReportMetric(0, "ns/op") // one op is the whole run; ns/op means nothing here
}

func rusage() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLoadGenerator is the child process: every relay's two phones send a 20 ms PCMU packet
// every 20 ms, spread over ten 2 ms slots, and count what comes back.
func runLoadGenerator() int {
	var spec loadSpec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "spec:", err)
		return 2
	}
	var socks [2][]*net.UDPConn
	for i := range 2 * spec.Sockets {
		f := os.NewFile(uintptr(3+i), "phone")
		pc, err := net.FilePacketConn(f)
		_ = f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "socket:", err)
			return 2
		}
		socks[i/spec.Sockets] = append(socks[i/spec.Sockets], pc.(*net.UDPConn))
	}
	var received atomic.Uint64
	var wg sync.WaitGroup
	for _, side := range socks {
		for _, c := range side {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 2048)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					received.Add(1)
				}
			}()
		}
	}

	const slots = 10
	lo := netip.MustParseAddr("127.0.0.1")
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for i := range pkt[12:] {
		pkt[12+i] = byte(i)
	}
	var sent uint64
	start := time.Now()
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * 20 * time.Millisecond / slots)
		if due.Sub(start) > spec.Duration {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // behind schedule (CPU-bound): catch up without sleeping
		}
		slot, frame := n%slots, uint32(n/slots)
		for i := slot; i < len(spec.Targets); i += slots {
			for side := range 2 {
				binary.BigEndian.PutUint16(pkt[2:], uint16(frame))
				binary.BigEndian.PutUint32(pkt[4:], frame*160)
				binary.BigEndian.PutUint32(pkt[8:], uint32(2*i+side))
				dst := netip.AddrPortFrom(lo, spec.Targets[i][side])
				if _, err := socks[side][i%spec.Sockets].WriteToUDPAddrPort(pkt, dst); err == nil {
					sent++
				}
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // packets in flight
	for _, side := range socks {
		for _, c := range side {
			_ = c.Close()
		}
	}
	wg.Wait()
	_ = json.NewEncoder(os.Stdout).Encode(loadResult{Sent: sent, Received: received.Load()})
	return 0
}
