package ir

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load-balancing policies.
const (
	LBRoundRobin         = "roundRobin"
	LBWeightedRoundRobin = "weightedRoundRobin"
	LBLeastRequest       = "leastRequest"
	LBConsistentHash     = "consistentHash"
	LBRandom             = "random"
	LBEWMA               = "ewma"
)

// Values of Service.TrafficDistribution, as in a Kubernetes Service's
// spec.trafficDistribution. PreferClose is the deprecated name of
// PreferSameZone and means exactly the same (KEP-3015).
const (
	TrafficPreferClose    = "PreferClose"
	TrafficPreferSameZone = "PreferSameZone"
	TrafficPreferSameNode = "PreferSameNode"
)

// Upstream protocols.
const (
	UpstreamHTTP1 = "http1"
	UpstreamHTTP2 = "http2" // over TLS with ALPN h2
	UpstreamH2C   = "h2c"
)

// Service is a set of upstream endpoints and how to reach them.
type Service struct {
	Name         string       `json:"name" yaml:"name"`
	Endpoints    []Endpoint   `json:"endpoints" yaml:"endpoints"`
	LoadBalancer string       `json:"loadBalancer,omitempty" yaml:"loadBalancer,omitempty"` // default roundRobin
	HashOn       *HashOn      `json:"hashOn,omitempty" yaml:"hashOn,omitempty"`             // for consistentHash
	Protocol     string       `json:"protocol,omitempty" yaml:"protocol,omitempty"`         // default http1
	TLS          *UpstreamTLS `json:"tls,omitempty" yaml:"tls,omitempty"`
	HealthCheck  *HealthCheck `json:"healthCheck,omitempty" yaml:"healthCheck,omitempty"`
	// TagFallback lets a request without a tag the service has use tagged
	// endpoints when no untagged one is healthy; without it, it never does.
	TagFallback bool `json:"tagFallback,omitempty" yaml:"tagFallback,omitempty"`

	ConnectTimeout Duration `json:"connectTimeout,omitempty" yaml:"connectTimeout,omitempty"` // default 5s
	// SendTimeout bounds how long writing a request to an endpoint may stall:
	// toward HTTP/2 endpoints between two successful writes, toward HTTP/1.1
	// endpoints for the whole request. 0: only the request timeout bounds it.
	SendTimeout    Duration `json:"sendTimeout,omitempty" yaml:"sendTimeout,omitempty"`
	MaxConnections int      `json:"maxConnections,omitempty" yaml:"maxConnections,omitempty"` // per endpoint, default 1024

	// RetryBudget bounds the retries in flight to this service; by default
	// 20% of the requests in flight, and at least 3.
	RetryBudget *RetryBudget `json:"retryBudget,omitempty" yaml:"retryBudget,omitempty"`

	// TrafficDistribution prefers endpoints near the gateway:
	// PreferSameZone (or its old name PreferClose) those in its zone,
	// PreferSameNode those on its Node, then in its zone. A Kubernetes
	// Service's spec.trafficDistribution arrives here.
	TrafficDistribution string `json:"trafficDistribution,omitempty" yaml:"trafficDistribution,omitempty"`
	// ZoneAware prefers the endpoints in the gateway's zone (when
	// TrafficDistribution does not already) and bounds how far: see
	// ZoneAware.
	ZoneAware *ZoneAware `json:"zoneAware,omitempty" yaml:"zoneAware,omitempty"`

	// Discovered marks a service whose endpoints a discovery source (such as
	// Kubernetes EndpointSlices) feeds into its pool: it may have none yet.
	Discovered bool `json:"discovered,omitempty" yaml:"discovered,omitempty"`

	// Discovery takes the endpoints from a discovery provider; Endpoints
	// is then left out.
	Discovery *ServiceDiscovery `json:"discovery,omitempty" yaml:"discovery,omitempty"`
}

// RetryBudget keeps retries from multiplying the load on a failing
// service: a retry is made only while the retries in flight stay under
// Percent of the requests in flight, or under MinRetries.
type RetryBudget struct {
	Percent    int `json:"percent,omitempty" yaml:"percent,omitempty"`       // 1-100, default 20; -1: no retries
	MinRetries int `json:"minRetries,omitempty" yaml:"minRetries,omitempty"` // default 3
}

// ZoneAware keeps a service's traffic in the gateway's zone (or on its
// node) until the endpoints there are too few healthy or too loaded; then
// it spreads over every endpoint. Unset fields take the defaults.
type ZoneAware struct {
	// MinHealthyShare (0-1, default 0.5): below this share of the near
	// endpoints healthy, traffic spills over.
	MinHealthyShare *float64 `json:"minHealthyShare,omitempty" yaml:"minHealthyShare,omitempty"`
	// MaxLoadFactor (default 2; 0 turns it off; else at least 1): when the
	// near endpoints hold more than this many times the requests in flight
	// each of the other endpoints (counted as at least 1), traffic spills
	// over.
	MaxLoadFactor *float64 `json:"maxLoadFactor,omitempty" yaml:"maxLoadFactor,omitempty"`
}

// problems returns each field of z out of range, and why.
func (z *ZoneAware) problems() [][2]string {
	var out [][2]string
	// NaN fails every comparison, so it is refused too.
	if v := z.MinHealthyShare; v != nil && !(*v >= 0 && *v <= 1) {
		out = append(out, [2]string{"minHealthyShare", fmt.Sprintf("must be between 0 and 1 (got %v)", *v)})
	}
	if v := z.MaxLoadFactor; v != nil && !(*v == 0 || *v >= 1 && *v <= 1000) {
		out = append(out, [2]string{"maxLoadFactor", fmt.Sprintf("must be 0 (off) or between 1 and 1000 (got %v)", *v)})
	}
	return out
}

// Check returns an error naming the first field of z out of range.
func (z *ZoneAware) Check() error {
	if f := z.problems(); len(f) > 0 {
		return fmt.Errorf("%s: %s", f[0][0], f[0][1])
	}
	return nil
}

// MaxWeight bounds endpoint and backend weights, so schedules built from
// them stay small and sums cannot overflow.
const MaxWeight = 1_000_000

// Endpoint is one upstream address. In YAML and JSON it is either
// "host:port" or {address: "host:port", weight: N}.
type Endpoint struct {
	Address string `json:"address" yaml:"address"`
	Weight  int    `json:"weight,omitempty" yaml:"weight,omitempty"`
	// Tags mark the endpoint for tagged requests (full-link gray, see
	// Route.TagHeader); requests without a tag use the untagged endpoints.
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Zone is the endpoint's availability zone and Node the Kubernetes
	// Node it runs on, for the service's locality preference.
	Zone string `json:"zone,omitempty" yaml:"zone,omitempty"`
	Node string `json:"node,omitempty" yaml:"node,omitempty"`
	// ForZones and ForNodes are an EndpointSlice endpoint's hints: the
	// zones and nodes whose clients should use it.
	ForZones []string `json:"forZones,omitempty" yaml:"forZones,omitempty"`
	ForNodes []string `json:"forNodes,omitempty" yaml:"forNodes,omitempty"`
}

type endpointObject Endpoint

// UnmarshalYAML accepts a string or a mapping.
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*e = Endpoint{Address: n.Value}
		return nil
	}
	var o endpointObject
	if err := n.Decode(&o); err != nil {
		return err
	}
	*e = Endpoint(o)
	return nil
}

// UnmarshalJSON accepts a string or an object.
func (e *Endpoint) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*e = Endpoint{Address: s}
		return nil
	}
	var o endpointObject
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // strict like the rest of the object
	if err := dec.Decode(&o); err != nil {
		return err
	}
	*e = Endpoint(o)
	return nil
}

// Zone names fit a Kubernetes label value; node names a Kubernetes object
// name (a DNS subdomain).
const (
	maxZoneLen = 63
	maxNodeLen = 253
)

// checkPlace checks a zone or node name: printable ASCII without spaces,
// up to max characters; empty (unknown) only where optional.
func checkPlace(p *problems, field, v string, max int, optional bool) {
	if v == "" && optional {
		return
	}
	if v == "" || len(v) > max || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) {
		p.add(field, "must be 1-%d printable ASCII characters without spaces (got %q)", max, v)
	}
}

// HashOn selects the consistent-hash key: exactly one field.
type HashOn struct {
	Header   string `json:"header,omitempty" yaml:"header,omitempty"`
	Cookie   string `json:"cookie,omitempty" yaml:"cookie,omitempty"`
	ClientIP bool   `json:"clientIP,omitempty" yaml:"clientIP,omitempty"`
	Path     bool   `json:"path,omitempty" yaml:"path,omitempty"`
}

// UpstreamTLS makes Pylon speak TLS to the endpoints, optionally with a client
// certificate. PEM fields may be inline or files (resolved by the source).
type UpstreamTLS struct {
	ServerName         string `json:"serverName,omitempty" yaml:"serverName,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty" yaml:"insecureSkipVerify,omitempty"`
	CA                 string `json:"ca,omitempty" yaml:"ca,omitempty"`
	CAFile             string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	Cert               string `json:"cert,omitempty" yaml:"cert,omitempty"`
	CertFile           string `json:"certFile,omitempty" yaml:"certFile,omitempty"`
	Key                string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyFile            string `json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
}

// HealthCheck configures active probes and passive ejection.
type HealthCheck struct {
	Active  *ActiveHealthCheck  `json:"active,omitempty" yaml:"active,omitempty"`
	Passive *PassiveHealthCheck `json:"passive,omitempty" yaml:"passive,omitempty"`
}

// ActiveHealthCheck probes every endpoint periodically.
type ActiveHealthCheck struct {
	Type string `json:"type,omitempty" yaml:"type,omitempty"` // http (default), tcp or grpc
	// GRPCService is the service name a grpc check asks grpc.health.v1
	// about; empty asks about the server as a whole.
	GRPCService        string   `json:"grpcService,omitempty" yaml:"grpcService,omitempty"`
	Path               string   `json:"path,omitempty" yaml:"path,omitempty"` // default "/"
	Host               string   `json:"host,omitempty" yaml:"host,omitempty"`
	Interval           Duration `json:"interval,omitempty" yaml:"interval,omitempty"` // default 10s
	Timeout            Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`   // default 2s
	HealthyThreshold   int      `json:"healthyThreshold,omitempty" yaml:"healthyThreshold,omitempty"`
	UnhealthyThreshold int      `json:"unhealthyThreshold,omitempty" yaml:"unhealthyThreshold,omitempty"`
	ExpectedStatuses   []int    `json:"expectedStatuses,omitempty" yaml:"expectedStatuses,omitempty"` // default 200-399
}

// PassiveHealthCheck ejects an endpoint after consecutive failures.
type PassiveHealthCheck struct {
	ConsecutiveFailures int      `json:"consecutiveFailures" yaml:"consecutiveFailures"`
	EjectionTime        Duration `json:"ejectionTime,omitempty" yaml:"ejectionTime,omitempty"` // default 30s
}

func (s *Service) ResourceKind() Kind   { return KindService }
func (s *Service) ResourceName() string { return s.Name }

// Validate checks the service on its own.
func (s *Service) Validate() error {
	p := &problems{kind: KindService, name: s.Name}
	checkName(p, s.Name)
	if s.Discovery != nil {
		s.Discovery.validate(p, len(s.Endpoints) > 0)
	} else if len(s.Endpoints) == 0 && !s.Discovered {
		p.add("endpoints", "at least one endpoint is required (or discovery)")
	}
	seen := map[string]bool{}
	for i, e := range s.Endpoints {
		f := fmt.Sprintf("endpoints[%d]", i)
		host, port, err := net.SplitHostPort(e.Address)
		if err != nil || host == "" {
			p.add(f+".address", "must be host:port (got %q)", e.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.add(f+".address", "port must be 1-65535 (got %q)", port)
		}
		for j, t := range e.Tags {
			if !ValidTag(t) {
				p.add(fmt.Sprintf("%s.tags[%d]", f, j), "must be 1-63 printable ASCII characters without spaces or commas (got %q)", t)
			}
		}
		checkPlace(p, f+".zone", e.Zone, maxZoneLen, true)
		checkPlace(p, f+".node", e.Node, maxNodeLen, true)
		for j, z := range e.ForZones {
			checkPlace(p, fmt.Sprintf("%s.forZones[%d]", f, j), z, maxZoneLen, false)
		}
		for j, n := range e.ForNodes {
			checkPlace(p, fmt.Sprintf("%s.forNodes[%d]", f, j), n, maxNodeLen, false)
		}
		if e.Weight < 0 || e.Weight > MaxWeight {
			p.add(f+".weight", "must be 0-%d (got %d)", MaxWeight, e.Weight)
		}
		if seen[e.Address] {
			p.add(f+".address", "duplicate endpoint %q", e.Address)
		}
		seen[e.Address] = true
	}
	switch s.LoadBalancer {
	case "", LBRoundRobin, LBWeightedRoundRobin, LBLeastRequest, LBRandom, LBEWMA:
		if s.HashOn != nil {
			p.add("hashOn", "only allowed with loadBalancer consistentHash")
		}
	case LBConsistentHash:
		h := s.HashOn
		if h == nil {
			p.add("hashOn", "required with loadBalancer consistentHash")
		} else {
			n := 0
			for _, set := range []bool{h.Header != "", h.Cookie != "", h.ClientIP, h.Path} {
				if set {
					n++
				}
			}
			if n != 1 {
				p.add("hashOn", "exactly one of header, cookie, clientIP or path must be set")
			}
		}
	default:
		p.add("loadBalancer", "must be one of roundRobin, weightedRoundRobin, leastRequest, ewma, consistentHash, random (got %q)", s.LoadBalancer)
	}
	switch s.Protocol {
	case "", UpstreamHTTP1, UpstreamHTTP2, UpstreamH2C:
	default:
		p.add("protocol", "must be http1, http2 or h2c (got %q)", s.Protocol)
	}
	if s.Protocol == UpstreamH2C && s.TLS != nil {
		p.add("tls", "not allowed with protocol h2c")
	}
	if t := s.TLS; t != nil {
		if t.CA != "" && t.CAFile != "" {
			p.add("tls.ca", "set ca or caFile, not both")
		}
		hasCert := t.Cert != "" || t.CertFile != ""
		hasKey := t.Key != "" || t.KeyFile != ""
		if hasCert != hasKey {
			p.add("tls.key", "a client certificate needs both cert and key")
		}
	}
	if hc := s.HealthCheck; hc != nil {
		if a := hc.Active; a != nil {
			switch a.Type {
			case "", "http", "tcp":
				if a.GRPCService != "" {
					p.add("healthCheck.active.grpcService", "only with type grpc")
				}
			case "grpc":
				if s.Protocol != UpstreamHTTP2 && s.Protocol != UpstreamH2C {
					p.add("healthCheck.active.type", "grpc needs the service's protocol to be http2 or h2c (got %q)", cmp.Or(s.Protocol, UpstreamHTTP1))
				}
				if a.Path != "" || len(a.ExpectedStatuses) > 0 {
					p.add("healthCheck.active", "path and expectedStatuses are for http checks; a grpc check asks grpc.health.v1 and passes on SERVING")
				}
			default:
				p.add("healthCheck.active.type", "must be http, tcp or grpc (got %q)", a.Type)
			}
			if a.Path != "" && a.Path[0] != '/' {
				p.add("healthCheck.active.path", "must start with '/'")
			}
			if a.HealthyThreshold < 0 || a.UnhealthyThreshold < 0 {
				p.add("healthCheck.active", "thresholds must not be negative")
			}
			if a.Interval != 0 && a.Interval.D() < 1e8 {
				p.add("healthCheck.active.interval", "must be at least 100ms")
			}
		}
		if ps := hc.Passive; ps != nil && ps.ConsecutiveFailures < 1 {
			p.add("healthCheck.passive.consecutiveFailures", "must be at least 1")
		}
	}
	if s.MaxConnections < 0 {
		p.add("maxConnections", "must not be negative")
	}
	switch s.TrafficDistribution {
	case "", TrafficPreferClose, TrafficPreferSameZone, TrafficPreferSameNode:
	default:
		p.add("trafficDistribution", "must be PreferSameZone, PreferSameNode or PreferClose (got %q)", s.TrafficDistribution)
	}
	if z := s.ZoneAware; z != nil {
		for _, f := range z.problems() {
			p.add("zoneAware."+f[0], "%s", f[1])
		}
	}
	if b := s.RetryBudget; b != nil {
		if b.Percent < -1 || b.Percent > 100 {
			p.add("retryBudget.percent", "must be 1-100, or -1 for no retries (got %d)", b.Percent)
		}
		if b.MinRetries < 0 {
			p.add("retryBudget.minRetries", "must not be negative (got %d)", b.MinRetries)
		}
	}
	return p.err()
}

// ValidTag reports whether t can tag an endpoint: 1-63 printable ASCII
// characters without spaces or commas (a request's tag header holds one
// tag, and lists of tags are written comma-separated).
func ValidTag(t string) bool {
	return t != "" && len(t) <= 63 && !strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' })
}
