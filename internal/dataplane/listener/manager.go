package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Manager keeps the set of running listeners in step with config.
type Manager struct {
	h   Handlers
	log *slog.Logger

	mu   sync.Mutex
	live map[string]*Listener // by listener name
	// draining holds replaced listeners until they finish.
	draining sync.WaitGroup
	// DrainTimeout bounds how long a replaced listener serves its old connections.
	DrainTimeout time.Duration
	retired      map[*Listener]struct{}
	stopping     chan struct{}
	stopOnce     sync.Once
}

// NewManager returns a manager with no listeners.
func NewManager(h Handlers, log *slog.Logger) *Manager {
	return &Manager{h: h, log: log, live: map[string]*Listener{}, DrainTimeout: 5 * time.Minute,
		retired: map[*Listener]struct{}{}, stopping: make(chan struct{})}
}

// Apply starts or replaces the listener; an unchanged one is left alone.
// defaultCert is the key of the certificate an https listener serves to
// clients whose SNI matches no certificate ("" for none). A listener whose
// address stays the same keeps its socket: the new generation takes over
// accepting at once and the old one drains its connections.
func (m *Manager) Apply(cfg *ir.Listener, hash uint64, defaultCert string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.live[cfg.Name]
	if old != nil && old.hash == hash && old.defaultCert == defaultCert {
		return nil
	}
	var sock *socket
	if old != nil && old.cfg.Address == cfg.Address {
		sock = old.sock
	} else {
		var err error
		if sock, err = bind(cfg.Address, m.log); err != nil {
			return &ir.FieldError{Kind: ir.KindListener, Name: cfg.Name, Field: "address", Msg: fmt.Sprintf("cannot listen: %v", err)}
		}
	}
	nl := start(cfg, hash, defaultCert, sock, m.h, m.log)
	nl.defaultCert = defaultCert
	m.live[cfg.Name] = nl
	m.log.Info("listener started", "listener", cfg.Name, "address", nl.Addr().String(), "protocol", cfg.Protocol)
	if old != nil {
		m.retire(old, old.sock != sock)
	}
	return nil
}

// Remove stops the named listener, draining its connections in the background.
func (m *Manager) Remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.live[name]; old != nil {
		delete(m.live, name)
		m.retire(old, true)
	}
}

// retire stops l taking new connections; its open connections carry on
// (keep-alive, WebSocket, HTTP/2) until their clients close them, they idle
// out, or DrainTimeout passes. A config change thus closes no connection.
// closeSocket also stops the socket (no successor serves its address).
func (m *Manager) retire(l *Listener, closeSocket bool) {
	if closeSocket {
		l.sock.close()
	}
	l.stopAccepting()
	m.retired[l] = struct{}{}
	m.draining.Add(1)
	go func() {
		defer m.draining.Done()
		select {
		case <-time.After(m.DrainTimeout):
		case <-m.stopping:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.shutdown(ctx)
		m.mu.Lock()
		delete(m.retired, l)
		m.mu.Unlock()
	}()
}

// Addr returns the bound address of the named listener, or nil.
func (m *Manager) Addr(name string) net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.live[name]; l != nil {
		return l.Addr()
	}
	return nil
}

// Shutdown stops accepting on every listener and drains them until ctx ends.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	ls := make([]*Listener, 0, len(m.live))
	for _, l := range m.live {
		ls = append(ls, l)
	}
	m.live = map[string]*Listener{}
	for l := range m.retired {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	m.stopOnce.Do(func() { close(m.stopping) })
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, l := range ls {
		l.sock.close() // stop accepting everywhere first
	}
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { m.draining.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}
