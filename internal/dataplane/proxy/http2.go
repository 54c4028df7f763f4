package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// ServeHTTP is the HTTP/2 engine's handler (TLS with ALPN h2, and h2c).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := acquireCtx()
	defer releaseCtx(c)
	var o outcome
	cw := &countingWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			p.metrics.PanicRecovered()
			p.log.Error("panic serving request", "panic", fmt.Sprint(v), "host", r.Host, "path", r.URL.Path)
			if !cw.wroteHeader {
				http.Error(cw, "500 internal error", http.StatusInternalServerError)
			}
			o.status = http.StatusInternalServerError
		}
		p.record(c, &o, start, r.Proto, int(cw.n))
		p.logPhase(c, &o, start)
	}()

	c.std = r
	c.method = unsafeBytes(r.Method)
	c.host = unsafeBytes(r.Host)
	c.path = unsafeBytes(normalizePath(r.URL.Path))
	c.tls = r.TLS != nil
	c.clientIP = clientIPFromRemote(c.ipBuf[:0], r.RemoteAddr)
	if id := r.Header.Get("X-Request-Id"); validRequestID(unsafeBytes(id)) {
		c.requestID = append(c.requestID, id...)
	} else {
		c.requestID = appendRequestID(c.requestID)
		r.Header.Set("X-Request-Id", string(c.requestID))
	}

	if p.stdClientAuth(r, c) {
		o.status = stdError(cw, http.StatusMisdirectedRequest, "misdirected request: this host needs a client certificate")
		return
	}

	route, ok := p.router.Match(c.host, c.path, c)
	if !ok {
		o.status = stdError(cw, http.StatusNotFound, "no route")
		return
	}
	o.route = route
	c.route = route
	if route.Plugins != nil {
		c.run.Reset(route.Plugins, route.Namespace, p.pm, p.log)
		if c.run.Request(c) == plugin.Stop {
			o.status = p.stdLocal(cw, c)
			return
		}
	}
	if route.RequireClientCert && c.clientVerify != "SUCCESS" {
		o.status = stdError(cw, http.StatusForbidden, "client certificate required")
		return
	}
	if route.ClientSubject != nil && !route.clientSubjectOK(c) {
		o.status = stdError(cw, http.StatusForbidden, "client certificate unauthorized")
		return
	}
	switch {
	case route.Direct != nil:
		for _, h := range route.Direct.Headers {
			cw.Header().Set(h[0], h[1])
		}
		o.status = p.stdAnswer(cw, c, route.Direct.Status, route.Direct.Body)
		return
	case route.Redirect != nil:
		c.scratch = redirectLocation(c.scratch[:0], route.Redirect, c.tls, c.host, unsafeBytes(r.URL.EscapedPath()), unsafeBytes(r.URL.RawQuery))
		cw.Header().Set("Location", string(c.scratch))
		o.status = p.stdResponsePhase(cw, c, route.Redirect.Code)
		cw.WriteHeader(o.status)
		return
	}
	if c.run.Active() && c.run.Upstream(c) == plugin.Stop {
		o.status = p.stdLocal(cw, c)
		return
	}
	b := c.backend
	if b == nil {
		b = route.pick()
		c.backend = b
	}
	o.backend = b
	if b == nil || b.Pool == nil {
		o.status = p.stdRouteError(cw, c, http.StatusServiceUnavailable, "no upstream")
		return
	}
	prepareStdHeader(c, r.Header)
	guard := guardBody(w, r, c.bodyLimit)
	c.guard = guard
	ctx, cancel := context.WithTimeout(r.Context(), route.timeout())
	defer cancel()
	if b.Pool.Protocol() == upstream.HTTP1 {
		p.stdViaFast(ctx, cw, r, c, route, b, &o, guard)
		return
	}
	host := r.Host
	if c.upHost != "" {
		host = c.upHost
	}
	resp, err := p.roundTripStd(ctx, c, route, b, &o, r.Method, host, c.forwardURI(), r.Header, r.Body, r.ContentLength)
	if err != nil {
		if body, ok := guard.tooLarge(); ok {
			o.status = p.stdTooLarge(cw, c, body)
			return
		}
		status, msg := statusForErr(err)
		o.failure = failureOf(err)
		o.status = p.stdRouteError(cw, c, status, msg)
		return
	}
	defer resp.Body.Close()
	o.upStatus, o.status = resp.StatusCode, resp.StatusCode
	o.status = p.writeStdResponse(cw, c, resp)
}

// stdTooLarge answers 413 for a streamed body a limit cut off.
func (p *Proxy) stdTooLarge(w http.ResponseWriter, c *Ctx, body []byte) int {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	return p.stdAnswer(w, c, http.StatusRequestEntityTooLarge, body)
}

// writeStdResponse copies an upstream response, trailers included,
// streaming the body (through the plugins' body filters, if any), and
// returns the status sent.
func (p *Proxy) writeStdResponse(w http.ResponseWriter, c *Ctx, resp *http.Response) int {
	h := w.Header()
	for k, vv := range resp.Header {
		if isHopHeader(k) {
			continue
		}
		h[k] = vv
	}
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	status := p.stdResponsePhase(w, c, resp.StatusCode)
	w.WriteHeader(status)
	if bw, ok := c.run.Body(c, w); ok {
		_, _ = copyFlush(&flushingBody{bw: bw, w: w}, resp.Body)
		_ = bw.Close()
	} else {
		_, _ = copyFlush(w, resp.Body)
	}
	for k, vv := range resp.Trailer {
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
	return status
}

// prepareStdHeader rewrites a net/http request header for the upstream.
func prepareStdHeader(c *Ctx, h http.Header) {
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			h.Del(strings.TrimSpace(tok))
		}
	}
	// gRPC needs "te: trailers" end to end; every other TE value is hop-by-hop.
	te := h.Get("Te")
	for _, name := range hopHeaders {
		h.Del(name)
	}
	if strings.EqualFold(strings.TrimSpace(te), "trailers") {
		h.Set("Te", "trailers")
	}
	prior := strings.Join(h.Values("X-Forwarded-For"), ", ")
	c.scratch = appendXFF(c.scratch[:0], unsafeBytes(prior), c.clientIP)
	h.Set("X-Forwarded-For", string(c.scratch))
	if c.tls {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	h.Set("X-Forwarded-Host", string(c.host))
	setStdClientHeaders(c, h)
}

func isHopHeader(k string) bool {
	for _, h := range hopHeaders {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

func stdError(w http.ResponseWriter, status int, msg string) int {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strconv.Itoa(status) + " " + msg + "\n"))
	return status
}

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
