package proxy

import (
	"math/rand/v2"
	"regexp"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Route is the compiled, immutable form of one IR route. The compile stage
// builds a new Route when the route's config changes; the pools it points to
// are long-lived and outlast it.
type Route struct {
	Key       string // ir.Key string
	Name      string
	Namespace string // the route's: its plugins look consumers up there

	Backends []Backend
	total    int // sum of weights

	Redirect *Redirect
	Direct   *Direct

	RequestTimeout time.Duration
	Retry          RetryPolicy

	// RequireClientCert refuses requests without a verified client
	// certificate (403), after the request-phase plugins (so an HTTPS
	// redirect still answers plain HTTP).
	RequireClientCert bool
	// ClientSubject, when set, refuses requests (403) whose verified client
	// certificate's subject DN it does not match, or that have none.
	ClientSubject *regexp.Regexp

	// Plugins is the route's flattened chain (global, host and route
	// scopes); nil without plugins.
	Plugins *plugin.Chain
	refs    []string // Backends' refs, for plugin.Ctx.Services

	// Stats counts requests answered without an upstream (redirects,
	// direct responses, no healthy backend).
	Stats *telemetry.RouteStats

	// TagHeader is the request header that holds the request's tag, for
	// tagged endpoints (see Ctx.Tag); empty: requests carry none.
	TagHeader string

	// LogOff writes no access log line for the route; LogSample, when
	// LogSampled, is its share of lines below 400 instead of the log's.
	LogOff     bool
	LogSampled bool
	LogSample  float64
}

// Backend is one weighted pool a route forwards to.
type Backend struct {
	Service string // the pool's name: namespace/name outside "default"
	Ref     string // the service as the route and its plugins name it
	Pool    *upstream.Pool
	Weight  int // 0: only a plugin sends requests here (a canary's other side)
	Stats   *telemetry.RouteStats
	Errors  *telemetry.UpstreamStats
}

// Redirect describes a redirect answer; empty fields keep the request's.
type Redirect struct {
	Scheme string
	Host   string
	Port   int
	Path   string
	Code   int
}

// Direct is a fixed answer.
type Direct struct {
	Status  int
	Body    []byte
	Headers [][2]string
}

// RetryPolicy says when a failed try is repeated on another endpoint.
type RetryPolicy struct {
	Attempts      int // total tries; 1 = no retry
	PerTryTimeout time.Duration
	OnStatus      [10]uint64 // bitmap of statuses 0-639 that are retried
	NonIdempotent bool
}

// RetryOnStatus reports whether status is configured for retry.
func (p *RetryPolicy) RetryOnStatus(status int) bool {
	if status < 0 || status >= len(p.OnStatus)*64 {
		return false
	}
	return p.OnStatus[status/64]&(1<<(status%64)) != 0
}

// SetRetryOn marks status as retried.
func (p *RetryPolicy) SetRetryOn(status int) {
	if status >= 0 && status < len(p.OnStatus)*64 {
		p.OnStatus[status/64] |= 1 << (status % 64)
	}
}

// Finish computes derived fields; the compile stage calls it once.
func (r *Route) Finish() {
	r.total = 0
	// A new slice, never the old one's array: a route copied from a
	// finished one (another host's chain) would otherwise write its refs
	// into the array the first route still serves from.
	r.refs = make([]string, 0, len(r.Backends))
	for i, b := range r.Backends {
		r.total += b.Weight
		if b.Ref == "" {
			r.Backends[i].Ref = b.Service
		}
		r.refs = append(r.refs, r.Backends[i].Ref)
	}
	if r.Retry.Attempts < 1 {
		r.Retry.Attempts = 1
	}
}

// pick chooses a backend by weight. It uses the runtime's per-thread random
// source, so it neither locks nor allocates.
func (r *Route) pick() *Backend {
	switch len(r.Backends) {
	case 0:
		return nil
	case 1:
		return &r.Backends[0]
	}
	if r.total <= 0 {
		return &r.Backends[rand.IntN(len(r.Backends))]
	}
	n := rand.IntN(r.total)
	for i := range r.Backends {
		n -= r.Backends[i].Weight
		if n < 0 {
			return &r.Backends[i]
		}
	}
	return &r.Backends[len(r.Backends)-1]
}

// clientSubjectOK reports whether the request's verified client certificate
// has a subject ClientSubject matches.
func (r *Route) clientSubjectOK(c *Ctx) bool {
	return c.clientVerify == "SUCCESS" && r.ClientSubject.MatchString(c.clientDN)
}
