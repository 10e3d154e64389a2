//go:build !linux

package media

import (
	"errors"
	"net"
	"time"
)

// poller is empty outside Linux: each leg has its own reading goroutine.
type poller struct{}

// pollWorker does not exist outside Linux.
type pollWorker struct{}

// start runs a reader goroutine per leg.
func (r *Relay) start() error {
	r.wg.Add(2)
	go r.run(r.legs[LegA])
	go r.run(r.legs[LegB])
	return nil
}

// stop closes the sockets, which ends the readers, and waits for them.
func (r *Relay) stop() {
	for _, l := range r.legs {
		_ = l.sock.Close()
	}
	r.wg.Wait()
}

// run is the reader goroutine of leg in.
func (r *Relay) run(in *leg) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, src, err := in.sock.recv(buf)
		if err != nil {
			if r.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (ICMP errors surface on some systems); do not spin on it.
			r.log.Debug("rtp read", "leg", in.id.String(), "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		r.forward(in, r.legs[in.id.other()], buf[:n], src, mono())
	}
}
