package listener

import (
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// errBareLF ends a read of a connection whose request head has a header
// line ended by a bare LF, so that the HTTP/1.1 engine answers 400 at once.
var errBareLF = errors.New("listener: request header line ended by a bare LF")

// reasonBareLF is errBareLF's reason in the access log, the same words the
// proxy uses when it finds a bare LF in a head the engine did parse.
const reasonBareLF = "header line not ended by CRLF"

// The HTTP/1.1 engine takes a bare LF as a line end, but it only starts to
// parse the header block once its buffer holds a CRLFCRLF. A head ended by
// "\n\n" thus waits for bytes the client will never send, until the read
// timeout (60 s by default) answers 408. The engine cannot be told
// otherwise, so each HTTP/1.1 connection is read through a watchedConn: it
// follows the request heads as their bytes pass, and when a header line
// ends in a bare LF it makes the next read fail, which the engine answers
// through its error handler (400, connection closed) instead of waiting.
//
// Heads are found by framing the stream as the engine does, cheaply: a
// head ends at its empty line, a Content-Length body is skipped by count.
// Where the framing is not followed (a chunked body, a head too large, an
// upgraded connection) the watch waits until the gateway next writes to the
// client, which in HTTP/1.1 comes after a whole request was read, and takes
// the bytes that come next as a new head if they look like one. A request
// line ended by a bare LF is accepted, as the engine accepts it (RFC 9112
// 2.2 allows that); field lines and the empty line must end in CRLF.

// watchedConn is an HTTP/1.1 connection read through a headScan.
type watchedConn struct {
	net.Conn
	scan    headScan // touched only by the reading goroutine
	wrote   atomic.Bool
	stopped atomic.Bool
}

func watch(c net.Conn, maxHead int) net.Conn {
	w := &watchedConn{Conn: c}
	w.scan.maxHead = maxHead
	w.scan.startHead()
	// The engine finds TLS by these methods on the connection it serves;
	// hiding them would hide client certificates from the proxy.
	if tc, ok := c.(tlsConn); ok {
		return watchedTLSConn{watchedConn: w, tc: tc}
	}
	return w
}

type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

type watchedTLSConn struct {
	*watchedConn
	tc tlsConn
}

func (c watchedTLSConn) Handshake() error                     { return c.tc.Handshake() }
func (c watchedTLSConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// watcher returns the watchedConn under c, or nil.
func watcher(c net.Conn) *watchedConn {
	switch w := c.(type) {
	case *watchedConn:
		return w
	case watchedTLSConn:
		return w.watchedConn
	}
	return nil
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if c.stopped.Load() {
		return c.Conn.Read(p)
	}
	if c.scan.bad {
		return 0, errBareLF
	}
	if c.wrote.Swap(false) && c.scan.state == scanLost {
		c.scan.startHead()
	}
	n, err := c.Conn.Read(p)
	c.scan.feed(p[:n])
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	if !c.stopped.Load() {
		c.wrote.Store(true)
	}
	return c.Conn.Write(p)
}

// stop ends the watch, for a connection handed over to another protocol
// (a WebSocket upgrade): its bytes are no longer requests.
func (c *watchedConn) stop() { c.stopped.Store(true) }

// watchedListener wraps each connection the HTTP/1.1 engine accepts.
type watchedListener struct {
	net.Listener
	maxHead int
}

func (l watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return watch(c, l.maxHead), nil
}
