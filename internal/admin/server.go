// Package admin is Pylon's admin REST API: JSON CRUD over routes, services,
// certificates and listeners, all-or-nothing batches, status and an OpenAPI
// document. Every write is decoded strictly, validated, dry-run against the
// live config (Checker) and committed to the durable store before it is
// answered (DESIGN invariant 5); the store source then brings it live.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Checker is the compiler's dry run: it reports what applying a change to the
// live config would reject (unknown services, conflicting routes, a service
// still in use, a name taken by a file-sourced object), changing nothing.
type Checker interface {
	Check(ir.Change) ir.Result
}

// Status is what GET /api/v1/status reports; Store defaults to the store's
// own Status when left zero.
type Status struct {
	ConfigVersion   uint64         // compiler generation
	Objects         map[string]int // live objects by kind
	Rejected        int            // objects whose latest version was refused
	LastPropagation time.Duration  // source event to live, last change
	LastApplied     time.Time
	Store           store.Status
	Node            string
}

// NodeInfo is one gateway node as GET /api/v1/nodes lists it.
type NodeInfo struct {
	Name      string    `json:"name"`
	Address   string    `json:"address,omitempty"`
	Version   string    `json:"version,omitempty"`
	Revision  int64     `json:"revision"` // store revision the node has read
	Heartbeat time.Time `json:"heartbeat"`
}

// Deps are what the server reads and writes. Store is required; the others
// may be nil: without a Checker writes skip the cross-object dry run, without
// Live only the store's objects are seen, without
// Status the status endpoint reports the store only, without Nodes (not in
// cluster mode) /api/v1/nodes lists only this node, and Log defaults to
// slog.Default().
type Deps struct {
	Store   store.Store
	Checker Checker
	Status  func() Status
	Nodes   func(ctx context.Context) ([]NodeInfo, error)
	// Live, when set, shows the objects of the other sources (files,
	// Kubernetes) beside the store's, read-only: lists and GET include
	// them with their source, and a write to one of their names is a 409.
	Live Live
	Log  *slog.Logger
	// WaitApplied, when set, blocks until this node has applied the store
	// up to revision (or ctx ends). Writes wait on it (at most
	// ApplyWait) before answering, so a client that creates a service and
	// then a route using it is never told the service is unknown: the
	// Checker dry-runs against the live config, which trails the store.
	// Nil answers as soon as the commit is durable.
	WaitApplied func(ctx context.Context, revision int64) error
}

// ApplyWait bounds how long a write waits for its revision to be applied
// on this node. The write is durable either way; a slow apply only means
// the answer comes before the change is live.
const ApplyWait = 5 * time.Second

// Options configure the listener and the limits.
type Options struct {
	Address string   // default 127.0.0.1:9180
	KeyHash [32]byte // SHA-256 of the key; the zero hash admits nobody
	TLSCert string   // PEM files; TLS is on when TLSCert is set
	TLSKey  string
	// MaxBodyBytes bounds request bodies (413 beyond); default 8 MiB.
	MaxBodyBytes int64
	// Version is this binary's version, shown for this node in /nodes.
	Version string
}

// Defaults for Options.
const (
	DefaultAddress      = "127.0.0.1:9180"
	DefaultMaxBodyBytes = 8 << 20
)

// Server is the admin API.
type Server struct {
	d       Deps
	o       Options
	log     *slog.Logger
	handler http.Handler
	limiter *limiter
	openapi []byte
	addr    atomic.Pointer[net.Addr]
	// writes serializes check → commit → wait-until-live on this node, so
	// two writes never pass the dry run against the same config (a route
	// using a service while another request deletes it).
	writes sync.Mutex
}

// New returns a server over d with options o.
func New(d Deps, o Options) *Server {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{d: d, o: o, log: d.Log, limiter: newLimiter(failureBurst, failureRefill)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "admin")
	s.openapi = openAPIDocument()
	s.handler = s.authenticate(s.logWrites(s.routes()))
	return s
}

// Handler returns the whole API (authentication included), for tests and for
// embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address Start listens on, nil before it listens.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Start listens on Options.Address (TLS when a certificate is given) and
// serves until ctx ends, then shuts down gracefully, letting in-flight
// requests (and so their commits) finish for up to ten seconds.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Address)
	if err != nil {
		return fmt.Errorf("admin: listen: %w", err)
	}
	a := ln.Addr()
	s.addr.Store(&a)
	if s.o.TLSCert == "" && !isLoopback(a) {
		s.log.Warn("admin API listens beyond loopback without TLS: the key crosses the network in clear", "address", a.String())
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		if s.o.TLSCert != "" {
			done <- srv.ServeTLS(ln, s.o.TLSCert, s.o.TLSKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	s.log.Info("admin API listening", "address", a.String(), "tls", s.o.TLSCert != "")
	select {
	case err := <-done:
		return fmt.Errorf("admin: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// routes is the API's mux. Names may hold '/', hence {name...}.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", s.status)
	mux.HandleFunc("GET /api/v1/nodes", s.nodes)
	mux.HandleFunc("GET /api/v1/plugins", s.plugins)
	mux.HandleFunc("GET /api/v1/plugins/{name}", s.pluginByName)
	mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	mux.HandleFunc("POST /api/v1/batch", s.batch)
	mux.HandleFunc("GET /api/v1/{plural}", s.list)
	mux.HandleFunc("POST /api/v1/{plural}", s.create)
	mux.HandleFunc("GET /api/v1/{plural}/{name...}", s.get)
	mux.HandleFunc("PUT /api/v1/{plural}/{name...}", s.put)
	mux.HandleFunc("DELETE /api/v1/{plural}/{name...}", s.remove)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Unknown path or method: answer in JSON like everything else,
		// keeping the mux's status, Allow and Location.
		rec := &statusOnly{h: http.Header{}, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		for _, h := range []string{"Allow", "Location"} {
			if v := rec.h.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		writeError(w, rec.code, errorBody{Error: lowerText(rec.code)})
	})
}

// statusOnly records the status and headers of the mux's own 404/405/301.
type statusOnly struct {
	h    http.Header
	code int
}

func (r *statusOnly) Header() http.Header         { return r.h }
func (r *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusOnly) WriteHeader(code int)        { r.code = code }
