package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadgenEnv) != "" {
		os.Exit(runLoadGenerator()) // child process of BenchmarkConcurrentRelays
	}
	goleak.VerifyTestMain(m)
}

// Each test manager gets its own 64-port slice of 20000-23999, below the ephemeral range
// (32768+) so that phones bound to port 0 never collide with it.
var nextRange atomic.Int32

func testConfig() Config {
	k := int(nextRange.Add(1)-1) % 62
	cfg := Config{BindAddr: "127.0.0.1", PortMin: 20000 + k*64, PortMax: 20000 + k*64 + 63,
		Timeout: 10 * time.Second, HoldTimeout: 20 * time.Second, LatchGrace: 100 * time.Millisecond}
	cfg.Defaults()
	return cfg
}

func newTestManager(t testing.TB, cfg Config, opts ...Option) *Manager {
	t.Helper()
	m, err := New(cfg, opts...)
	require.NoError(t, err)
	return m
}

func newTestRelay(t testing.TB, m *Manager) *Relay {
	t.Helper()
	r, err := m.NewRelay(nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// phone is a fake RTP endpoint on 127.0.0.1.
type phone struct {
	t    testing.TB
	conn *net.UDPConn
	addr netip.AddrPort
}

func newPhone(t testing.TB) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &phone{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

func (p *phone) send(to netip.AddrPort, pkt *rtp.Packet) {
	p.t.Helper()
	b, err := pkt.Marshal()
	require.NoError(p.t, err)
	p.sendRaw(to, b)
}

func (p *phone) sendRaw(to netip.AddrPort, b []byte) {
	p.t.Helper()
	_, err := p.conn.WriteToUDPAddrPort(b, to)
	require.NoError(p.t, err)
}

// recv returns the next packet and its source, or an error after d.
func (p *phone) recv(d time.Duration) (*rtp.Packet, netip.AddrPort, error) {
	buf := make([]byte, 2048)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, src, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, src, err
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		return nil, src, err
	}
	return &pkt, src, nil
}

func (p *phone) mustRecv(d time.Duration) *rtp.Packet {
	p.t.Helper()
	pkt, _, err := p.recv(d)
	require.NoError(p.t, err)
	return pkt
}

// expectNothing asserts that no packet arrives within d.
func (p *phone) expectNothing(d time.Duration) {
	p.t.Helper()
	pkt, _, err := p.recv(d)
	if err == nil {
		p.t.Fatalf("phone %s: unexpected packet seq %d pt %d", p.addr, pkt.SequenceNumber, pkt.PayloadType)
	}
	require.True(p.t, errors.Is(err, os.ErrDeadlineExceeded), "recv: %v", err)
}

// audio builds a G.711 packet; the payload is a deterministic pattern covering all bytes.
func audio(pt uint8, ssrc uint32, seq uint16) *rtp.Packet {
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = byte(int(seq)*7 + i*13)
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq,
		Timestamp: uint32(seq) * 160, SSRC: ssrc, Marker: seq == 1}, Payload: payload}
}

func legAddr(r *Relay, l Leg) netip.AddrPort { return r.LocalAddr(l) }

func listenUDP(a netip.AddrPort) (*net.UDPConn, error) {
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
}
