// Package listener owns Pylon's listening sockets and the engines serving
// them. Listeners live outside config generations: a route or service change
// never touches them, and a listener's own change starts the new socket
// before the old one drains.
package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/netutil"

	"pylon.io/pylon/internal/ir"
)

// Handlers are the two engines' entry points into the proxy.
type Handlers struct {
	Fast fasthttp.RequestHandler // HTTP/1.1
	Std  http.Handler            // HTTP/2 and h2c
	// Certificates chooses the certificate by SNI for https listeners, with
	// the listener's own default certificate (by key) for names it lacks.
	Certificates func(defaultKey string) func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Listener is one running listening socket and its engines.
type Listener struct {
	cfg  ir.Listener
	hash uint64
	ln   net.Listener
	log  *slog.Logger

	fast   *fasthttp.Server
	h1     *chanListener // classified HTTP/1.1 conns (https, h2c)
	std    *http.Server
	stdln  *chanListener
	accept sync.WaitGroup // the accept loop and its per-connection sniffers
}

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

func listenConfig() net.ListenConfig {
	// SO_REUSEPORT lets a changed listener bind its address before the old
	// socket is closed, so no connection attempt is refused during the swap.
	return net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// start binds cfg's address and serves it.
func start(cfg *ir.Listener, hash uint64, defaultCert string, h Handlers, log *slog.Logger) (*Listener, error) {
	lc := listenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", cfg.Address)
	if err != nil {
		return nil, err
	}
	lim := cfg.Limits.WithDefaults()
	if lim.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConnections)
	}
	l := &Listener{cfg: *cfg, hash: hash, ln: ln, log: log.With("listener", cfg.Name)}
	l.fast = &fasthttp.Server{
		Handler:            h.Fast,
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
		NoDefaultDate:                false,
		CloseOnShutdown:              true,
		ErrorHandler:                 fastErrorHandler,
		Logger:                       discardLogger{},
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
			std.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: lim.ReadTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	switch cfg.Protocol {
	case ir.ProtocolHTTP:
		go l.serveFast(ln)
	case ir.ProtocolH2C:
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		l.std.Protocols = &p
		l.h1, l.stdln = newChanListener(ln.Addr()), newChanListener(ln.Addr())
		go l.serveFast(l.h1)
		go l.serveStd()
		l.accept.Add(1)
		go l.acceptLoop(l.sniffH2C)
	case ir.ProtocolHTTPS:
		tc := &tls.Config{
			GetCertificate: h.Certificates(defaultCert),
			NextProtos:     []string{"h2", "http/1.1"},
			MinVersion:     tls.VersionTLS12,
		}
		if cfg.TLS != nil && cfg.TLS.MinVersion == "1.3" {
			tc.MinVersion = tls.VersionTLS13
		}
		l.std.TLSConfig = tc
		l.h1, l.stdln = newChanListener(ln.Addr()), newChanListener(ln.Addr())
		go l.serveFast(l.h1)
		go l.serveStd()
		l.accept.Add(1)
		go l.acceptLoop(func(c net.Conn) { l.handshake(c, tc) })
	default:
		ln.Close()
		return nil, errors.New("listener: unknown protocol " + cfg.Protocol)
	}
	return l, nil
}

// Addr is the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

func (l *Listener) serveFast(ln net.Listener) {
	if err := l.fast.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		l.log.Error("http/1.1 engine stopped", "error", err)
	}
}

func (l *Listener) serveStd() {
	if err := l.std.Serve(l.stdln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		l.log.Error("http/2 engine stopped", "error", err)
	}
}

func (l *Listener) acceptLoop(handle func(net.Conn)) {
	defer l.accept.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			l.log.Error("accept failed", "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.accept.Add(1)
		go func() {
			defer l.accept.Done()
			handle(c)
		}()
	}
}

// sniffH2C sends connections that open with the HTTP/2 preface to the
// HTTP/2 engine and everything else to the HTTP/1.1 engine.
func (l *Listener) sniffH2C(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(l.cfg.Limits.WithDefaults().ReadTimeout.D()))
	br := bufio.NewReaderSize(c, 4096)
	head, err := br.Peek(len(h2Preface))
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && bytes.Equal(head, h2Preface) {
		l.stdln.push(pc)
		return
	}
	if len(head) == 0 && err != nil {
		c.Close()
		return
	}
	l.h1.push(pc)
}

// handshake completes TLS and routes the connection by ALPN.
func (l *Listener) handshake(c net.Conn, tc *tls.Config) {
	tlsConn := tls.Server(c, tc)
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Limits.WithDefaults().ReadTimeout.D())
	err := tlsConn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	if tlsConn.ConnectionState().NegotiatedProtocol == "h2" {
		l.stdln.push(tlsConn)
		return
	}
	l.h1.push(tlsConn)
}

// shutdown stops accepting and drains: in-flight requests finish, idle
// connections close, HTTP/2 clients get GOAWAY, until ctx ends.
func (l *Listener) shutdown(ctx context.Context) error {
	l.ln.Close()
	l.accept.Wait()
	var fastErr, stdErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// The socket is already closed above; only a drain failure matters.
		if err := l.fast.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			fastErr = err
		}
	}()
	go func() {
		defer wg.Done()
		if l.stdln != nil {
			l.stdln.Close()
		}
		if err := l.std.Shutdown(ctx); err != nil {
			stdErr = err
		}
	}()
	wg.Wait()
	if l.h1 != nil {
		l.h1.Close()
	}
	return errors.Join(fastErr, stdErr)
}

// fastErrorHandler answers requests the HTTP/1.1 engine could not parse.
func fastErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status = fasthttp.StatusRequestTimeout
		}
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	ctx.SetConnectionClose()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
