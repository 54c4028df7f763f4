// Package listener owns Pylon's listening sockets and the engines serving
// them. Listeners live outside config generations: a route or service change
// never touches them, and a listener's own change hands its socket to the
// new generation while the old one drains.
package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// start serves cfg on sock; it becomes the socket's owner.
func start(cfg *ir.Listener, hash uint64, defaultCert string, sock *socket, h Handlers, log *slog.Logger) *Listener {
	lim := cfg.Limits.WithDefaults()
	l := &Listener{cfg: *cfg, lim: lim, hash: hash, sock: sock, log: log.With("listener", cfg.Name), h: h}
	l.h1, l.stdln = newChanListener(sock.ln.Addr()), newChanListener(sock.ln.Addr())
	l.fast = &fasthttp.Server{
		Handler:            l.serveFastRequest,
		Name:               "pylon",
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
	std := h.Std
	maxBody := lim.MaxBodyBytes
	// 16 KiB frames, the protocol's default, rather than Go's 1 MiB: a peer
	// sending larger frames than it was told is refused (RFC 9113 4.2).
	l.std = &http.Server{
		HTTP2: &http.HTTP2Config{MaxReadFrameSize: 16 << 10},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > maxBody {
				http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			if r.ContentLength < 0 && maxBody > 0 && r.Body != nil && r.Body != http.NoBody &&
				!strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				// A streamed body is bounded as it arrives; the proxy
				// answers 413 when this cuts it off. gRPC streams are not
				// request bodies in this sense: a long-lived stream may
				// carry any amount, message limits are the service's.
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			std.ServeHTTP(w, r)
		}),
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

// sniffH2C sends connections that open with the HTTP/2 preface to the
// HTTP/2 engine and everything else to the HTTP/1.1 engine.
func (l *Listener) sniffH2C(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(l.lim.ReadTimeout.D()))
	br := bufio.NewReaderSize(c, 4096)
	// Compare byte by byte as they arrive: an HTTP/1.x request shorter
	// than the preface ("GET / HTTP/1.0\r\n\r\n") must not wait for more.
	h2 := true
	for n := 1; n <= len(h2Preface); n++ {
		head, err := br.Peek(n)
		if err != nil {
			if n == 1 {
				c.Close()
				return
			}
			h2 = false
			break
		}
		if head[n-1] != h2Preface[n-1] {
			h2 = false
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if h2 {
		l.deliver(l.stdln, pc)
		return
	}
	l.deliver(l.h1, pc)
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
