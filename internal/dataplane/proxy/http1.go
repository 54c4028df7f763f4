package proxy

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// ServeFast is the HTTP/1.1 engine's handler.
func (p *Proxy) ServeFast(fc *fasthttp.RequestCtx) {
	start := time.Now()
	c := acquireCtx()
	defer releaseCtx(c)
	var o outcome
	defer func() {
		if v := recover(); v != nil {
			p.metrics.PanicRecovered()
			p.log.Error("panic serving request", "panic", v, "host", string(c.host), "path", string(c.path))
			fc.Response.Reset()
			fc.SetStatusCode(fasthttp.StatusInternalServerError)
			fc.SetConnectionClose()
			o.status = fasthttp.StatusInternalServerError
		}
		// A streamed body (from an HTTP/2 upstream) is sent after the handler
		// returns: reading it here would buffer the whole stream first.
		sent := 0
		if !fc.Response.IsBodyStream() {
			sent = len(fc.Response.Body())
		} else if n := fc.Response.Header.ContentLength(); n > 0 {
			sent = n
		}
		p.record(c, &o, start, "HTTP/1.1", sent)
		p.logPhase(c, &o, start)
	}()

	c.fast = fc
	c.method = fc.Method()
	c.host = fc.Host()
	c.path = fc.Path()
	c.tls = fc.IsTLS()
	c.clientIP = appendIP(c.ipBuf[:0], fc.RemoteAddr())
	req := &fc.Request

	// A request carrying both Transfer-Encoding and Content-Length is the
	// classic smuggling shape (RFC 9112 section 6.3): refuse it and close.
	// The engine reports an empty chunked body as Content-Length 0, not -1,
	// so both headers are looked for in the raw header block.
	if req.Header.ContentLength() <= 0 && hasRawHeader(req.Header.RawHeaders(), "transfer-encoding") &&
		hasRawHeader(req.Header.RawHeaders(), "content-length") {
		o.status = p.fastError(fc, fasthttp.StatusBadRequest, "ambiguous request framing")
		fc.SetConnectionClose()
		return
	}

	if id := req.Header.Peek("X-Request-Id"); validRequestID(id) {
		c.requestID = append(c.requestID, id...)
	} else {
		c.requestID = appendRequestID(c.requestID)
		req.Header.SetBytesV("X-Request-Id", c.requestID)
	}

	if p.fastClientAuth(fc, c) {
		o.status = p.fastError(fc, fasthttp.StatusMisdirectedRequest, "misdirected request: this host needs a client certificate")
		return
	}

	route, ok := p.router.Match(c.host, c.path, c)
	if !ok {
		o.status = p.fastError(fc, fasthttp.StatusNotFound, "no route")
		return
	}
	o.route = route
	c.route = route
	if route.Plugins != nil {
		c.run.Reset(route.Plugins, route.Namespace, p.pm, p.log)
		if c.run.Request(c) == plugin.Stop {
			o.status = p.fastLocal(fc, c)
			return
		}
	}
	if route.RequireClientCert && c.clientVerify != "SUCCESS" {
		o.status = p.fastError(fc, fasthttp.StatusForbidden, "client certificate required")
		return
	}
	if route.ClientSubject != nil && !route.clientSubjectOK(c) {
		o.status = p.fastError(fc, fasthttp.StatusForbidden, "client certificate unauthorized")
		return
	}
	switch {
	case route.Direct != nil:
		if c.run.Active() {
			for _, h := range route.Direct.Headers {
				fc.Response.Header.Set(h[0], h[1])
			}
			o.status = p.fastAnswer(fc, c, route.Direct.Status, route.Direct.Body)
			return
		}
		o.status = p.fastDirect(fc, route.Direct)
		return
	case route.Redirect != nil:
		c.scratch = redirectLocation(c.scratch[:0], route.Redirect, c.tls, c.host, fc.Request.URI().PathOriginal(), fc.Request.URI().QueryString())
		fc.Response.Header.SetBytesV("Location", c.scratch)
		fc.SetStatusCode(route.Redirect.Code)
		o.status = p.fastResponsePhase(fc, c, route.Redirect.Code)
		return
	}
	if c.run.Active() && c.run.Upstream(c) == plugin.Stop {
		o.status = p.fastLocal(fc, c)
		return
	}
	b := c.backend
	if b == nil {
		b = route.pick()
		c.backend = b
	}
	o.backend = b
	if b == nil || b.Pool == nil {
		o.status = p.fastErrorPhase(fc, c, p.fastError(fc, fasthttp.StatusServiceUnavailable, "no upstream"))
		return
	}
	// The client's own Connection: close is remembered before the header
	// goes; the upstream connection stays pooled either way.
	if req.Header.ConnectionClose() || hasCloseToken(req.Header.Peek("Connection")) {
		defer fc.SetConnectionClose()
	}
	if req.Header.ConnectionUpgrade() && isWebSocketUpgrade(req.Header.Peek("Upgrade")) {
		p.serveWebSocket(fc, c, route, b, &o)
		return
	}
	p.prepareFastRequest(c, req)
	if b.Pool.Protocol() != upstream.HTTP1 {
		p.fastViaStd(fc, c, route, b, &o)
		return
	}
	if c.run.HasBody() {
		p.forwardFastFiltered(fc, c, route, b, &o, start)
		return
	}
	if p.forwardFast(fc, c, route, b, &o, start, &fc.Response) {
		o.status = p.fastResponsePhase(fc, c, o.status)
	} else {
		o.status = p.fastErrorPhase(fc, c, o.status)
	}
}

// prepareFastRequest rewrites the request for the upstream in place: hop-by-hop
// headers out, forwarding headers in.
func (p *Proxy) prepareFastRequest(c *Ctx, req *fasthttp.Request) {
	h := &req.Header
	if conn := h.Peek("Connection"); len(conn) > 0 {
		// Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
		forEachToken(conn, func(tok []byte) { h.DelBytes(tok) })
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	setForwarded(c, h)
	setFastClientHeaders(c, h)
}

// setForwarded sets X-Forwarded-For (appending the client), -Proto and -Host.
func setForwarded(c *Ctx, h *fasthttp.RequestHeader) {
	c.scratch = appendXFF(c.scratch[:0], h.Peek("X-Forwarded-For"), c.clientIP)
	h.SetBytesV("X-Forwarded-For", c.scratch)
	if c.tls {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	h.SetBytesV("X-Forwarded-Host", c.host)
}

// sendFast makes one try over an endpoint's HTTP/1.1 client, bounded by the
// request deadline and the route's per-try timeout.
func sendFast(e *upstream.Endpoint, route *Route, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if pt := route.Retry.PerTryTimeout; pt > 0 {
		if d := time.Now().Add(pt); d.Before(deadline) {
			deadline = d
		}
	}
	hc := e.Client()
	// The client-side scheme must not leak into the upstream request:
	// fasthttp refuses a URI scheme that differs from the client's.
	if hc.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	e.Begin()
	defer e.End()
	return hc.DoDeadline(req, resp, deadline)
}

// forwardFast sends the request over HTTP/1.1, retrying per the route's
// policy, reading the upstream's answer into resp. It reports whether resp
// holds the upstream's response; otherwise the client's has an error.
func (p *Proxy) forwardFast(fc *fasthttp.RequestCtx, c *Ctx, route *Route, b *Backend, o *outcome, start time.Time, resp *fasthttp.Response) (answered bool) {
	req := &fc.Request
	deadline := start.Add(route.timeout())
	idempotent := route.Retry.NonIdempotent || idempotentMethod(c.method)
	var prev *upstream.Endpoint
	for try := 1; ; try++ {
		e := b.Pool.Pick(c, prev)
		if e == nil {
			o.status = p.fastError(fc, fasthttp.StatusServiceUnavailable, "no healthy upstream")
			o.failure, answered = "no-endpoint", false
			break
		}
		o.endpoint = e
		err := sendFast(e, route, req, resp, deadline)
		retry := false
		answered = err == nil
		if err != nil {
			e.ReportFailure()
			kind := classify(err)
			b.Errors.Error(kind)
			o.failure = failureName(kind)
			// A per-try timeout is worth another endpoint while the request's
			// own deadline allows; a connect error always is (nothing was sent).
			perTry := kind == telemetry.UpstreamTimeout && route.Retry.PerTryTimeout > 0
			retry = kind == telemetry.UpstreamConnect || (idempotent && (kind == telemetry.UpstreamReset || perTry))
			o.status = p.fastError(fc, errorStatus(kind), errorText(kind))
		} else {
			o.upStatus = resp.StatusCode()
			o.status = o.upStatus
			o.failure = ""
			if o.upStatus == 502 || o.upStatus == 503 || o.upStatus == 504 {
				e.ReportFailure()
			} else {
				e.ReportSuccess()
			}
			retry = idempotent && route.Retry.RetryOnStatus(o.upStatus)
		}
		if !retry || try >= route.Retry.Attempts || !time.Now().Before(deadline) {
			break
		}
		resp.Reset()
		prev = e
	}
	// The upstream's wish to close its connection is not the client's.
	resp.Header.ResetConnectionClose()
	for _, name := range hopHeaders[2:] { // Connection and Proxy-Connection are handled by the engine
		resp.Header.Del(name)
	}
	return answered
}

func (r *Route) timeout() time.Duration {
	if r.RequestTimeout > 0 {
		return r.RequestTimeout
	}
	return defaultRequestTimeout
}

// classify maps an upstream error to connect (nothing was sent: always safe
// to retry), timeout, or reset (the request may have reached the upstream).
func classify(err error) telemetry.UpstreamErrorKind {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return telemetry.UpstreamTimeout
	case errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		return telemetry.UpstreamConnect
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return telemetry.UpstreamConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return telemetry.UpstreamTimeout
	}
	return telemetry.UpstreamReset
}

func errorStatus(k telemetry.UpstreamErrorKind) int {
	if k == telemetry.UpstreamTimeout {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// failureName is the plugins' name for an upstream failure.
func failureName(k telemetry.UpstreamErrorKind) string {
	switch k {
	case telemetry.UpstreamConnect:
		return "connect"
	case telemetry.UpstreamTimeout:
		return "timeout"
	}
	return "reset"
}

func errorText(k telemetry.UpstreamErrorKind) string {
	switch k {
	case telemetry.UpstreamConnect:
		return "upstream connect error"
	case telemetry.UpstreamTimeout:
		return "upstream timeout"
	}
	return "upstream connection error"
}

func idempotentMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// fastError answers with a short plain-text error and returns the status.
func (p *Proxy) fastError(fc *fasthttp.RequestCtx, status int, msg string) int {
	fc.Response.Reset()
	fc.SetStatusCode(status)
	fc.SetContentType("text/plain; charset=utf-8")
	fc.Response.SetBodyString(strconv.Itoa(status) + " " + msg + "\n")
	return status
}

func (p *Proxy) fastDirect(fc *fasthttp.RequestCtx, d *Direct) int {
	fc.SetStatusCode(d.Status)
	for _, h := range d.Headers {
		fc.Response.Header.Set(h[0], h[1])
	}
	fc.Response.SetBodyRaw(d.Body)
	return d.Status
}
