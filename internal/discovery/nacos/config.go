// Package nacos finds service endpoints in a Nacos registry, over one of
// its two naming APIs:
//
//   - v2 (gRPC, api: v2), through the Nacos Go SDK: a subscription per
//     watched service, and the server pushes each change;
//   - v1 (HTTP, the default): polling GET /nacos/v1/ns/instance/list and
//     using the answer's checksum to skip unchanged lists.
//
// Both map an instance onto discovery.Instance the same way (toSet).
package nacos

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is one Nacos provider.
type Config struct {
	Servers      []string    `json:"servers" yaml:"servers"`                               // host:port of the HTTP API (v2: gRPC on port+1000), tried in turn
	API          string      `json:"api" yaml:"api"`                                       // "v1" (HTTP, default) or "v2" (gRPC)
	Namespace    string      `json:"namespace" yaml:"namespace"`                           // default namespace; Query.Namespace overrides
	TagsKey      string      `json:"tagsKey" yaml:"tagsKey"`                               // metadata key holding comma-separated tags; default "tags"
	ZoneKey      string      `json:"zoneKey" yaml:"zoneKey"`                               // metadata key holding the zone; default "zone", else the cluster
	PollInterval ir.Duration `json:"pollInterval,omitempty" yaml:"pollInterval,omitempty"` // v1; default 5s
	Timeout      ir.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`           // one request; default 5s
}

// Validate checks c; errors name field (e.g. "discovery[2].nacos").
func (c Config) Validate(field string) error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, fmt.Errorf("%s.servers: at least one server is required", field))
	}
	for i, s := range c.Servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.servers[%d]: %q is not host:port: %w", field, i, s, err))
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			errs = append(errs, fmt.Errorf("%s.servers[%d]: %q needs a host and a port in 1-65535", field, i, s))
		}
	}
	switch c.API {
	case "", "v1":
	case "v2":
		for i, s := range c.Servers {
			if _, port, err := net.SplitHostPort(s); err == nil {
				if n, err := strconv.Atoi(port); err == nil && n+grpcPortOffset > 65535 {
					errs = append(errs, fmt.Errorf("%s.servers[%d]: %q: api v2 reaches gRPC on port+%d, above 65535", field, i, s, grpcPortOffset))
				}
			}
		}
	default:
		errs = append(errs, fmt.Errorf("%s.api: %q is not one of v1, v2", field, c.API))
	}
	if c.Namespace != "" && !namespaceRE.MatchString(c.Namespace) {
		errs = append(errs, fmt.Errorf("%s.namespace: %q %s", field, c.Namespace, namespaceRule))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%s.pollInterval: must not be negative", field))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", field))
	}
	return errors.Join(errs...)
}

// grpcPortOffset is where a Nacos server's gRPC API is from its HTTP
// port; the Go SDK reaches it there when no gRPC port is given.
const grpcPortOffset = 1000

// namespaceRE is Nacos's rule for namespace IDs (its console enforces
// it). The v2 client also names a cache directory after the namespace, so
// nothing else may reach it.
var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

const namespaceRule = "must be 1-128 letters, digits, '_' or '-' (a Nacos namespace ID)"

func (c Config) withDefaults() Config {
	if c.TagsKey == "" {
		c.TagsKey = "tags"
	}
	if c.ZoneKey == "" {
		c.ZoneKey = "zone"
	}
	if c.PollInterval == 0 {
		c.PollInterval = ir.Duration(5 * time.Second)
	}
	if c.Timeout == 0 {
		c.Timeout = ir.Duration(5 * time.Second)
	}
	return c
}
