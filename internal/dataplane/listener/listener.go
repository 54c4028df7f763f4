// Package listener owns Pylon's listening sockets and the engines serving
// them. Listeners live outside config generations: a route or service change
// never touches them, and a listener's own change hands its socket to the
// new generation while the old one drains.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/ir"
)

// Handlers are the two engines' entry points into the proxy.
type Handlers struct {
	Fast fasthttp.RequestHandler // HTTP/1.1
	Std  http.Handler            // HTTP/2 and h2c
	// Certificates chooses the certificate by SNI for https listeners, with
	// the listener's own default certificate (by key) for names it lacks.
	Certificates func(defaultKey string) func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientAuth, when set, picks a per-name handshake config (client
	// certificate verification) derived from the listener's own config; a
	// nil config from it means the listener's config applies.
	ClientAuth func(base *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error)
	// Refused, when set, is told of every request a listener answers
	// itself (see Refusal), so it reaches the access log and the metrics.
	Refused func(Refusal)
	// Bind, when set, gives each listener handlers of its own, told where
	// its requests come from; they replace Fast and Std for it.
	Bind func(Origin) (fasthttp.RequestHandler, http.Handler)
}

// Origin is what a listener tells its handlers about the requests it
// serves.
type Origin struct {
	Listener string
	// TrustedProxies are the peers whose forwarding headers are believed;
	// none: every peer's X-Forwarded-For is extended.
	TrustedProxies []netip.Prefix
}

// Listener is one generation of a listener: its config and its engines,
// fed by a socket it shares with the generations before and after it.
type Listener struct {
	cfg  ir.Listener
	lim  ir.Limits
	hash uint64
	// defaultCert is the key of the https default certificate.
	defaultCert string
	sock        *socket
	log         *slog.Logger
	tls         *tls.Config
	h           Handlers

	fast  *fasthttp.Server
	h1    *chanListener // HTTP/1.1 conns
	std   *http.Server
	stdln *chanListener // HTTP/2 conns

	conns    atomic.Int64   // open connections, for limits.maxConnections
	sniffers sync.WaitGroup // per-connection TLS handshakes and h2c sniffs
}

// start serves cfg on sock; it becomes the socket's owner.
func start(cfg *ir.Listener, hash uint64, defaultCert string, sock *socket, h Handlers, log *slog.Logger) *Listener {
	lim := cfg.Limits.WithDefaults()
	l := &Listener{cfg: *cfg, lim: lim, hash: hash, sock: sock, log: log.With("listener", cfg.Name), h: h}
	if h.Bind != nil {
		// Validated with the listener: a parse error cannot happen here.
		trusted, _ := ir.ParseTrustedProxies(cfg.TrustedProxies)
		l.h.Fast, l.h.Std = h.Bind(Origin{Listener: cfg.Name, TrustedProxies: trusted})
	}
	l.h1, l.stdln = newChanListener(sock.ln.Addr()), newChanListener(sock.ln.Addr())
	l.fast = &fasthttp.Server{
		Handler: l.serveFastRequest,
		// No Name: the engine would write it as the Server header of every
		// answer without one, after the handler, so a plugin removing
		// Server could not, and HTTP/1.1 clients would see a header HTTP/2
		// clients do not. An upstream's own Server header passes through.
		ReadBufferSize:     lim.MaxHeaderBytes,
		MaxRequestBodySize: int(lim.MaxBodyBytes),
		ReadTimeout:        lim.ReadTimeout.D(),
		WriteTimeout:       lim.WriteTimeout.D(),
		IdleTimeout:        lim.IdleTimeout.D(),
		// Header names stay normalized: with normalizing off, the engine's
		// lookups are case-sensitive, so "x-forwarded-for" or "TE" from a
		// client would escape the proxy's header handling and route matches.
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		ErrorHandler:                 l.fastError,
		// Parse errors are sentinel values (fastRefusal tells them apart)
		// and carry none of the client's bytes.
		SecureErrorLogMessage: true,
		Logger:                discardLogger{},
	}
	l.std = &http.Server{
		HTTP2:             &http.HTTP2Config{MaxReadFrameSize: h2MaxReadFrame},
		Handler:           l.stdHandler(l.h.Std),
		ReadHeaderTimeout: lim.ReadTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	switch cfg.Protocol {
	case ir.ProtocolH2C:
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		l.std.Protocols = &p
	case ir.ProtocolHTTPS:
		l.tls = &tls.Config{
			GetCertificate: h.Certificates(defaultCert),
			NextProtos:     []string{"h2", "http/1.1"},
			MinVersion:     tls.VersionTLS12,
		}
		if cfg.TLS != nil && cfg.TLS.MinVersion == "1.3" {
			l.tls.MinVersion = tls.VersionTLS13
		}
		if h.ClientAuth != nil {
			// The hook derives from a copy taken before it is installed, so
			// derived configs never call back into it.
			l.tls.GetConfigForClient = h.ClientAuth(l.tls.Clone())
		}
		l.std.TLSConfig = l.tls
	}
	if err := l.configureH2(); err != nil {
		// Only a TLS config without HTTP/2's required cipher suites fails
		// here, and listeners never set cipher suites.
		l.log.Error("http/2 not configured", "error", err)
	}
	go l.serveFast()
	go l.serveStd()
	sock.owner.Store(l)
	return l
}

// Addr is the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.sock.ln.Addr() }

// intake takes one accepted connection; false means this generation has
// retired and the connection should go to its successor.
func (l *Listener) intake(c net.Conn) bool {
	if max := l.lim.MaxConnections; max > 0 {
		if l.conns.Add(1) > int64(max) {
			l.conns.Add(-1)
			c.Close() // over the limit: refuse rather than queue unboundedly
			return true
		}
		c = &countedConn{Conn: c, n: &l.conns}
	}
	switch l.cfg.Protocol {
	case ir.ProtocolHTTP:
		return l.h1.push(c)
	case ir.ProtocolH2C:
		return l.spawn(func() { l.sniffH2C(c) })
	default:
		return l.spawn(func() { l.handshake(c) })
	}
}

func (l *Listener) spawn(fn func()) bool {
	if l.h1.closed() {
		return false
	}
	l.sniffers.Add(1)
	go func() {
		defer l.sniffers.Done()
		fn()
	}()
	return true
}

func (l *Listener) serveFast() {
	if err := l.fast.Serve(watchedListener{Listener: l.h1, maxHead: l.lim.MaxHeaderBytes}); err != nil && !errors.Is(err, net.ErrClosed) {
		l.log.Error("http/1.1 engine stopped", "error", err)
	}
}

func (l *Listener) serveStd() {
	if err := l.std.Serve(l.stdln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		l.log.Error("http/2 engine stopped", "error", err)
	}
}

// handshake completes TLS and routes the connection by ALPN.
func (l *Listener) handshake(c net.Conn) {
	tlsConn := tls.Server(c, l.tls)
	ctx, cancel := context.WithTimeout(context.Background(), l.lim.ReadTimeout.D())
	err := tlsConn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	if tlsConn.ConnectionState().NegotiatedProtocol == "h2" {
		// net/http hands the *tls.Conn to the hook configureH2 installs,
		// which puts the guard in front of it.
		l.deliver(l.stdln, tlsConn)
		return
	}
	l.deliver(l.h1, tlsConn)
}

// deliver hands a classified connection to an engine. If this generation
// retired while the connection was in its TLS handshake or h2c sniff, the
// same engine of the generation now owning the socket takes it.
func (l *Listener) deliver(to *chanListener, c net.Conn) {
	if to.push(c) {
		return
	}
	if next := l.sock.owner.Load(); next != nil && next != l {
		target := next.h1
		if to == l.stdln {
			target = next.stdln
		}
		if target.push(c) {
			return
		}
	}
	c.Close()
}

// stopAccepting ends this generation's intake; served connections go on.
func (l *Listener) stopAccepting() {
	l.h1.Close()
	l.stdln.Close()
}

// shutdown stops taking connections and drains: in-flight requests finish,
// idle connections close, HTTP/2 clients get GOAWAY, until ctx ends. The
// socket is not closed here: it belongs to the manager.
func (l *Listener) shutdown(ctx context.Context) error {
	l.h1.Close()
	l.stdln.Close()
	l.sniffers.Wait()
	var fastErr, stdErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := l.fast.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			fastErr = err
		}
	}()
	go func() {
		defer wg.Done()
		if err := l.std.Shutdown(ctx); err != nil {
			stdErr = err
		}
	}()
	wg.Wait()
	return errors.Join(fastErr, stdErr)
}

// countedConn keeps the listener's count of open connections.
type countedConn struct {
	net.Conn
	n    *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.n.Add(-1) })
	return c.Conn.Close()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
