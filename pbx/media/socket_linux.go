//go:build linux

package media

import (
	"errors"
	"net/netip"
	"syscall"
	"unsafe"
)

// udpSocket is one leg's RTP socket: a non-blocking UDP socket the Go runtime does not
// poll. The relay's poller (poll_linux.go) watches it in its own epoll set and reads it
// only when it is ready, so a packet costs one recvfrom and one sendto, with no extra read
// ending in EAGAIN and no goroutine parked and woken per packet.
//
// recv and send make the system calls directly with raw socket addresses on the stack: they
// do not allocate. Only the relay's poller calls them, and only while the socket is
// registered with it (Close comes after the poller let go of it).
type udpSocket struct {
	fd    int
	v6    bool // AF_INET6; bound to :: it also carries IPv4 as v4-mapped addresses
	local netip.AddrPort
}

// listenUDPSocket binds a UDP socket on a. An unspecified IPv4 address (0.0.0.0) gets a
// dual-stack socket on :: when the host has IPv6, as net.ListenUDP does.
func listenUDPSocket(a netip.AddrPort) (*udpSocket, error) {
	addr := a.Addr()
	if addr == netip.IPv4Unspecified() {
		if s, err := newUDPSocket(syscall.AF_INET6, netip.AddrPortFrom(netip.IPv6Unspecified(), a.Port())); err == nil {
			s.local = a
			return s, nil
		} else if !errors.Is(err, syscall.EAFNOSUPPORT) {
			return nil, err
		}
	}
	family := syscall.AF_INET
	if addr.Is6() {
		family = syscall.AF_INET6
	}
	return newUDPSocket(family, a)
}

func newUDPSocket(family int, a netip.AddrPort) (*udpSocket, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, &socketError{"socket", err}
	}
	s := &udpSocket{fd: fd, v6: family == syscall.AF_INET6, local: a}
	var sa syscall.Sockaddr
	if s.v6 {
		if a.Addr().IsUnspecified() {
			if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
				_ = syscall.Close(fd)
				return nil, &socketError{"setsockopt", err}
			}
		}
		sa = &syscall.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
	} else {
		sa = &syscall.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, &socketError{"bind " + a.String(), err}
	}
	return s, nil
}

// socketError reads like the net package's errors ("bind 127.0.0.1:20000: address already
// in use") and unwraps to the errno.
type socketError struct {
	op  string
	err error
}

func (e *socketError) Error() string { return e.op + ": " + e.err.Error() }
func (e *socketError) Unwrap() error { return e.err }

// LocalAddr is the address the socket was bound to.
func (s *udpSocket) LocalAddr() netip.AddrPort { return s.local }

// Close closes the descriptor.
func (s *udpSocket) Close() error { return syscall.Close(s.fd) }

// recv reads one datagram. It fails with EAGAIN when none is waiting. The source of an IPv4
// peer on a dual-stack socket is returned as IPv4.
func (s *udpSocket) recv(buf []byte) (int, netip.AddrPort, error) {
	var rsa syscall.RawSockaddrAny
	size := uint32(unsafe.Sizeof(rsa))
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		0, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	var src netip.AddrPort
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		src = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		src = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return int(n), src, nil
}

// send writes one datagram to dst. An IPv6 destination on an IPv4 socket fails with
// EAFNOSUPPORT.
func (s *udpSocket) send(b []byte, dst netip.AddrPort) error {
	var (
		e  syscall.Errno
		v4 = dst.Addr().Unmap()
	)
	switch {
	case !s.v6 && v4.Is4():
		sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(dst.Port()), Addr: v4.As4()}
		_, _, e = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			0, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	case s.v6:
		sa := syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(dst.Port()), Addr: dst.Addr().As16()}
		_, _, e = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			0, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	default:
		e = syscall.EAFNOSUPPORT
	}
	if e != 0 {
		return e
	}
	return nil
}

// htons and ntohs convert the port of a raw socket address, which is stored in network
// byte order in a uint16 field.
func htons(p uint16) uint16 {
	b := [2]byte{byte(p >> 8), byte(p)}
	return *(*uint16)(unsafe.Pointer(&b))
}

func ntohs(p uint16) uint16 {
	b := *(*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
