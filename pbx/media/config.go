package media

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config of the media layer. Keys are under `media:` in the server's configuration.
type Config struct {
	BindAddr    string        `yaml:"rtp_bind_addr"`    // IP the RTP sockets bind to; 0.0.0.0 = all
	PortMin     int           `yaml:"rtp_port_min"`     // first RTP port (an even port is used per leg)
	PortMax     int           `yaml:"rtp_port_max"`     // last RTP port
	Timeout     time.Duration `yaml:"rtp_timeout"`      // a leg silent this long ends the call
	HoldTimeout time.Duration `yaml:"rtp_hold_timeout"` // the same while the call is on hold
	LatchGrace  time.Duration `yaml:"rtp_latch_grace"`  // a new source must persist this long to replace the latched one
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if c.PortMin == 0 {
		c.PortMin = 10000
	}
	if c.PortMax == 0 {
		c.PortMax = 20000
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = time.Hour
	}
	if c.LatchGrace == 0 {
		c.LatchGrace = 500 * time.Millisecond
	}
}

// Validate reports the first bad setting.
func (c *Config) Validate() error {
	a, err := netip.ParseAddr(c.BindAddr)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("media rtp_bind_addr %q is not an IP address", c.BindAddr)
	}
	if c.PortMin < 1 || c.PortMax > 65535 || c.PortMin > c.PortMax {
		return fmt.Errorf("media rtp_port_min %d and rtp_port_max %d must satisfy 1 <= min <= max <= 65535", c.PortMin, c.PortMax)
	}
	if n := evenPorts(c.PortMin, c.PortMax); n < 2 {
		return fmt.Errorf("media rtp_port_min..rtp_port_max holds %d even ports; one call needs 2", n)
	}
	if c.Timeout <= 0 || c.HoldTimeout <= 0 || c.LatchGrace <= 0 {
		return errors.New("media rtp_timeout, rtp_hold_timeout and rtp_latch_grace must be positive")
	}
	return nil
}

// evenPorts counts the even ports in [min, max].
func evenPorts(min, max int) int {
	first := min + min%2
	if first > max {
		return 0
	}
	return (max-first)/2 + 1
}
