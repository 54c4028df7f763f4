package proxy

import (
	"io"
	"strconv"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// client is one engine's side of a request: where the pipeline reads the
// client's request and writes its answer. Each engine's adapter lives in the
// pooled Ctx, so choosing one allocates nothing.
type client interface {
	proto() string
	// header is the request header, prepared in place for the upstream.
	header() headerEditor
	// escapedPath is the path as the client sent it (for redirects).
	escapedPath() []byte
	// upgrade reports whether the request asks for a WebSocket: an
	// HTTP/1.1 Upgrade, or an HTTP/2 extended CONNECT (RFC 8441).
	upgrade() bool
	// resetResponse drops whatever an earlier step put in the response.
	resetResponse()
	setResponseHeader(name, value string)
	writeHeader(status int)
	bodyWriter() io.Writer
	// writeBody sends body as the whole response body; stable bodies
	// (compiled config) are not copied.
	writeBody(body []byte, stable bool)
}

// serve is the request pipeline, the same for every engine: route,
// request and access plugins, upstream selection, one preparation of the
// upstream request, one retry loop, the response phase and body filters.
// The log phase and the outcome report run when the engine's handler ends.
func (p *Proxy) serve(c *Ctx, o *outcome) {
	h := c.cl.header()
	if id := h.peek(requestIDHeader); validRequestID(id) {
		c.requestID = append(c.requestID, id...)
	} else {
		c.requestID = appendRequestID(c.requestID)
	}
	stripOwned(c, h)
	p.startTrace(c, h)

	if p.clientAuth(c) {
		o.status = p.refuse(c, 421, "misdirected request: this host needs a client certificate")
		return
	}
	route, ok := p.router.Match(c.host, c.path, c)
	if !ok {
		o.status = p.refuse(c, 404, "no route")
		return
	}
	o.route = route
	c.route = route
	if route.Plugins != nil {
		// Plugins may add any header: presence read off the request no
		// longer holds.
		c.absent = 0
		c.run.Reset(route.Plugins, route.Namespace, p.pm, p.log)
		if c.run.Request(c) == plugin.Stop {
			o.status = p.local(c)
			return
		}
	}
	if route.RequireClientCert && c.clientVerify != "SUCCESS" {
		o.status = p.refuse(c, 403, "client certificate required")
		return
	}
	if route.ClientSubject != nil && !route.clientSubjectOK(c) {
		o.status = p.refuse(c, 403, "client certificate unauthorized")
		return
	}
	switch {
	case route.Direct != nil:
		for _, kv := range route.Direct.Headers {
			c.cl.setResponseHeader(kv[0], kv[1])
		}
		o.status = p.answer(c, route.Direct.Status, route.Direct.Body, true)
		return
	case route.Redirect != nil:
		c.scratch = redirectLocation(c.scratch[:0], route.Redirect, c.tls, c.host, c.cl.escapedPath(), c.RawQuery())
		c.cl.setResponseHeader("Location", string(c.scratch))
		o.status = p.answer(c, route.Redirect.Code, nil, true)
		return
	}
	if c.run.Active() && c.run.Upstream(c) == plugin.Stop {
		o.status = p.local(c)
		return
	}
	b := c.backend
	if b == nil {
		b = route.pick()
		c.backend = b
	}
	o.backend = b
	if b == nil || b.Pool == nil {
		o.failure = "no-endpoint"
		o.status = p.refuse(c, 503, "no upstream")
		return
	}
	upgrade := c.cl.upgrade()
	prepareUpstream(c, h, upgrade, b.Pool.Protocol() != upstream.HTTP1)
	if upgrade {
		p.serveUpgrade(c, o)
		return
	}
	c.guardStdBody()
	s := c.sender(b.Pool.Protocol())
	status, msg := s.prepare(c)
	if status == 0 && p.forward(c, o, s) {
		p.relay(c, o, s)
		return
	}
	s.release()
	if body, ok := c.guard.tooLarge(); ok {
		// A limit cut the streamed body off: the client's doing, 413.
		o.failure = ""
		o.status = p.plain(c, 413, body)
		return
	}
	if status == 0 {
		status, msg = o.status, o.message
	}
	o.status = p.refuse(c, status, msg)
}

// refuse is the gateway's own short plain-text error, before routing (no
// route, a client certificate missing) or after it (no upstream, the
// upstream failed); after routing the response phase sees it, so custom
// error pages and CORS headers apply to it too.
func (p *Proxy) refuse(c *Ctx, status int, msg string) int {
	return p.plain(c, status, errorBody(c, status, msg))
}

// local sends a plugin's own answer (Ctx.Respond).
func (p *Proxy) local(c *Ctx) int { return p.plain(c, c.status, c.localBody) }

// plain answers with a plain-text body in place of whatever the response
// held so far.
func (p *Proxy) plain(c *Ctx, status int, body []byte) int {
	c.cl.resetResponse()
	c.cl.setResponseHeader("Content-Type", "text/plain; charset=utf-8")
	return p.answer(c, status, body, false)
}

// answer sends a response the gateway makes itself after the response
// phase, with its body through the body filters (a compressor that chose
// an encoding must see the body too), and returns the status sent.
func (p *Proxy) answer(c *Ctx, status int, body []byte, stable bool) int {
	status = p.responsePhase(c, status)
	c.cl.writeHeader(status)
	if bw, ok := c.run.Body(c, c.cl.bodyWriter()); ok {
		_, _ = bw.Write(body)
		_ = bw.Close()
		return status
	}
	if len(body) > 0 {
		c.cl.writeBody(body, stable)
	}
	return status
}

// responsePhase runs the response hooks over the response header and
// returns the status the client gets.
func (p *Proxy) responsePhase(c *Ctx, status int) int {
	if !c.run.Active() {
		return status
	}
	c.responseReady(status, c.stdResponseHeader())
	c.run.Response(c)
	return c.status
}

// errorBody is "STATUS message\n", built in the context's buffer.
func errorBody(c *Ctx, status int, msg string) []byte {
	b := strconv.AppendInt(c.errBuf[:0], int64(status), 10)
	b = append(append(append(b, ' '), msg...), '\n')
	c.errBuf = b
	return b
}
