package proxy

import (
	"bytes"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Ctx is Pylon's request context: what the router, load balancers and (later)
// plugins read. Each engine fills it without copying bodies or headers; for
// HTTP/1.1 the accessors read fasthttp's parsed buffers in place.
type Ctx struct {
	fast *fasthttp.RequestCtx // set for HTTP/1.1
	std  *http.Request        // set for HTTP/2 (and h2c, gRPC)

	// The engines' adapters: cl is the client side, one of fastCl and
	// stdCl; the upstream side is one of up1 and up2, by the pool.
	cl     client
	fastCl fastClient
	stdCl  stdClient
	up1    fastSender
	up2    h2Sender

	start time.Time
	// trusted are the listener's trusted proxies (see prepareUpstream).
	trusted []netip.Prefix
	// listener counts the requests of the listener this one came in on.
	listener *telemetry.ListenerStats

	method, host, path []byte
	clientIP           []byte
	tls                bool
	// Client certificate verification for the upstream's headers; empty
	// when the connection had none.
	clientVerify, clientDN, clientCert string

	// absent are the headers the upstream preparation removes that the
	// request is known not to hold (see headerSet).
	absent headerSet

	requestID []byte
	ipBuf     [64]byte
	scratch   []byte // reused for building header values
	errBuf    []byte // the gateway's own error bodies
	upVisit   upstreamVisit
	trace     traceState
	traceHex  []byte // the trace id for the access log

	pluginState
}

var ctxPool = sync.Pool{New: func() any { return &Ctx{scratch: make([]byte, 0, 256), requestID: make([]byte, 0, 32)} }}

func acquireCtx() *Ctx { return ctxPool.Get().(*Ctx) }

func releaseCtx(c *Ctx) {
	c.fast, c.std = nil, nil
	c.cl = nil
	c.trusted = nil
	c.listener = nil
	c.fastCl = fastClient{}
	c.stdCl.w, c.stdCl.r, c.stdCl.hdr.h = nil, nil, nil
	c.stdCl.cw = countingWriter{}
	c.up1.reset()
	c.up2.reset()
	c.method, c.host, c.path, c.clientIP = nil, nil, nil, nil
	c.requestID = c.requestID[:0]
	c.absent = 0
	c.clientVerify, c.clientDN, c.clientCert = "", "", ""
	c.scratch = c.scratch[:0]
	c.pluginState.reset()
	c.trace.reset()
	c.run.Reset(nil, "", nil, nil)
	ctxPool.Put(c)
}

// Method returns the request method.
func (c *Ctx) Method() []byte { return c.method }

// Host returns the request host as sent (may carry a port).
func (c *Ctx) Host() []byte { return c.host }

// Path returns the request path without the query.
func (c *Ctx) Path() []byte { return c.path }

// ClientIP returns the address of the connected client.
func (c *Ctx) ClientIP() []byte { return c.clientIP }

// RequestID returns the request's X-Request-Id.
func (c *Ctx) RequestID() []byte { return c.requestID }

// Header returns the first value of the named request header.
func (c *Ctx) Header(name string) ([]byte, bool) {
	if c.fast != nil {
		v := c.fast.Request.Header.Peek(name)
		return v, v != nil
	}
	// Header.Values would canonicalise (and so allocate for) the lower-case
	// names the router passes; a scan of the few headers does not.
	for k, vs := range c.std.Header {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return unsafeBytes(vs[0]), true
		}
	}
	return nil, false
}

// Tag returns the request's tag: the value of its route's tag header, or
// nil. Pools with tagged endpoints read it (upstream.Tagged).
func (c *Ctx) Tag() []byte {
	if c.route == nil || c.route.TagHeader == "" {
		return nil
	}
	v, _ := c.Header(c.route.TagHeader)
	return v
}

// Query returns the first value of the named query parameter.
func (c *Ctx) Query(name string) ([]byte, bool) { return lookupQuery(c.rawQuery(), name) }

// rawQuery returns the query string as the client sent it, without "?".
func (c *Ctx) rawQuery() []byte {
	switch {
	case c.fast != nil:
		return c.fast.Request.URI().QueryString()
	case c.std != nil:
		return unsafeBytes(c.std.URL.RawQuery)
	}
	return nil
}

// Cookie returns the value of the named request cookie.
func (c *Ctx) Cookie(name string) ([]byte, bool) {
	if c.fast != nil {
		v := c.fast.Request.Header.Cookie(name)
		return v, v != nil
	}
	for _, h := range c.std.Header["Cookie"] {
		if v, ok := lookupCookie(unsafeBytes(h), name); ok {
			return v, true
		}
	}
	return nil, false
}

// lookupQuery finds name in a raw query string without decoding or
// allocating; values are returned as sent (still percent-encoded).
func lookupQuery(raw []byte, name string) ([]byte, bool) {
	for len(raw) > 0 {
		var pair []byte
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, nil
		}
		k, v := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if string(k) == name {
			if v == nil {
				v = pair[len(pair):]
			}
			return v, true
		}
	}
	return nil, false
}

func lookupCookie(h []byte, name string) ([]byte, bool) {
	for len(h) > 0 {
		var part []byte
		if i := bytes.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, nil
		}
		part = bytes.TrimSpace(part)
		if i := bytes.IndexByte(part, '='); i >= 0 && string(part[:i]) == name {
			return part[i+1:], true
		}
	}
	return nil, false
}

// sender returns the upstream side for a pool of protocol proto.
func (c *Ctx) sender(proto upstream.Protocol) sender {
	if proto == upstream.HTTP1 {
		return &c.up1
	}
	return &c.up2
}

// clientGone reports whether the client went away (HTTP/2: it reset the
// stream or closed the connection). fasthttp does not tell.
func (c *Ctx) clientGone() bool { return c.std != nil && c.std.Context().Err() != nil }

// stdResponseHeader is the HTTP/2 engine's response header (nil for HTTP/1.1).
func (c *Ctx) stdResponseHeader() http.Header {
	if c.std == nil {
		return nil
	}
	return c.stdCl.w.Header()
}

// unsafeBytes views s as bytes; callers must not modify the result.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// unsafeString views b as a string; b must not change while it is used.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// forwardURI is the request URI sent upstream: the normalized path the
// router matched (so an upstream never sees a path, such as /admin/..%2Fx,
// that the gateway's routing read differently) and the query as sent.
func (c *Ctx) forwardURI() string {
	var raw string
	if c.fast != nil {
		raw = string(c.fast.Request.URI().QueryString())
	} else {
		raw = c.std.URL.RawQuery
	}
	if c.querySet {
		raw = string(c.query)
	}
	u := url.URL{Path: string(c.path), RawQuery: raw}
	return u.RequestURI()
}
