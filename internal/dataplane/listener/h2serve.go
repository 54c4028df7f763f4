package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// A refused request body is still read, and dropped, for up to
// h2LingerTime after the refusal, as long as the client sends some of it
// at least every h2LingerIdle (as nginx's lingering_time and
// lingering_timeout do for HTTP/1.1). The idle bound is short because a
// client that stops sending on the refusal (Go's does, on any status over
// 299) waits for the end of the stream, which comes only when the lingering
// ends.
const (
	h2LingerTime = 30 * time.Second
	h2LingerIdle = time.Second
	// h2LingerRearm is how often the idle deadline is moved on: each move
	// is a message to the engine's connection loop, so not one per read.
	h2LingerRearm = h2LingerIdle / 10
)

// configureH2 puts golang.org/x/net/http2 behind l.std with a guard in
// front of every HTTP/2 connection. x/net's Server is used, not the copy
// inside net/http, because its ServeConn is the one way to hand an HTTP/2
// engine a connection that is not a *tls.Conn: over TLS, net/http passes
// the engine the *tls.Conn itself. Over h2c, net/http reads the preface from
// the guarded connection sniffH2C delivered and hands that on.
func (l *Listener) configureH2() error {
	h2 := &http2.Server{}
	if err := http2.ConfigureServer(l.std, h2); err != nil {
		return fmt.Errorf("listener %s: http/2: %w", l.cfg.Name, err)
	}
	l.std.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http passes its per-connection context through the handler,
		// as ConfigureServer's own hook reads it.
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(tlsH2Guard{l.guard(c), c}, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
	return nil
}

// guard wraps a connection that is about to speak HTTP/2.
func (l *Listener) guard(c net.Conn) *h2Guard {
	// The engine decodes header strings up to about its header list limit;
	// the guard goes a little further, so it never stops short of it.
	g := newH2Guard(c, l.lim.MaxHeaderBytes+64<<10)
	// The engine answers a header list over its limit with 431 before any
	// handler runs; the guard, which decodes the same blocks, reports it.
	g.maxList = uint32(h2HeaderListLimit(l.lim.MaxHeaderBytes))
	remote := c.RemoteAddr()
	g.tooLarge = func(method, authority, path string) {
		l.refused(Refusal{Proto: "HTTP/2.0", Method: method, Host: authority, Path: path,
			Remote: remote, Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "header block too large"})
	}
	return g
}

// h2HeaderListLimit is the engine's limit on a request's header list in
// HPACK's units (each field's name and value plus 32): the listener's
// maxHeaderBytes padded for ten fields, as x/net derives it from
// http.Server.MaxHeaderBytes.
func h2HeaderListLimit(maxHeaderBytes int) int {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	return maxHeaderBytes + 10*32
}

// stdHandler applies the listener's body limit to HTTP/2 requests, then
// hands them to next.
func (l *Listener) stdHandler(next http.Handler) http.Handler {
	maxBody := l.lim.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			l.refuseBody(w, r)
			return
		}
		if r.ContentLength < 0 && maxBody > 0 && r.Body != nil && r.Body != http.NoBody &&
			r.Method != http.MethodConnect && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			// A streamed body is bounded as it arrives; the proxy
			// answers 413 when this cuts it off. gRPC streams and
			// WebSockets (extended CONNECT) are not request bodies in
			// this sense: a long-lived stream may carry any amount,
			// message limits are the service's.
			body := r.Body
			limited := http.MaxBytesReader(w, keepOpen{body}, maxBody)
			r.Body = limited
			next.ServeHTTP(w, r)
			// A body the limit cut off is still arriving: the proxy's 413
			// needs the same lingering as a refused declared body. The
			// proxy's Close did not reach the body (keepOpen), so it can
			// still be read here.
			var over *http.MaxBytesError
			if _, err := limited.Read(nil); errors.As(err, &over) {
				linger(w, body)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// keepOpen keeps a handler's Close from ending a request body the listener
// may still read; the engine closes it when the handler returns.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

// refuseBody answers 413 to a request whose declared body is over the
// limit. Returning at once would end the stream with RST_STREAM while the
// client is still sending: RFC 9113 8.1 allows that (NO_ERROR, after a
// complete response), but clients such as curl then report the reset and
// never the status. So the answer is flushed and the body is read and
// dropped, within the linger bounds: a client that sends it all sees the
// stream end cleanly; one that stops sending on the 413 (Go's client does)
// sees it end an idle second later, with the reset; so does one too slow.
func (l *Listener) refuseBody(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
	l.refused(Refusal{Proto: r.Proto, Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Remote: remoteAddr(r.RemoteAddr), Status: http.StatusRequestEntityTooLarge, Reason: "body too large"})
	linger(w, r.Body)
}

// linger flushes the answer in w, then reads and drops body within the
// linger bounds.
func linger(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	buf := lingerBufs.Get().(*[16 << 10]byte)
	defer lingerBufs.Put(buf)
	end := time.Now().Add(h2LingerTime)
	var armed time.Time
	for {
		if now := time.Now(); now.Sub(armed) >= h2LingerRearm {
			dl := now.Add(h2LingerIdle)
			if dl.After(end) {
				dl = end
			}
			if now.After(end) || rc.SetReadDeadline(dl) != nil {
				return
			}
			armed = now
		}
		if _, err := body.Read(buf[:]); err != nil {
			return
		}
	}
}

var lingerBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// remoteAddr turns an http.Request's RemoteAddr back into an address.
func remoteAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}
