// Package upstream holds Pylon's long-lived upstream pools: the endpoints of a
// service, how requests are balanced over them, their health, and the
// connections to them.
//
// Pools live outside config generations (DESIGN invariant 3). A Registry keys
// them by service name and counts references; a config change updates a pool in
// place, so an endpoint whose address did not change keeps its *Endpoint
// identity, its health state and its open connections.
//
// The request path only calls Pool.Pick and the Endpoint accessors, which read
// atomics and an immutable snapshot: no locks, no allocation.
package upstream

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Protocol is how the proxy talks to a pool's endpoints.
type Protocol uint8

const (
	// HTTP1 is HTTP/1.1 over fasthttp, over TLS when Config.TLS is set.
	HTTP1 Protocol = iota
	// HTTP2 is HTTP/2 over TLS, negotiated with ALPN "h2".
	HTTP2
	// H2C is HTTP/2 over cleartext TCP with prior knowledge.
	H2C
)

func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case HTTP2:
		return "http2"
	case H2C:
		return "h2c"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Policy is the load-balancing policy of a pool.
type Policy uint8

const (
	// RoundRobin cycles through healthy endpoints, ignoring weights.
	RoundRobin Policy = iota
	// WeightedRoundRobin is nginx's smooth weighted round robin: an endpoint of
	// weight 3 next to one of weight 1 gets a,a,b,a rather than a,a,a,b.
	WeightedRoundRobin
	// LeastRequest picks two endpoints at random and sends to the one with fewer
	// requests in flight per unit of weight (power of two choices).
	LeastRequest
	// ConsistentHash maps a request key (see HashOn) onto a ring of virtual
	// nodes, so the same key keeps reaching the same endpoint.
	ConsistentHash
	// Random picks an endpoint at random, in proportion to its weight.
	Random
	// EWMA is latency-aware: power of two choices by peak-EWMA latency
	// times requests in flight, per unit of weight (see Endpoint.Observe).
	EWMA
)

func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case WeightedRoundRobin:
		return "weighted_round_robin"
	case LeastRequest:
		return "least_request"
	case ConsistentHash:
		return "consistent_hash"
	case Random:
		return "random"
	case EWMA:
		return "ewma"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// HashKind is the part of a request that ConsistentHash reads.
type HashKind uint8

const (
	HashHeader   HashKind = iota // the request header HashOn.Name
	HashCookie                   // the cookie HashOn.Name
	HashClientIP                 // the client's IP address
	HashPath                     // the request path
)

// HashOn says what ConsistentHash hashes. A request without that value (no such
// header or cookie) falls back to round robin rather than piling onto one
// endpoint.
type HashOn struct {
	Kind HashKind
	Name string
}

// weightOf is ep's weight, 0 meaning 1.
func weightOf(ep EndpointConfig) int32 { return int32(max(ep.Weight, 1)) }

// EndpointConfig is one endpoint of a service.
type EndpointConfig struct {
	Address string // host:port
	Weight  int    // relative share of traffic; 0 means 1
	// Tags mark the endpoint for tagged requests (full-link gray): a request
	// whose route reads a tag gets the endpoints with that tag, and a
	// request without one only the untagged endpoints (see Pick).
	Tags []string
	// Zone and Node say where the endpoint runs (a Kubernetes
	// EndpointSlice's zone and nodeName, a registry's zone); ForZones and
	// ForNodes are an EndpointSlice's hints.forZones and hints.forNodes.
	// They drive the pool's locality preference (see Distribution).
	Zone, Node         string
	ForZones, ForNodes []string
}

// TLSConfig configures TLS from Pylon to the endpoints. CertPEM and KeyPEM are
// the optional client certificate (mTLS). Without CAPEM the system roots are used.
type TLSConfig struct {
	ServerName         string
	InsecureSkipVerify bool
	CAPEM              []byte
	CertPEM, KeyPEM    []byte
}

// ActiveCheck configures active health checking.
type ActiveCheck struct {
	Type               string        // "http" (default), "tcp" or "grpc" (grpc.health.v1 over the pool's HTTP/2)
	GRPCService        string        // for "grpc": the service asked about; empty: the server
	Path               string        // for "http"; default "/"
	Host               string        // Host header for "http"; default the endpoint address
	Interval           time.Duration // default 10s
	Timeout            time.Duration // default 2s
	HealthyThreshold   int           // consecutive passes to become healthy; default 2
	UnhealthyThreshold int           // consecutive fails to become unhealthy; default 3
	ExpectedStatuses   []int         // default 200-399
}

// PassiveCheck configures outlier ejection from the outcomes the proxy reports.
type PassiveCheck struct {
	ConsecutiveFailures int           // failures in a row that eject an endpoint; 0 turns ejection off
	EjectionTime        time.Duration // how long an ejected endpoint is skipped; default 30s
}

// Config is the full description of one pool.
type Config struct {
	Name      string
	Endpoints []EndpointConfig
	Policy    Policy
	HashOn    HashOn
	Protocol  Protocol
	TLS       *TLSConfig
	Active    *ActiveCheck
	Passive   PassiveCheck

	// StrictHealth turns panic mode off. By default, when every endpoint is
	// unhealthy Pick still returns one: health checks are often wrong together
	// (a bad check path, a network blip on the checker's side), and trying a
	// possibly dead endpoint fails no more requests than returning none.
	// With StrictHealth, Pick returns nil instead.
	StrictHealth bool
	// Distribution and ZoneAware make the pool prefer the endpoints near
	// the gateway (see Locality and Registry.SetLocality).
	Distribution Distribution
	ZoneAware    *ZoneAware

	// TagFallback lets a request without a tag of the pool's (or whose
	// tagged endpoints are all unhealthy, then untagged ones too) use any
	// endpoint when no untagged one is healthy. Without it such a request
	// never reaches a tagged endpoint.
	TagFallback bool

	ConnectTimeout      time.Duration // default 5s
	SendTimeout         time.Duration // writing a request may stall this long; 0: no bound of its own
	MaxConnsPerEndpoint int           // default 1024
	MaxIdleConnDuration time.Duration // default 60s

	// RetryBudget bounds retries in flight (see RetryBudget); zero values
	// take the defaults, a negative Percent turns retries off.
	RetryBudgetPercent int
	RetryBudgetMin     int
}

const (
	// maxWeight keeps weights in int32 and weighted schedules small.
	maxWeight             = 1_000_000
	defaultConnectTimeout = 5 * time.Second
	defaultMaxConns       = 1024
	defaultMaxIdle        = 60 * time.Second
	defaultEjectionTime   = 30 * time.Second
	defaultInterval       = 10 * time.Second
	defaultCheckTimeout   = 2 * time.Second
)

// normalize validates cfg and returns a copy with defaults filled in. It reports
// every problem at once, each naming the service and field.
func normalize(cfg Config) (Config, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("upstream: service %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		bad("name is empty")
	}
	switch {
	case cfg.RetryBudgetPercent > 100:
		bad("retryBudget.percent %d is over 100", cfg.RetryBudgetPercent)
	case cfg.RetryBudgetPercent == 0:
		cfg.RetryBudgetPercent = DefaultRetryBudgetPercent
	}
	switch {
	case cfg.RetryBudgetPercent < 0: // no retries at all
		cfg.RetryBudgetPercent, cfg.RetryBudgetMin = 0, 0
	case cfg.RetryBudgetMin < 0:
		bad("retryBudget.minRetries %d is negative", cfg.RetryBudgetMin)
	case cfg.RetryBudgetMin == 0:
		cfg.RetryBudgetMin = DefaultRetryBudgetMin
	}
	// A list sorted by address (as discovery and Kubernetes send theirs)
	// holds its duplicates side by side; only another needs a map.
	var seen map[string]bool
	sorted := slices.IsSortedFunc(cfg.Endpoints, func(a, b EndpointConfig) int { return strings.Compare(a.Address, b.Address) })
	if !sorted {
		seen = make(map[string]bool, len(cfg.Endpoints))
	}
	for i, ep := range cfg.Endpoints {
		if _, _, err := net.SplitHostPort(ep.Address); err != nil {
			bad("endpoints[%d] %q: address: %w", i, ep.Address, err)
			continue
		}
		if sorted && i > 0 && cfg.Endpoints[i-1].Address == ep.Address || seen[ep.Address] {
			bad("endpoints[%d] %q: duplicate address", i, ep.Address)
			continue
		}
		if !sorted {
			seen[ep.Address] = true
		}
		// A weight of 0 means 1; the endpoint reads it so (weightOf), and
		// the list is not copied to say it.
		if ep.Weight < 0 || ep.Weight > maxWeight {
			bad("endpoints[%d] %q: weight %d is out of range 0-%d", i, ep.Address, ep.Weight, maxWeight)
		}
	}
	if cfg.Policy > EWMA {
		bad("policy: unknown %s", cfg.Policy)
	}
	if cfg.Protocol > H2C {
		bad("protocol: unknown %s", cfg.Protocol)
	}
	if cfg.Policy == ConsistentHash {
		switch cfg.HashOn.Kind {
		case HashHeader, HashCookie:
			if cfg.HashOn.Name == "" {
				bad("hash_on: name is required for header and cookie hashing")
			}
		case HashClientIP, HashPath:
		default:
			bad("hash_on: unknown kind %d", cfg.HashOn.Kind)
		}
	}
	if cfg.TLS != nil && cfg.Protocol == H2C {
		bad("tls: set, but protocol h2c is cleartext")
	}
	if cfg.Active != nil {
		a := *cfg.Active
		a.ExpectedStatuses = append([]int(nil), a.ExpectedStatuses...)
		cfg.Active = &a
		errs = append(errs, normalizeActive(cfg.Name, &a)...)
		if a.Type == "grpc" && cfg.Protocol == HTTP1 {
			bad("active: a grpc check needs protocol http2 or h2c")
		}
	}
	if cfg.Distribution > PreferSameNode {
		bad("trafficDistribution: unknown %s", cfg.Distribution)
	}
	if z := cfg.ZoneAware; z != nil {
		// NaN fails both comparisons, so it is caught too.
		if !(z.MinHealthyShare >= 0 && z.MinHealthyShare <= 1) {
			bad("zoneAware.minHealthyShare %v is not between 0 and 1", z.MinHealthyShare)
		}
		if !(z.MaxLoadFactor == 0 || z.MaxLoadFactor >= 1 && z.MaxLoadFactor <= maxLoadFactor) {
			bad("zoneAware.maxLoadFactor %v is not 0 (off) or between 1 and %d", z.MaxLoadFactor, maxLoadFactor)
		}
	}
	if cfg.Passive.ConsecutiveFailures < 0 {
		bad("passive: consecutive_failures %d is negative", cfg.Passive.ConsecutiveFailures)
	}
	if cfg.Passive.EjectionTime <= 0 {
		cfg.Passive.EjectionTime = defaultEjectionTime
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.MaxConnsPerEndpoint <= 0 {
		cfg.MaxConnsPerEndpoint = defaultMaxConns
	}
	if cfg.MaxIdleConnDuration <= 0 {
		cfg.MaxIdleConnDuration = defaultMaxIdle
	}
	return cfg, errors.Join(errs...)
}

func normalizeActive(name string, a *ActiveCheck) []error {
	var errs []error
	switch a.Type {
	case "":
		a.Type = "http"
	case "http", "tcp", "grpc":
	default:
		errs = append(errs, fmt.Errorf("upstream: service %q: active: type %q is not http, tcp or grpc", name, a.Type))
	}
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Interval <= 0 {
		a.Interval = defaultInterval
	}
	if a.Timeout <= 0 {
		a.Timeout = defaultCheckTimeout
	}
	if a.HealthyThreshold <= 0 {
		a.HealthyThreshold = 2
	}
	if a.UnhealthyThreshold <= 0 {
		a.UnhealthyThreshold = 3
	}
	for _, s := range a.ExpectedStatuses {
		if s < 100 || s > 599 {
			errs = append(errs, fmt.Errorf("upstream: service %q: active: expected status %d is not an HTTP status", name, s))
		}
	}
	return errs
}

// statusExpected reports whether a health-check response status counts as a pass.
func (a *ActiveCheck) statusExpected(code int) bool {
	if len(a.ExpectedStatuses) == 0 {
		return code >= 200 && code < 400
	}
	for _, s := range a.ExpectedStatuses {
		if s == code {
			return true
		}
	}
	return false
}

// Validate checks cfg as Acquire would (fields, TLS material) without
// creating anything, for dry runs such as `pylon validate`.
func Validate(cfg Config) error {
	n, err := normalize(cfg)
	if err != nil {
		return err
	}
	if n.TLS != nil {
		if _, err := buildTLS(&n); err != nil {
			return err
		}
	}
	return nil
}
