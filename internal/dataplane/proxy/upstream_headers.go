package proxy

import "bytes"

// gatewayHeaderNames are the headers setGatewayHeaders may set, in the bit
// order of upstreamVisit.set.
var gatewayHeaderNames = [...]string{forwardedFor, forwardedProto, forwardedHost, requestIDHeader,
	hdrClientVerify, hdrClientSubject, hdrClientCert}

// upstreamVisit hands the gateway's own headers to a VisitUpstreamHeaders
// caller and remembers which it gave, so that the client's values of those
// are not given too. It lives in the pooled Ctx, so passing it as a
// headerSetter does not allocate.
type upstreamVisit struct {
	fn   func(name, value []byte)
	sent uint8
}

func (v *upstreamVisit) set(name string, value []byte) {
	for i, n := range gatewayHeaderNames {
		if n == name {
			v.sent |= 1 << i
		}
	}
	v.fn(unsafeBytes(name), value)
}

func (v *upstreamVisit) gave(name []byte) bool {
	for i, n := range gatewayHeaderNames {
		if v.sent&(1<<i) != 0 && bytes.EqualFold(name, unsafeBytes(n)) {
			return true
		}
	}
	return false
}

// VisitUpstreamHeaders calls fn for every header the request will carry
// upstream, as the upstream preparation (prepareUpstream) leaves them: the
// client's headers as the plugins left them, without hop-by-hop ones, and
// the gateway's own (X-Forwarded-For, -Proto and -Host per the listener's
// trusted proxies, X-Request-Id, the client certificate's) in place of any
// the client sent. A mirror copies the request with it before the request
// is prepared. The gateway's headers come first.
func (c *Ctx) VisitUpstreamHeaders(fn func(name, value []byte)) {
	h := c.cl.header()
	v := &c.upVisit
	v.fn, v.sent = fn, 0
	defer func() { v.fn = nil }()
	setGatewayHeaders(c, h, v)
	conn := h.peek("Connection")
	skip := func(name []byte) bool {
		if v.gave(name) {
			return true
		}
		for _, hop := range hopHeaders {
			if bytes.EqualFold(name, unsafeBytes(hop)) {
				return true
			}
		}
		named := false
		if len(conn) > 0 {
			forEachToken(conn, func(tok []byte) { named = named || bytes.EqualFold(tok, name) })
		}
		return named
	}
	if c.fast != nil {
		for k, val := range c.fast.Request.Header.All() {
			if !skip(k) {
				fn(k, val)
			}
		}
		return
	}
	for k, vs := range c.std.Header {
		if skip(unsafeBytes(k)) {
			continue
		}
		for _, val := range vs {
			fn(unsafeBytes(k), unsafeBytes(val))
		}
	}
}
