package media

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNoPorts means every RTP port of the range is in use: the engine refuses the call (503).
var ErrNoPorts = errors.New("no free RTP port")

// PortPool hands out UDP sockets on the even ports of a range (RFC 3550 section 11: RTP on
// an even port; the odd port above it is left free for RTCP). Ports come back in the order
// they were released, so a port freed by one call is reused last and packets still in
// flight for the old call do not reach the next one. A port some other process holds is
// skipped. It is safe for concurrent use.
type PortPool struct {
	addr netip.Addr
	free chan uint16 // FIFO of free ports
	size int
}

// NewPortPool covers the even ports in [min, max] on bind address addr.
func NewPortPool(addr netip.Addr, min, max int) (*PortPool, error) {
	if !addr.IsValid() {
		return nil, errors.New("rtp port pool: invalid bind address")
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("rtp port pool: bad range %d-%d", min, max)
	}
	n := evenPorts(min, max)
	if n == 0 {
		return nil, fmt.Errorf("rtp port pool: no even port in %d-%d", min, max)
	}
	p := &PortPool{addr: addr.Unmap(), free: make(chan uint16, n), size: n}
	for port := min + min%2; port <= max; port += 2 {
		p.free <- uint16(port)
	}
	return p, nil
}

// Listen binds a UDP socket on the next free port. It fails with ErrNoPorts when every port
// of the range is taken, by this pool or by another process.
func (p *PortPool) Listen() (*udpSocket, error) {
	var lastErr error
	for range p.size {
		var port uint16
		select {
		case port = <-p.free:
		default:
			return nil, p.exhausted(lastErr)
		}
		sock, err := listenUDPSocket(netip.AddrPortFrom(p.addr, port))
		if err == nil {
			return sock, nil
		}
		lastErr = err
		p.Release(port) // held by someone else: back to the end of the queue
	}
	return nil, p.exhausted(lastErr)
}

func (p *PortPool) exhausted(last error) error {
	if last != nil {
		return fmt.Errorf("%w in %d ports (last bind error: %v)", ErrNoPorts, p.size, last)
	}
	return fmt.Errorf("%w in %d ports", ErrNoPorts, p.size)
}

// Release returns a port after its socket is closed.
func (p *PortPool) Release(port uint16) {
	select {
	case p.free <- port:
	default: // released twice: a bug, but never block
	}
}

// Size is the number of ports the pool covers.
func (p *PortPool) Size() int { return p.size }

// InUse is the number of ports handed out and not released.
func (p *PortPool) InUse() int { return p.size - len(p.free) }
