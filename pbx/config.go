package pbx

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Config of the SIP engine.
type Config struct {
	Addr           string `yaml:"addr"`             // host:port for UDP and TCP (CENTRALA_SIP_ADDR)
	TLSAddr        string `yaml:"tls_addr"`         // host:port for TLS; needs TLSCert and TLSKey
	TLSCert        string `yaml:"tls_cert"`         // PEM certificate chain file
	TLSKey         string `yaml:"tls_key"`          // PEM private key file
	TLSCA          string `yaml:"tls_ca"`           // PEM CAs trusted for TLS connections we open (trunks); empty: the system's
	Realm          string `yaml:"realm"`            // digest realm and SIP domain (CENTRALA_SIP_REALM)
	MaxMessageSize int    `yaml:"max_message_size"` // bytes; larger messages are refused
	Workers        int    `yaml:"workers"`          // goroutines handling stateless requests
	QueueSize      int    `yaml:"queue_size"`       // requests waiting for a worker before new ones are dropped
	ServerHeader   string `yaml:"server_header"`    // Server / User-Agent value; no version on purpose
	// ExternalIP is the public address put in Via, Contact and SDP toward peers outside
	// private networks (a server behind 1:1 NAT). Empty: the address the route to the peer uses.
	ExternalIP string `yaml:"external_ip"`
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = "0.0.0.0:5060"
	}
	if c.Realm == "" {
		c.Realm = "centrala"
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 16 * 1024
	}
	if c.Workers == 0 {
		c.Workers = 64
	}
	if c.QueueSize == 0 {
		c.QueueSize = 8192
	}
	if c.ServerHeader == "" {
		c.ServerHeader = "Centrala"
	}
}

// Validate reports the first bad setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("sip addr %q: %w", c.Addr, err)
	}
	if c.TLSAddr != "" {
		if _, _, err := net.SplitHostPort(c.TLSAddr); err != nil {
			return fmt.Errorf("sip tls addr %q: %w", c.TLSAddr, err)
		}
		if c.TLSCert == "" || c.TLSKey == "" {
			return errors.New("sip tls addr needs a certificate and a key (CENTRALA_TLS_CERT, CENTRALA_TLS_KEY)")
		}
	}
	if c.MaxMessageSize < 4096 || c.MaxMessageSize > 65535 {
		return errors.New("sip max_message_size must be between 4096 and 65535")
	}
	if c.ExternalIP != "" {
		if _, err := netip.ParseAddr(c.ExternalIP); err != nil {
			return fmt.Errorf("sip external_ip %q is not an IP address", c.ExternalIP)
		}
	}
	if c.Workers < 1 || c.QueueSize < 1 {
		return errors.New("sip workers and queue_size must be positive")
	}
	return nil
}
