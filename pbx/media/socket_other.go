//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// udpSocket is one leg's RTP socket. Outside Linux it is a net.UDPConn read by a goroutine
// per leg (poll_other.go); Linux has its own poller (poll_linux.go).
type udpSocket struct {
	conn  *net.UDPConn
	local netip.AddrPort
}

func listenUDPSocket(a netip.AddrPort) (*udpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
	if err != nil {
		return nil, err
	}
	return &udpSocket{conn: c, local: a}, nil
}

// LocalAddr is the address the socket was bound to.
func (s *udpSocket) LocalAddr() netip.AddrPort { return s.local }

// Close closes the socket; a recv blocked on it returns net.ErrClosed.
func (s *udpSocket) Close() error { return s.conn.Close() }

// recv blocks until a datagram arrives. The source of an IPv4 peer on a dual-stack socket is
// returned as IPv4.
func (s *udpSocket) recv(buf []byte) (int, netip.AddrPort, error) {
	n, src, err := s.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return 0, src, err
	}
	return n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), nil
}

func (s *udpSocket) send(b []byte, dst netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, dst)
	return err
}
