package proxy

import (
	"bytes"
	"net/http"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// headerEditor is a request header of either engine, as the one upstream
// preparation needs it. The names given to set are the gateway's own
// constants, already in canonical form (a test holds them to it), so the
// HTTP/1.1 engine skips normalizing them: that copy and case pass cost
// more than the rest of setting a header. Both implementations are pointer types held in the
// pooled context, so using one through the interface does not allocate.
type headerEditor interface {
	peek(name string) []byte
	// values returns every value of name (net/http may hold several
	// Connection or X-Forwarded-For lines); valid until the next call.
	values(name string) [][]byte
	del(name string)
	delBytes(name []byte)
	set(name string, value []byte)
}

// fastHeader is fasthttp's request header.
type fastHeader fasthttp.RequestHeader

func (h *fastHeader) of() *fasthttp.RequestHeader   { return (*fasthttp.RequestHeader)(h) }
func (h *fastHeader) peek(name string) []byte       { return h.of().Peek(name) }
func (h *fastHeader) values(name string) [][]byte   { return h.of().PeekAll(name) }
func (h *fastHeader) del(name string)               { h.of().Del(name) }
func (h *fastHeader) delBytes(name []byte)          { h.of().DelBytes(name) }
func (h *fastHeader) set(name string, value []byte) { h.of().SetCanonical(unsafeBytes(name), value) }

// stdHeader is net/http's request header, with a buffer for values.
type stdHeader struct {
	h    http.Header
	vals [][]byte
}

func (s *stdHeader) peek(name string) []byte {
	if vs := s.h[http.CanonicalHeaderKey(name)]; len(vs) > 0 {
		return unsafeBytes(vs[0])
	}
	return nil
}

func (s *stdHeader) values(name string) [][]byte {
	s.vals = s.vals[:0]
	for _, v := range s.h[http.CanonicalHeaderKey(name)] {
		s.vals = append(s.vals, unsafeBytes(v))
	}
	return s.vals
}

func (s *stdHeader) del(name string)      { s.h.Del(name) }
func (s *stdHeader) delBytes(name []byte) { s.h.Del(string(name)) }
func (s *stdHeader) set(name string, value []byte) {
	s.h[http.CanonicalHeaderKey(name)] = []string{string(value)}
}

// hopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1 (plus the
// de-facto Proxy-Connection and Keep-Alive) that a proxy must not forward.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// Headers that carry the client certificate verification upstream, named
// after ingress-nginx's ssl-client-verify, ssl-client-subject-dn and
// ssl-client-escaped-cert, and the authenticated consumer. The gateway owns
// them: a client's own copies are removed before any plugin runs, so an
// upstream can trust them.
const (
	hdrClientVerify  = "X-Client-Verify"
	hdrClientSubject = "X-Client-Subject-Dn"
	hdrClientCert    = "X-Client-Cert"
	hdrConsumer      = "X-Consumer"
)

var ownedHeaders = []string{hdrClientVerify, hdrClientSubject, hdrClientCert, hdrConsumer}

// stripOwned removes the client's copies of the headers the gateway owns,
// before the plugins run (an auth plugin sets X-Consumer itself).
func stripOwned(c *Ctx, h headerEditor) {
	for i, name := range ownedHeaders {
		if c.mayHold(ownedBit(i)) {
			h.del(name)
		}
	}
}

var (
	teTrailers      = []byte("trailers")
	upgradeToken    = []byte("Upgrade")
	websocketToken  = []byte("websocket")
	protoHTTP       = []byte("http")
	protoHTTPS      = []byte("https")
	forwardedFor    = "X-Forwarded-For"
	forwardedProto  = "X-Forwarded-Proto"
	forwardedHost   = "X-Forwarded-Host"
	requestIDHeader = "X-Request-Id"
)

// prepareUpstream rewrites the client's request header for the upstream,
// the same way for every engine and every kind of request, upgrades
// included: hop-by-hop headers (and those the Connection header names) go,
// the Upgrade handshake is restored for a WebSocket, the gateway's own
// headers are set. The path, query and host the plugins left are applied
// by the upstream side (forwardURI, upHost).
func prepareUpstream(c *Ctx, h headerEditor, upgrade bool, keepTE bool) {
	// Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
	if c.mayHold(hopBit(0)) {
		for _, v := range h.values("Connection") {
			forEachToken(v, func(tok []byte) {
				if !bytes.EqualFold(tok, upgradeToken) {
					h.delBytes(tok)
				}
			})
		}
	}
	// gRPC needs "te: trailers" end to end over HTTP/2; every other TE
	// value is hop-by-hop.
	trailers := keepTE && bytes.EqualFold(trimOWS(h.peek("Te")), teTrailers)
	for i, name := range hopHeaders {
		if c.mayHold(hopBit(i)) {
			h.del(name)
		}
	}
	if trailers {
		h.set("Te", teTrailers)
	}
	if upgrade {
		h.set("Connection", upgradeToken)
		h.set("Upgrade", websocketToken)
	}

	setGatewayHeaders(c, h, h)
}

// headerSetter receives the headers the gateway sets on a request going
// upstream.
type headerSetter interface {
	set(name string, value []byte)
}

// setGatewayHeaders gives out the gateway's own headers for the request
// whose client header is h: the forwarding headers, the request ID and the
// client certificate's. The upstream preparation sets them on h; a mirror
// copy takes the same ones (Ctx.VisitUpstreamHeaders).
func setGatewayHeaders(c *Ctx, h headerEditor, out headerSetter) {
	// Forwarding headers per the listener's trusted proxies: without any,
	// X-Forwarded-For is extended for every peer; with some, only theirs
	// is, and they may also say the original scheme and host. Every other
	// peer's values are replaced.
	extend, believe := true, false
	if len(c.trusted) > 0 {
		extend = peerTrusted(c.clientIP, c.trusted)
		believe = extend
	}
	xff := c.scratch[:0]
	if extend {
		for _, v := range h.values(forwardedFor) {
			xff = append(append(xff, v...), ", "...)
		}
	}
	xff = append(xff, c.clientIP...)
	c.scratch = xff
	out.set(forwardedFor, xff)
	if !believe || len(h.peek(forwardedProto)) == 0 {
		if c.tls {
			out.set(forwardedProto, protoHTTPS)
		} else {
			out.set(forwardedProto, protoHTTP)
		}
	}
	if !believe || len(h.peek(forwardedHost)) == 0 {
		out.set(forwardedHost, c.host)
	}
	out.set(requestIDHeader, c.requestID)
	setTraceHeaders(c, out)

	if c.clientVerify != "" {
		out.set(hdrClientVerify, unsafeBytes(c.clientVerify))
		if c.clientDN != "" {
			out.set(hdrClientSubject, unsafeBytes(c.clientDN))
		}
		if c.clientCert != "" {
			out.set(hdrClientCert, unsafeBytes(c.clientCert))
		}
	}
}

// peerTrusted reports whether the connected peer is one of trusted.
func peerTrusted(ip []byte, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(unsafeString(ip))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
