package proxy

import (
	"io"
	"net/http"
	"time"
)

// ServeHTTP is the net/http engine's handler: HTTP/2 over TLS (ALPN h2),
// h2c, and gRPC over either. It fills the context from the request and
// runs the pipeline.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.serveHTTP(w, r, nil) }

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request, from *origin) {
	c := acquireCtx()
	if from != nil {
		c.trusted, c.listener = from.trusted, from.stats
	}
	defer releaseCtx(c)
	c.start = time.Now()
	var o outcome
	cw := &c.stdCl.cw
	cw.ResponseWriter = w
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			p.panicked(c, v)
			if !cw.wroteHeader {
				http.Error(cw, "500 internal error", http.StatusInternalServerError)
			}
			o.status = http.StatusInternalServerError
		}
		p.finish(c, &o, int(cw.n))
	}()

	c.std = r
	c.stdCl.w, c.stdCl.r = cw, r
	c.stdCl.hdr.h = r.Header
	c.cl = &c.stdCl
	c.method = unsafeBytes(r.Method)
	c.host = unsafeBytes(r.Host)
	c.path = unsafeBytes(normalizePath(r.URL.Path))
	c.tls = r.TLS != nil
	c.clientIP = clientIPFromRemote(c.ipBuf[:0], r.RemoteAddr)
	if status, reason := checkStdRequest(r); status != 0 {
		o.status = p.refuse(c, status, reason)
		return
	}
	p.serve(c, &o)
	if c.clientGone() && o.failure == "" {
		// The stream's context ends before the handler returns only when
		// the client reset it or left: whatever the upstream said, the
		// client did not take the whole answer (a gRPC cancellation).
		o.status, o.failure = statusClientClosed, failClient
	}
}

// guardStdBody wraps a streamed HTTP/2 request body in its limits and the
// copy plugins asked for (see bodyGuard), before it goes upstream.
func (c *Ctx) guardStdBody() {
	if c.std != nil {
		c.guard = guardBody(c.stdCl.w, c.std, c.bodyLimit)
	}
}

// stdClient is the net/http engine's side of a request.
type stdClient struct {
	w   *countingWriter
	r   *http.Request
	cw  countingWriter
	hdr stdHeader
}

var _ client = (*stdClient)(nil)

func (s *stdClient) proto() string        { return s.r.Proto }
func (s *stdClient) header() headerEditor { return &s.hdr }
func (s *stdClient) escapedPath() []byte  { return unsafeBytes(s.r.URL.EscapedPath()) }

// upgrade: a WebSocket over HTTP/2 is an extended CONNECT (RFC 8441).
func (s *stdClient) upgrade() bool {
	return s.r.Method == http.MethodConnect && s.r.Header.Get(":protocol") == "websocket"
}

func (s *stdClient) resetResponse() {
	if !s.w.wroteHeader {
		clear(s.w.Header())
	}
}

func (s *stdClient) setResponseHeader(name, value string) { s.w.Header().Set(name, value) }
func (s *stdClient) writeHeader(status int)               { s.w.WriteHeader(status) }
func (s *stdClient) bodyWriter() io.Writer                { return s.w }
func (s *stdClient) writeBody(body []byte, _ bool)        { _, _ = s.w.Write(body) }

// countingWriter counts body bytes for the access log and remembers whether
// the header went out.
type countingWriter struct {
	http.ResponseWriter
	n           int64
	wroteHeader bool
}

func (w *countingWriter) WriteHeader(code int) {
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush passes through, so streaming works.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the engine's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
