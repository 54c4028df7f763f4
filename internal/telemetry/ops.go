package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownGrace bounds how long Start waits for in-flight ops requests
// (a slow scrape, say) when its context ends.
const shutdownGrace = 5 * time.Second

// OpsServer serves the operator endpoints: /metrics, /healthz, /readyz, and
// whatever other components add with HandleFunc (for example /debug/config).
// It runs on its own listener so that probes and scrapes keep working when
// the proxy listeners are saturated.
type OpsServer struct {
	addr  string
	mux   *http.ServeMux
	srv   *http.Server
	ready atomic.Bool
	why   atomic.Pointer[string] // why not ready, for /readyz's body; nil: nothing to add
	// detail adds lines to /readyz's body, ready or not (a discovery
	// provider that is down while the pools serve what is known).
	detail atomic.Pointer[func() string]

	mu sync.Mutex // guards ln
	ln net.Listener
}

// NewOpsServer returns a server for addr (host:port; port 0 picks a free
// one). It starts not ready. m may be nil, in which case /metrics is absent.
func NewOpsServer(addr string, m *Metrics) *OpsServer {
	s := &OpsServer{addr: addr, mux: http.NewServeMux()}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if m != nil {
		s.mux.Handle("/metrics", m.Handler())
	}
	// Liveness answers as long as the process can serve HTTP at all: it must
	// not depend on config or upstreams, or a bad config would get every
	// pod restarted.
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			msg := "not ready"
			if why := s.why.Load(); why != nil {
				msg += ": " + *why
			}
			_, _ = w.Write([]byte(msg + s.details()))
			return
		}
		_, _ = w.Write([]byte("ok" + s.details()))
	})
	return s
}

// HandleFunc adds an endpoint, e.g. /debug/config. It may be called before
// or after Start; patterns follow http.ServeMux.
func (s *OpsServer) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, h)
}

// SetReady sets what /readyz answers. Set it true once the first config is
// live, and false first thing on shutdown so load balancers stop sending
// traffic before listeners close.
func (s *OpsServer) SetReady(ready bool) {
	s.why.Store(nil)
	s.ready.Store(ready)
}

// SetDetail makes /readyz's body carry what fn returns (lines, each
// ending in a newline), after its first line.
func (s *OpsServer) SetDetail(fn func() string) { s.detail.Store(&fn) }

func (s *OpsServer) details() string {
	if fn := s.detail.Load(); fn != nil {
		if d := (*fn)(); d != "" {
			return "\n" + strings.TrimSuffix(d, "\n")
		}
	}
	return ""
}

// SetNotReady reports not ready, with why in /readyz's body.
func (s *OpsServer) SetNotReady(why string) {
	s.why.Store(&why)
	s.ready.Store(false)
}

// Listen binds the address without serving yet, so that a bad address fails
// startup early and tests can learn the port before Start. Start calls it
// if it has not been called.
func (s *OpsServer) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("ops: listen %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *OpsServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Start serves until ctx ends or Shutdown is called, then returns nil after
// a graceful shutdown; it returns an error if the address cannot be bound or
// serving fails.
func (s *OpsServer) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil // Shutdown was called
		}
		return fmt.Errorf("ops: serve: %w", err)
	case <-ctx.Done():
		// Drain before returning, so that the caller's shutdown sequence
		// really is over when Start returns.
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err := s.srv.Shutdown(sctx)
		<-serveErr
		if err != nil {
			return fmt.Errorf("ops: shutdown: %w", err)
		}
		return nil
	}
}

// Shutdown stops the server, waiting for in-flight requests until ctx ends.
func (s *OpsServer) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("ops: shutdown: %w", err)
	}
	return nil
}
