package proxy

import (
	"net/http"
	"net/url"

	"pylon.io/pylon/internal/plugin"
)

// Ctx implements plugin.Ctx for both engines.
var _ plugin.Ctx = (*Ctx)(nil)

// respOp is a response header change made before the response exists (a
// limit's RateLimit-* headers are decided in the access phase); it is
// applied once the response, upstream or local, is there.
type respOp struct {
	op          byte // 's'et, 'a'dd, 'd'elete
	name, value string
}

// pluginState is the part of Ctx the plugin phases use.
type pluginState struct {
	route     *Route
	backend   *Backend
	run       plugin.Runner
	respReady bool
	respOps   []respOp
	status    int
	local     bool
	localBody []byte
	pathBuf   []byte
	query     []byte
	querySet  bool
	upHost    string
	consumer  string
	security  []byte         // the access log's "waf" field (NoteSecurity)
	replay    *replayBody    // a streamed body read ahead (ReadBody)
	stdHeader http.Header    // the HTTP/2 engine's response header, once ready
	logged    plugin.Outcome // what the log phase is told
	bodyLimit bodyLimit      // for a streamed HTTP/2 request body
	guard     *bodyGuard     // the streamed body on its way, once it goes
}

func (s *pluginState) reset() {
	s.route, s.backend = nil, nil
	s.respReady, s.local, s.querySet = false, false, false
	s.respOps = s.respOps[:0]
	s.status = 0
	s.localBody = s.localBody[:0]
	s.query = s.query[:0]
	s.upHost, s.consumer = "", ""
	s.security = s.security[:0]
	s.replay = nil
	s.stdHeader = nil
	s.bodyLimit = bodyLimit{}
	s.guard = nil
}

// RawQuery returns the query string (as replaced by a plugin, if one did).
func (c *Ctx) RawQuery() []byte {
	switch {
	case c.querySet:
		return c.query
	case c.fast != nil:
		return c.fast.Request.URI().QueryString()
	}
	return unsafeBytes(c.std.URL.RawQuery)
}

// TLS reports whether the client connection is TLS.
func (c *Ctx) TLS() bool { return c.tls }

// Proto returns the client's protocol.
func (c *Ctx) Proto() string {
	if c.fast != nil {
		return "HTTP/1.1"
	}
	return c.std.Proto
}

// VisitHeaders calls fn for every request header.
func (c *Ctx) VisitHeaders(fn func(name, value []byte)) {
	if c.fast != nil {
		for k, v := range c.fast.Request.Header.All() {
			fn(k, v)
		}
		return
	}
	for k, vs := range c.std.Header {
		for _, v := range vs {
			fn(unsafeBytes(k), unsafeBytes(v))
		}
	}
}

// ContentLength returns the declared request body length, -1 if unknown.
func (c *Ctx) ContentLength() int64 {
	if c.fast != nil {
		if n := c.fast.Request.Header.ContentLength(); n >= 0 {
			return int64(n)
		}
		return -1
	}
	return c.std.ContentLength
}

// Body returns the buffered request body (HTTP/1.1 only).
func (c *Ctx) Body() ([]byte, bool) {
	if c.fast != nil && !c.fast.Request.IsBodyStream() {
		return c.fast.Request.Body(), true
	}
	return nil, false
}

// ReadBody returns the request body before it goes upstream: the buffered
// one as it is, a streamed one read ahead up to max+1 bytes (see
// replayBody).
func (c *Ctx) ReadBody(max int) ([]byte, bool, error) {
	if c.fast != nil {
		if c.fast.Request.IsBodyStream() {
			return nil, false, nil
		}
		return c.fast.Request.Body(), true, nil
	}
	r := c.std
	if r == nil || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true, nil
	}
	if c.replay == nil {
		c.replay = &replayBody{rest: r.Body}
		r.Body = c.replay
	}
	return c.replay.fill(max + 1)
}

// maxSecurityNote bounds the access log's "waf" field.
const maxSecurityNote = 512

// NoteSecurity adds a word to the access log's "waf" field.
func (c *Ctx) NoteSecurity(word string) {
	if len(c.security)+1+len(word) > maxSecurityNote {
		return
	}
	if len(c.security) > 0 {
		c.security = append(c.security, ' ')
	}
	c.security = append(c.security, word...)
}

// LimitBody bounds a streamed request body (HTTP/2 without a declared
// length); the HTTP/1.1 engine buffers bodies, which plugins measure.
func (c *Ctx) LimitBody(max int64, message []byte, tripped *plugin.Counter) {
	if c.std == nil || max <= 0 {
		return
	}
	if l := &c.bodyLimit; l.max == 0 || max < l.max {
		l.max, l.message, l.tripped = max, message, tripped
	}
}

// CaptureBody keeps a copy of a streamed request body (HTTP/2) as it goes
// upstream, up to max+1 bytes.
func (c *Ctx) CaptureBody(max int) {
	if c.std != nil && max >= 0 && max+1 > c.bodyLimit.capture {
		c.bodyLimit.capture = max + 1
	}
}

// CapturedBody returns the copy CaptureBody asked for, and whether the body
// was read to its end.
func (c *Ctx) CapturedBody() ([]byte, bool) {
	if c.guard == nil {
		return nil, false
	}
	return c.guard.captured()
}

// Done is closed when the client has gone (HTTP/2: the request's context)
// or the server shuts down (HTTP/1.1: fasthttp tells no more).
func (c *Ctx) Done() <-chan struct{} {
	if c.std != nil {
		return c.std.Context().Done()
	}
	if c.fast != nil {
		return c.fast.Done()
	}
	return nil
}

// RouteName names the matched route.
func (c *Ctx) RouteName() string {
	if c.route == nil {
		return ""
	}
	return c.route.Name
}

// Consumer names the authenticated client.
func (c *Ctx) Consumer() string { return c.consumer }

// SetTraceSampling sets the request's sampling (the tracing plugin).
func (c *Ctx) SetTraceSampling(ratio float64, off bool) {
	if off {
		c.trace.TurnOff()
		return
	}
	c.trace.SetRatio(ratio)
}

// SetConsumer records the authenticated client.
func (c *Ctx) SetConsumer(name string) { c.consumer = name }

// Services lists the services the request may go to, as the route and its
// plugins name them.
func (c *Ctx) Services() []string {
	if c.route == nil {
		return nil
	}
	return c.route.refs
}

// Service returns the chosen service, picking the route's weighted default
// when no plugin chose.
func (c *Ctx) Service() string {
	if c.backend == nil && c.route != nil {
		c.backend = c.route.pick()
	}
	if c.backend == nil {
		return ""
	}
	return c.backend.Ref
}

// SetService sends the request to one of the route's services.
func (c *Ctx) SetService(name string) bool {
	if c.route == nil {
		return false
	}
	for i := range c.route.Backends {
		if b := &c.route.Backends[i]; b.Ref == name || b.Service == name {
			c.backend = b
			return true
		}
	}
	return false
}

// SetHeader sets a request header for the upstream.
func (c *Ctx) SetHeader(name, value string) {
	if c.fast != nil {
		c.fast.Request.Header.Set(name, value)
		return
	}
	c.std.Header.Set(name, value)
}

// AddHeader adds a request header for the upstream.
func (c *Ctx) AddHeader(name, value string) {
	if c.fast != nil {
		c.fast.Request.Header.Add(name, value)
		return
	}
	c.std.Header.Add(name, value)
}

// DelHeader removes a request header.
func (c *Ctx) DelHeader(name string) {
	if c.fast != nil {
		c.fast.Request.Header.Del(name)
		return
	}
	c.std.Header.Del(name)
}

// SetPath changes the path sent upstream; Path returns it from then on.
func (c *Ctx) SetPath(path string) {
	c.pathBuf = append(c.pathBuf[:0], path...)
	c.path = c.pathBuf
	if c.fast != nil {
		// path is decoded, and the engine decodes what it is given: hand it
		// the path escaped once, or "%252e%252e%252f" would reach the
		// upstream as "../" (a traversal out of a rewrite's prefix).
		u := url.URL{Path: path}
		c.fast.Request.URI().SetPath(u.EscapedPath())
	}
}

// SetQuery replaces the query sent upstream.
func (c *Ctx) SetQuery(query string) {
	c.query = append(c.query[:0], query...)
	c.querySet = true
	if c.fast != nil {
		c.fast.Request.URI().SetQueryStringBytes(c.query)
	}
}

// SetUpstreamHost sets the Host sent upstream.
func (c *Ctx) SetUpstreamHost(host string) {
	c.upHost = host
	if c.fast != nil {
		c.fast.Request.Header.SetHost(host)
		// Otherwise fasthttp writes the Host of the already parsed URI
		// (the client's) over it when sending.
		c.fast.Request.UseHostHeader = true
	}
}

// Respond answers the request from the gateway.
func (c *Ctx) Respond(status int, body []byte) {
	c.local = true
	c.status = status
	c.localBody = append(c.localBody[:0], body...)
}

// Responded reports whether a plugin answered.
func (c *Ctx) Responded() bool { return c.local }

// Status returns the response status so far.
func (c *Ctx) Status() int { return c.status }

// SetStatus changes the status sent to the client.
func (c *Ctx) SetStatus(status int) {
	c.status = status
	if c.respReady && c.fast != nil {
		c.fast.Response.SetStatusCode(status)
	}
}

// ResponseHeader returns a response header once the response exists.
func (c *Ctx) ResponseHeader(name string) ([]byte, bool) {
	if !c.respReady {
		for i := len(c.respOps) - 1; i >= 0; i-- {
			if op := c.respOps[i]; http.CanonicalHeaderKey(op.name) == http.CanonicalHeaderKey(name) {
				return unsafeBytes(op.value), op.op != 'd'
			}
		}
		return nil, false
	}
	if c.fast != nil {
		// The engine keeps some headers (Content-Encoding, Content-Type) in
		// fields of their own and answers an empty value when they are
		// absent: an empty header reads as absent.
		v := c.fast.Response.Header.Peek(name)
		return v, len(v) > 0
	}
	if vs := c.stdHeader.Values(name); len(vs) > 0 {
		return unsafeBytes(vs[0]), true
	}
	return nil, false
}

// VisitClientHeaders calls fn for every request header as received.
func (c *Ctx) VisitClientHeaders(fn func(name, value []byte)) {
	if c.fast != nil {
		h := &c.fast.Request.Header
		if len(h.RawHeaders()) == 0 {
			c.VisitHeaders(fn)
			return
		}
		for k, v := range h.AllInOrder() {
			fn(k, v)
		}
		return
	}
	c.VisitHeaders(fn)
}

// VisitResponseHeaders calls fn for every response header, once the
// response is there.
func (c *Ctx) VisitResponseHeaders(fn func(name, value []byte)) {
	if !c.respReady {
		return
	}
	if c.fast != nil {
		for k, v := range c.fast.Response.Header.All() {
			fn(k, v)
		}
		return
	}
	for k, vs := range c.stdHeader {
		for _, v := range vs {
			fn(unsafeBytes(k), unsafeBytes(v))
		}
	}
}

// RequestURI returns the request target as the client sent it.
func (c *Ctx) RequestURI() []byte {
	if c.fast != nil {
		return c.fast.Request.Header.RequestURI()
	}
	if c.std.RequestURI != "" {
		return unsafeBytes(c.std.RequestURI)
	}
	return unsafeBytes(c.std.URL.RequestURI())
}

// SetResponseHeader sets a response header.
func (c *Ctx) SetResponseHeader(name, value string) { c.respOp('s', name, value) }

// AddResponseHeader adds a response header.
func (c *Ctx) AddResponseHeader(name, value string) { c.respOp('a', name, value) }

// DelResponseHeader removes a response header.
func (c *Ctx) DelResponseHeader(name string) { c.respOp('d', name, "") }

func (c *Ctx) respOp(op byte, name, value string) {
	if !c.respReady {
		c.respOps = append(c.respOps, respOp{op, name, value})
		return
	}
	c.applyRespOp(respOp{op, name, value})
}

func (c *Ctx) applyRespOp(o respOp) {
	if c.fast != nil {
		h := &c.fast.Response.Header
		switch o.op {
		case 's':
			h.Set(o.name, o.value)
		case 'a':
			h.Add(o.name, o.value)
		case 'd':
			// The engine frames the body itself: a deleted Content-Length
			// (a body filter changes the length) is its to recompute.
			if http.CanonicalHeaderKey(o.name) != "Content-Length" {
				h.Del(o.name)
			}
		}
		return
	}
	switch o.op {
	case 's':
		c.stdHeader.Set(o.name, o.value)
	case 'a':
		c.stdHeader.Add(o.name, o.value)
	case 'd':
		c.stdHeader.Del(o.name)
	}
}

// responseReady marks the response (upstream or local) as there: pending
// header changes apply, and later ones go straight to it.
func (c *Ctx) responseReady(status int, stdHeader http.Header) {
	c.status = status
	c.stdHeader = stdHeader
	c.respReady = true
	for _, o := range c.respOps {
		c.applyRespOp(o)
	}
	c.respOps = c.respOps[:0]
}

// outcomeFor is the log phase's view of a request.
func (c *Ctx) outcomeFor(o *outcome, failure string) plugin.Outcome {
	po := plugin.Outcome{Status: o.status, UpstreamStatus: o.upStatus, Failure: failure}
	if o.backend != nil {
		po.Service = o.backend.Ref
	}
	return po
}
