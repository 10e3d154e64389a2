//go:build linux

package media

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// poller runs the relays' sockets on a few goroutines, one per processor (GOMAXPROCS), each
// with its own epoll set, instead of a goroutine per leg blocked in the Go runtime's poller.
//
// Why: with a goroutine per leg, every packet costs a goroutine wake-up, a recvfrom, a
// second recvfrom that fails with EAGAIN before the goroutine parks again, and the runtime's
// own epoll round; at 100,000 packets per second that is a third of the relay's CPU. A
// worker instead asks its epoll set (level-triggered) which sockets hold a packet, reads one
// packet from each and relays it, and asks again: one epoll_wait serves every packet that
// arrived meanwhile, and the worker parks (its epoll descriptor is itself watched by the Go
// runtime's poller) only when none is waiting.
//
// Relays are spread over the workers in turn; both legs of a relay go to the same worker. A
// worker starts with its first relay and stops with its last, so an idle server runs none.
type poller struct {
	mu      sync.Mutex
	workers []*pollWorker // nil slot: no relay there, no goroutine
	next    int
}

// pollWorker is one goroutine and its epoll set. mu is held while it handles the events of
// one epoll_wait and while sockets are added or removed: once remove returns, the worker
// no longer uses the relay's sockets, and they can be closed.
type pollWorker struct {
	slot int
	epfd int      // the epoll descriptor (never ep.Fd(), which makes ep blocking)
	ep   *os.File // epfd as a non-blocking file in the Go runtime's poller
	rc   syscall.RawConn
	done chan struct{}

	mu    sync.Mutex
	legs  map[int32]*leg // by socket descriptor
	count int            // relays
}

// pollBatch is the most events one epoll_wait returns; the rest wait for the next round.
const pollBatch = 256

func (p *poller) add(r *Relay) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers == nil {
		p.workers = make([]*pollWorker, runtime.GOMAXPROCS(0))
	}
	slot := p.next % len(p.workers)
	p.next++
	w := p.workers[slot]
	if w == nil {
		var err error
		if w, err = startPollWorker(slot); err != nil {
			return err
		}
		p.workers[slot] = w
	}
	if err := w.add(r); err != nil {
		if w.count == 0 {
			p.workers[slot] = nil
			w.stop()
		}
		return err
	}
	r.worker = w
	return nil
}

// remove takes r's sockets out of its worker; the worker is stopped when it was the last.
func (p *poller) remove(r *Relay) {
	w := r.worker
	if w == nil {
		return
	}
	p.mu.Lock()
	w.mu.Lock()
	for _, l := range r.legs {
		_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, l.sock.fd, nil)
		delete(w.legs, int32(l.sock.fd))
	}
	w.count--
	idle := w.count == 0
	w.mu.Unlock()
	if idle {
		p.workers[w.slot] = nil
	}
	p.mu.Unlock()
	if idle {
		w.stop()
	}
}

func startPollWorker(slot int) (*pollWorker, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rtp poller: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("rtp poller: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "rtp-epoll") // non-blocking: registered in the runtime's poller
	rc, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil, fmt.Errorf("rtp poller: %w", err)
	}
	w := &pollWorker{slot: slot, epfd: fd, ep: ep, rc: rc, done: make(chan struct{}), legs: make(map[int32]*leg)}
	go w.run()
	return w, nil
}

func (w *pollWorker) add(r *Relay) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	epfd := w.epfd
	for i, l := range r.legs {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.sock.fd)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.sock.fd, &ev); err != nil {
			for _, prev := range r.legs[:i] {
				_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, prev.sock.fd, nil)
				delete(w.legs, int32(prev.sock.fd))
			}
			return fmt.Errorf("rtp poller: epoll_ctl: %w", err)
		}
		w.legs[int32(l.sock.fd)] = l
	}
	w.count++
	return nil
}

// stop closes the epoll descriptor, which wakes the worker out of the runtime's poller, and
// waits for it to return. The worker holds no socket by then.
func (w *pollWorker) stop() {
	_ = w.ep.Close()
	<-w.done
}

func (w *pollWorker) run() {
	defer close(w.done)
	events := make([]syscall.EpollEvent, pollBatch)
	buf := make([]byte, maxPacket)
	round := func(fd uintptr) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		n, err := syscall.EpollWait(int(fd), events, 0)
		if err != nil {
			// EINTR: ask again. Anything else means the descriptor is going away; the
			// runtime's poller then reports the close.
			return errors.Is(err, syscall.EINTR)
		}
		if n == 0 {
			return false // park until the epoll set has a ready socket
		}
		now := mono()
		for _, ev := range events[:n] {
			if l := w.legs[ev.Fd]; l != nil {
				l.relay.receive(l, buf, now)
			}
		}
		return true
	}
	for {
		if err := w.rc.Read(round); err != nil {
			return
		}
	}
}

// start hands the relay's sockets to a poller worker.
func (r *Relay) start() error { return r.m.poll.add(r) }

// stop takes the sockets back from the worker and closes them; no packet is handled after
// it returns.
func (r *Relay) stop() {
	r.m.poll.remove(r)
	for _, l := range r.legs {
		_ = l.sock.Close()
	}
}

// receive reads one packet waiting on leg in and relays it.
func (r *Relay) receive(in *leg, buf []byte, now int64) {
	n, src, err := in.sock.recv(buf)
	if err != nil {
		if err != syscall.EAGAIN && err != syscall.EINTR {
			r.log.Debug("rtp read", "leg", in.id.String(), "err", err)
		}
		return
	}
	r.forward(in, r.legs[in.id.other()], buf[:n], src, now)
}
