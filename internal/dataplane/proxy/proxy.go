package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"time"

	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Proxy serves requests from both engines against the live router.
type Proxy struct {
	router  *router.Router[*Route]
	metrics *telemetry.Metrics
	access  *telemetry.AccessLog
	log     *slog.Logger
	pm      *plugin.Metrics
	certs   *tlsindex.Index // client certificate verification; nil: none
}

// New returns a proxy reading routes from r. access may be nil (no access log).
func New(r *router.Router[*Route], m *telemetry.Metrics, access *telemetry.AccessLog, log *slog.Logger) *Proxy {
	return &Proxy{router: r, metrics: m, access: access, log: log}
}

// outcome is what one request came to, for metrics and the access log.
type outcome struct {
	route    *Route
	backend  *Backend
	endpoint *upstream.Endpoint
	status   int
	upStatus int
	failure  string // for the plugins' log phase: "connect", "timeout", "reset", "no-endpoint"
}

// defaultRequestTimeout bounds a request whose route sets no timeout.
const defaultRequestTimeout = 60 * time.Second

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
func (p *Proxy) record(c *Ctx, o *outcome, start time.Time, proto string, bytesSent int) {
	d := time.Since(start)
	var stats *telemetry.RouteStats
	switch {
	case o.backend != nil:
		stats = o.backend.Stats
	case o.route != nil:
		stats = o.route.Stats
	}
	if stats != nil {
		stats.Observe(o.status, d)
	}
	if p.access == nil || !p.access.Enabled() {
		return
	}
	e := telemetry.AccessEntry{
		Time:           start,
		RequestID:      c.requestID,
		ClientIP:       clientAddr(c.clientIP),
		Method:         c.method,
		Host:           c.host,
		Path:           c.path,
		Protocol:       unsafeBytes(proto),
		Status:         o.status,
		BytesSent:      int64(bytesSent),
		Duration:       d,
		UpstreamStatus: o.upStatus,
	}
	if ua, ok := c.Header("User-Agent"); ok {
		e.UserAgent = ua
	}
	if o.route != nil {
		e.Route = o.route.Name
	}
	if o.backend != nil {
		e.Service = o.backend.Service
	}
	if o.endpoint != nil {
		e.Upstream = o.endpoint.Address()
	}
	p.access.Log(&e)
}

func clientAddr(ip []byte) netip.Addr {
	a, _ := netip.ParseAddr(unsafeString(ip))
	return a
}
