// Package consul finds service endpoints in Consul through its health API
// (GET /v1/health/service/<name>), watched with blocking queries on
// X-Consul-Index.
//
// The model (api.ServiceEntry and its checks), the aggregation of check
// states and the TLS setup come from github.com/hashicorp/consul/api. The
// requests are this package's own, for three reasons: the library's client
// fills every field left empty from CONSUL_HTTP_* environment variables
// (an empty token becomes CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL_VERIFY=false
// turns verification off), which a gateway's config must not inherit; it
// decodes answers of any size; and its decoder cannot be fed bytes, which a
// fuzz test needs.
package consul

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is one Consul provider.
type Config struct {
	Servers     []string    `json:"servers" yaml:"servers"`                           // host:port of agents' HTTP API, tried in turn
	Scheme      string      `json:"scheme,omitempty" yaml:"scheme,omitempty"`         // http (default) or https
	TLS         *TLS        `json:"tls,omitempty" yaml:"tls,omitempty"`               // for https agents
	Token       string      `json:"token,omitempty" yaml:"token,omitempty"`           // ACL token (X-Consul-Token); never logged
	Datacenter  string      `json:"datacenter,omitempty" yaml:"datacenter,omitempty"` // default datacenter; a service's overrides
	Namespace   string      `json:"namespace,omitempty" yaml:"namespace,omitempty"`   // default namespace (Enterprise)
	Partition   string      `json:"partition,omitempty" yaml:"partition,omitempty"`   // default admin partition (Enterprise)
	PassingOnly *bool       `json:"passingOnly,omitempty" yaml:"passingOnly,omitempty"`
	ZoneKey     string      `json:"zoneKey,omitempty" yaml:"zoneKey,omitempty"`   // service or node meta key of the zone; default "zone"
	WaitTime    ir.Duration `json:"waitTime,omitempty" yaml:"waitTime,omitempty"` // blocking query wait; default 5m, 1s-10m
	Timeout     ir.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`   // a non-blocking request, and the margin over waitTime; default 5s
}

// TLS is how the provider checks an https agent and proves itself to it.
type TLS struct {
	CAFile             string `json:"caFile,omitempty" yaml:"caFile,omitempty"`     // PEM CA bundle; default: the system's
	CertFile           string `json:"certFile,omitempty" yaml:"certFile,omitempty"` // client certificate, with keyFile
	KeyFile            string `json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
	ServerName         string `json:"serverName,omitempty" yaml:"serverName,omitempty"` // default: each server's host
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty" yaml:"insecureSkipVerify,omitempty"`
}

// Consul refuses a blocking wait above ten minutes (it caps it there), so
// the bound is the same; below a second, blocking queries are polling.
const (
	minWait = time.Second
	maxWait = 10 * time.Minute
)

// Validate checks c; errors name field (e.g. "discovery[3].consul").
func (c Config) Validate(field string) error {
	var errs []error
	bad := func(f, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: "+format, append([]any{field, f}, args...)...))
	}
	if len(c.Servers) == 0 {
		bad("servers", "at least one server is required")
	}
	for i, s := range c.Servers {
		f := fmt.Sprintf("servers[%d]", i)
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			bad(f, "%q is not host:port: %v", s, err)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" ||
			strings.ContainsAny(host, "/?#@ ") {
			bad(f, "%q needs a host and a port in 1-65535", s)
		}
	}
	switch c.Scheme {
	case "", "http":
		if c.TLS != nil {
			bad("tls", `applies to scheme "https" only`)
		}
	case "https":
	default:
		bad("scheme", "%q is not one of http, https", c.Scheme)
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls", "certFile and keyFile go together")
	}
	// The token is checked without being quoted: it is a secret.
	if strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("token", "must not contain spaces or control characters")
	}
	for _, s := range []struct{ f, v string }{{"datacenter", c.Datacenter}, {"namespace", c.Namespace}, {"partition", c.Partition}, {"zoneKey", c.ZoneKey}} {
		if strings.ContainsFunc(s.v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			bad(s.f, "%q must not contain spaces or control characters", s.v)
		}
	}
	if w := c.WaitTime.D(); w != 0 && (w < minWait || w > maxWait) {
		bad("waitTime", "must be between %s and %s (got %s)", minWait, maxWait, w)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Scheme == "" {
		c.Scheme = "http"
	}
	if c.PassingOnly == nil {
		t := true
		c.PassingOnly = &t
	}
	if c.ZoneKey == "" {
		c.ZoneKey = "zone"
	}
	if c.WaitTime == 0 {
		c.WaitTime = ir.Duration(5 * time.Minute)
	}
	if c.Timeout == 0 {
		c.Timeout = ir.Duration(5 * time.Second)
	}
	return c
}
