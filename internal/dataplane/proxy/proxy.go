package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/dataplane/listener"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/telemetry/tracing"
	"pylon.io/pylon/internal/upstream"
)

// Proxy serves requests from every engine against the live router, through
// one pipeline (serve).
type Proxy struct {
	router  *router.Router[*Route]
	metrics *telemetry.Metrics
	access  *telemetry.AccessLog
	log     *slog.Logger
	pm      *plugin.Metrics
	certs   *tlsindex.Index // client certificate verification; nil: none
	// unrouted counts answers that belong to no route: no route matched,
	// or the listener refused the request before routing.
	unrouted *telemetry.RouteStats
	// tracer is the live tracing setup, nil when tracing is off; a new
	// telemetry config swaps it.
	tracer atomic.Pointer[tracing.Tracer]
}

// SetTracer makes t trace the requests that start from now on; nil turns
// tracing off. The caller shuts the old tracer down.
func (p *Proxy) SetTracer(t *tracing.Tracer) { p.tracer.Store(t) }

// Options are what a Proxy reads besides its router. Nil fields mean none:
// no access log, no plugin metrics, no client certificate verification.
type Options struct {
	Metrics *telemetry.Metrics // required
	Access  *telemetry.AccessLog
	Log     *slog.Logger // required
	// Plugins counts panics and events in plugin hooks.
	Plugins *plugin.Metrics
	// ClientAuth is the certificate index consulted for client
	// certificate verification.
	ClientAuth *tlsindex.Index
}

// New returns a proxy reading routes from r.
func New(r *router.Router[*Route], o Options) *Proxy {
	return &Proxy{router: r, metrics: o.Metrics, access: o.Access, log: o.Log, pm: o.Plugins,
		certs: o.ClientAuth, unrouted: o.Metrics.Route("", "")}
}

// Bind returns handlers for one listener, which tell the pipeline where
// its requests come from (listener.Handlers.Bind).
func (p *Proxy) Bind(o listener.Origin) (fasthttp.RequestHandler, http.Handler) {
	b := &bound{p: p, origin: origin{trusted: o.TrustedProxies, stats: p.metrics.Listener(o.Listener)}}
	return b.serveFast, b
}

// bound is the proxy as one listener's handlers.
type bound struct {
	p *Proxy
	origin
}

// origin is what a request takes from the listener it came in on.
type origin struct {
	trusted []netip.Prefix           // see prepareUpstream
	stats   *telemetry.ListenerStats // the listener's requests
}

func (b *bound) serveFast(fc *fasthttp.RequestCtx)                { b.p.serveFast(fc, &b.origin) }
func (b *bound) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.p.serveHTTP(w, r, &b.origin) }

// outcome is what one request came to, for metrics, the access log and
// the plugins' log phase.
type outcome struct {
	route    *Route
	backend  *Backend
	endpoint *upstream.Endpoint
	status   int
	upStatus int
	upTime   time.Duration // the last try's, to its answer
	failure  string        // "connect", "timeout", "reset", "no-endpoint", "client"
	message  string        // the gateway's error text, when it answers itself

	tries  [maxLoggedTries]telemetry.UpstreamTry
	ntries int
}

// maxLoggedTries bounds the tries an access-log line names.
const maxLoggedTries = 8

func (o *outcome) addTry(e *upstream.Endpoint, status int, failure string) {
	if o.ntries < maxLoggedTries {
		o.tries[o.ntries] = telemetry.UpstreamTry{Address: e.Address(), Status: status, Failure: failure}
	}
	o.ntries++
}

// defaultRequestTimeout bounds a request whose route sets no timeout.
const defaultRequestTimeout = 60 * time.Second

// finish reports the outcome once the engine's handler is done: metrics,
// the access log, and the plugins' log phase.
func (p *Proxy) finish(c *Ctx, o *outcome, bytesSent int) {
	p.endTrace(c, o)
	p.record(c, o, bytesSent)
	p.logPhase(c, o, c.start)
}

func (p *Proxy) panicked(c *Ctx, v any) {
	p.metrics.PanicRecovered()
	p.log.Error("panic serving request", "panic", fmt.Sprint(v), "host", string(c.host), "path", string(c.path))
}

func appendIP(dst []byte, addr net.Addr) []byte {
	switch a := addr.(type) {
	case *net.TCPAddr:
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap().AppendTo(dst)
		}
	case interface{ AddrPort() netip.AddrPort }:
		return a.AddrPort().Addr().Unmap().AppendTo(dst)
	}
	if addr == nil {
		return dst
	}
	s := addr.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	return append(dst, s...)
}

// record counts the request and writes its access-log line.
func (p *Proxy) record(c *Ctx, o *outcome, bytesSent int) {
	d := time.Since(c.start)
	stats := p.unrouted
	switch {
	case o.backend != nil:
		stats = o.backend.Stats
	case o.route != nil:
		stats = o.route.Stats
	}
	if stats != nil {
		if c.trace.Sampled {
			stats.ObserveTraced(o.status, d, c.trace.TraceID)
		} else {
			stats.Observe(o.status, d)
		}
	}
	if c.trace.Sampled {
		c.listener.ObserveTraced(o.status, d, c.trace.TraceID)
	} else {
		c.listener.Observe(o.status, d)
	}
	if p.access == nil || !p.access.Enabled() || o.route != nil && o.route.LogOff {
		return
	}
	e := telemetry.AccessEntry{
		Time:           c.start,
		RequestID:      c.requestID,
		ClientIP:       clientAddr(c.clientIP),
		Method:         c.method,
		Host:           c.host,
		Path:           c.path,
		Query:          c.rawQuery(),
		Protocol:       unsafeBytes(c.cl.proto()),
		Status:         o.status,
		BytesSent:      int64(bytesSent),
		Duration:       d,
		UpstreamStatus: o.upStatus,
		UpstreamTime:   o.upTime,
		Consumer:       c.consumer,
		WAF:            c.security,
	}
	if c.trace.Active() {
		c.traceHex = tracing.AppendHex(c.traceHex[:0], c.trace.TraceID[:])
		e.TraceID = c.traceHex
	}
	if o.ntries > 1 {
		e.Tries = o.tries[:min(o.ntries, maxLoggedTries)]
	}
	if ua, ok := c.Header("User-Agent"); ok {
		e.UserAgent = ua
	}
	e.Route, e.Service, e.Upstream = o.names()
	if o.route != nil && o.route.LogSampled {
		p.access.LogSampled(&e, o.route.LogSample)
		return
	}
	p.access.Log(&e)
}

// Refused logs and counts a request a listener answered itself (see
// listener.Refusal): every answer the gateway gives is in the access log
// and the metrics.
func (p *Proxy) Refused(r listener.Refusal) {
	p.unrouted.Observe(r.Status, 0)
	if r.Listener != "" {
		p.metrics.Listener(r.Listener).Observe(r.Status, 0)
	}
	if p.access == nil || !p.access.Enabled() {
		return
	}
	var ip []byte
	var buf [64]byte
	if r.Remote != nil {
		ip = appendIP(buf[:0], r.Remote)
	}
	p.access.Log(&telemetry.AccessEntry{
		Time:     time.Now(),
		ClientIP: clientAddr(ip),
		Method:   unsafeBytes(r.Method),
		Host:     unsafeBytes(r.Host),
		Path:     unsafeBytes(r.Path),
		Protocol: unsafeBytes(r.Proto),
		Status:   r.Status,
		Error:    r.Reason,
	})
}

func clientAddr(ip []byte) netip.Addr {
	a, _ := netip.ParseAddr(unsafeString(ip))
	return a
}

// names returns the route, service and upstream address the request
// reached, "" for each it did not: for the access log and the server span.
func (o *outcome) names() (route, service, upstream string) {
	if o.route != nil {
		route = o.route.Name
	}
	if o.backend != nil {
		service = o.backend.Service
	}
	if o.endpoint != nil {
		upstream = o.endpoint.Address()
	}
	return route, service, upstream
}
