package digest

import (
	"net/netip"
	"sync"
	"time"
)

// GuardConfig sets when a source address is banned for failing authentication.
type GuardConfig struct {
	MaxFailures int           `yaml:"max_failures"` // failures within Window that trigger a ban; negative disables banning
	Window      time.Duration `yaml:"window"`
	BanTime     time.Duration `yaml:"ban_time"`
	Allow       []string      `yaml:"allow"` // CIDRs never banned (e.g. an SBC in front)
	MaxTracked  int           `yaml:"-"`     // bound on remembered sources
}

// Defaults: 10 failures in 10 minutes ban the source for 10 minutes.
func (c *GuardConfig) Defaults() {
	if c.MaxFailures == 0 {
		c.MaxFailures = 10
	}
	if c.Window == 0 {
		c.Window = 10 * time.Minute
	}
	if c.BanTime == 0 {
		c.BanTime = 10 * time.Minute
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = 100_000
	}
}

// Guard counts authentication failures per source IP and bans sources that fail too often.
type Guard struct {
	cfg   GuardConfig
	allow []netip.Prefix
	mu    sync.RWMutex // Banned runs for every packet: readers share it
	srcs  map[netip.Addr]*guardEntry
}

type guardEntry struct {
	failures    []time.Time // within the window, oldest first
	bannedUntil time.Time
}

// NewGuard returns a guard; cfg.Allow entries must be CIDRs or addresses.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	cfg.Defaults()
	g := &Guard{cfg: cfg, srcs: map[netip.Addr]*guardEntry{}}
	for _, a := range cfg.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return nil, err
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		g.allow = append(g.allow, p)
	}
	return g, nil
}

// Banned reports whether requests from ip are to be dropped at now.
func (g *Guard) Banned(ip netip.Addr, now time.Time) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	e := g.srcs[ip.Unmap()]
	return e != nil && now.Before(e.bannedUntil)
}

// Fail records a failure from ip and reports whether this failure started a ban.
func (g *Guard) Fail(ip netip.Addr, now time.Time) bool {
	ip = ip.Unmap()
	if g.cfg.MaxFailures <= 0 || g.allowed(ip) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.srcs[ip]
	if e == nil {
		if len(g.srcs) >= g.cfg.MaxTracked {
			g.sweepLocked(now)
			if len(g.srcs) >= g.cfg.MaxTracked {
				return false // under a flood of distinct sources keep what we track
			}
		}
		e = &guardEntry{}
		g.srcs[ip] = e
	}
	if now.Before(e.bannedUntil) {
		return false
	}
	cut := 0
	for cut < len(e.failures) && now.Sub(e.failures[cut]) >= g.cfg.Window {
		cut++
	}
	e.failures = append(e.failures[cut:], now)
	if len(e.failures) >= g.cfg.MaxFailures {
		e.failures = e.failures[:0]
		e.bannedUntil = now.Add(g.cfg.BanTime)
		return true
	}
	return false
}

// Sweep forgets sources with no ban and no failure within the window.
func (g *Guard) Sweep(now time.Time) {
	g.mu.Lock()
	g.sweepLocked(now)
	g.mu.Unlock()
}

// BannedCount is the number of sources banned at now.
func (g *Guard) BannedCount(now time.Time) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := 0
	for _, e := range g.srcs {
		if now.Before(e.bannedUntil) {
			n++
		}
	}
	return n
}

func (g *Guard) sweepLocked(now time.Time) {
	for ip, e := range g.srcs {
		last := len(e.failures) == 0 || now.Sub(e.failures[len(e.failures)-1]) >= g.cfg.Window
		if last && !now.Before(e.bannedUntil) {
			delete(g.srcs, ip)
		}
	}
}

func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
