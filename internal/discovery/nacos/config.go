// Package nacos finds service endpoints in a Nacos registry.
//
// This package speaks the Nacos v1 HTTP naming API
// (GET /nacos/v1/ns/instance/list), polling it and using the answer's
// checksum to skip unchanged lists. The v2 gRPC API is not implemented yet:
// a Config asking for it is rejected.
package nacos

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is one Nacos provider.
type Config struct {
	Servers      []string    `json:"servers" yaml:"servers"`                               // host:port of the HTTP API, tried in turn
	API          string      `json:"api" yaml:"api"`                                       // "v1" (default); "v2" is not supported yet
	Namespace    string      `json:"namespace" yaml:"namespace"`                           // default namespace; Query.Namespace overrides
	TagsKey      string      `json:"tagsKey" yaml:"tagsKey"`                               // metadata key holding comma-separated tags; default "tags"
	ZoneKey      string      `json:"zoneKey" yaml:"zoneKey"`                               // metadata key holding the zone; default "zone", else the cluster
	PollInterval ir.Duration `json:"pollInterval,omitempty" yaml:"pollInterval,omitempty"` // default 5s
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
		errs = append(errs, fmt.Errorf("%s.api: v2 (gRPC) is not supported yet; use v1", field))
	default:
		errs = append(errs, fmt.Errorf("%s.api: %q is not one of v1, v2", field, c.API))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%s.pollInterval: must not be negative", field))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", field))
	}
	return errors.Join(errs...)
}

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
