package media

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPortPoolExhaustionAndReuse(t *testing.T) {
	cfg := testConfig()
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := NewPortPool(lo, cfg.PortMin+1, cfg.PortMin+6) // even ports min+2, +4, +6
	require.NoError(t, err)
	require.Equal(t, 3, p.Size())

	var ports []uint16
	for range 3 {
		c, err := p.Listen()
		require.NoError(t, err)
		port := uint16(c.LocalAddr().Port())
		require.Zero(t, port%2, "RTP on an even port")
		ports = append(ports, port)
		require.NoError(t, c.Close())
	}
	require.Equal(t, []uint16{uint16(cfg.PortMin + 2), uint16(cfg.PortMin + 4), uint16(cfg.PortMin + 6)}, ports)
	require.Equal(t, 3, p.InUse())
	_, err = p.Listen()
	require.ErrorIs(t, err, ErrNoPorts)

	// Released ports come back in release order (least recently used first).
	p.Release(ports[1])
	p.Release(ports[0])
	require.Equal(t, 1, p.InUse())
	for _, want := range []uint16{ports[1], ports[0]} {
		c, err := p.Listen()
		require.NoError(t, err)
		require.EqualValues(t, want, c.LocalAddr().Port())
		require.NoError(t, c.Close())
	}
}

func TestPortPoolSkipsPortsHeldElsewhere(t *testing.T) {
	cfg := testConfig()
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := NewPortPool(lo, cfg.PortMin, cfg.PortMin+2)
	require.NoError(t, err)
	other, err := listenUDP(netip.AddrPortFrom(lo, uint16(cfg.PortMin)))
	require.NoError(t, err)
	defer other.Close()

	c, err := p.Listen()
	require.NoError(t, err)
	require.EqualValues(t, cfg.PortMin+2, c.LocalAddr().Port())
	_, err = p.Listen()
	require.ErrorIs(t, err, ErrNoPorts)
	require.ErrorContains(t, err, "address already in use")
	require.NoError(t, c.Close())
}

func TestNewRelayExhaustion(t *testing.T) {
	cfg := testConfig()
	cfg.PortMax = cfg.PortMin + 5 // 3 even ports: one relay and a half
	m := newTestManager(t, cfg)
	r := newTestRelay(t, m)
	_, err := m.NewRelay(nil)
	require.ErrorIs(t, err, ErrNoPorts)
	require.Equal(t, 2, m.Ports().InUse(), "the half-made relay gave its port back")
	require.NoError(t, r.Close())
	r2 := newTestRelay(t, m)
	require.NotZero(t, r2.Port(LegA))
}

func TestConfig(t *testing.T) {
	var def Config
	def.Defaults()
	require.NoError(t, def.Validate())
	require.Equal(t, Config{BindAddr: "0.0.0.0", PortMin: 10000, PortMax: 20000, Timeout: def.Timeout,
		HoldTimeout: def.HoldTimeout, LatchGrace: def.LatchGrace}, def)
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"bind not an IP", func(c *Config) { c.BindAddr = "example.com" }},
		{"min above max", func(c *Config) { c.PortMin, c.PortMax = 20000, 10000 }},
		{"max too high", func(c *Config) { c.PortMax = 70000 }},
		{"one even port", func(c *Config) { c.PortMin, c.PortMax = 10000, 10001 }},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := def
			tc.mod(&c)
			require.Error(t, c.Validate())
			_, err := New(c)
			require.Error(t, err)
		})
	}
}
