package listener

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// socket is one bound listening socket. It outlives the listener
// generations that serve its address: when a listener's config changes but
// its address does not, the new generation takes the socket over and the old
// one drains, so no connection attempt ever finds the port closed, and no
// second bind (which SO_REUSEPORT would allow, silently, for a second
// process too) is needed.
type socket struct {
	ln    net.Listener
	owner atomic.Pointer[Listener] // where accepted connections go
	refs  int                      // generations using it; guarded by Manager.mu
	done  sync.WaitGroup
	log   *slog.Logger
}

func bind(addr string, log *slog.Logger) (*socket, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &socket{ln: ln, log: log}
	s.done.Add(1)
	go s.pump()
	return s, nil
}

// pump accepts and hands each connection to the current owner. A
// connection that reaches a generation just as it retires is offered to
// the new owner instead of being dropped.
func (s *socket) pump() {
	defer s.done.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.log.Error("accept failed", "address", s.ln.Addr().String(), "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for {
			l := s.owner.Load()
			if l == nil {
				c.Close()
				break
			}
			if l.intake(c) {
				break
			}
			if s.owner.Load() == l {
				c.Close() // retired with no successor: the socket is closing
				break
			}
		}
	}
}

func (s *socket) close() {
	s.owner.Store(nil)
	s.ln.Close()
	s.done.Wait()
}
