// Package dns is Pylon's DNS discovery provider: A/AAAA answers with a
// configured port, or SRV answers with their priorities and weights, asked
// of a list of servers in order (failover), re-asked when the answer's TTL
// runs out (between a floor and a ceiling).
package dns

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is a connection to DNS servers.
type Config struct {
	Servers []string    `json:"servers" yaml:"servers"`                     // host:port, tried in order
	Timeout ir.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"` // per server and query; default 2s
	MinTTL  ir.Duration `json:"minTTL,omitempty" yaml:"minTTL,omitempty"`   // floor of the re-ask interval; default 1s
	MaxTTL  ir.Duration `json:"maxTTL,omitempty" yaml:"maxTTL,omitempty"`   // ceiling; default 30s
}

const (
	defaultTimeout = 2 * time.Second
	defaultMinTTL  = time.Second
	defaultMaxTTL  = 30 * time.Second
)

// Validate checks c; field is the path of c in the config
// ("discovery[0].dns"), used to name what is wrong.
func (c Config) Validate(field string) error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, fmt.Errorf("%s.servers: at least one server is required", field))
	}
	for i, s := range c.Servers {
		host, port, err := net.SplitHostPort(s)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.servers[%d]: must be ip:port (got %q)", field, i, s))
		case net.ParseIP(host) == nil:
			errs = append(errs, fmt.Errorf("%s.servers[%d]: host must be an IP address (got %q)", field, i, host))
		case perr != nil || n < 1 || n > 65535:
			errs = append(errs, fmt.Errorf("%s.servers[%d]: port must be 1-65535 (got %q)", field, i, port))
		}
	}
	if c.Timeout < 0 || c.MinTTL < 0 || c.MaxTTL < 0 {
		errs = append(errs, fmt.Errorf("%s: timeout, minTTL and maxTTL must not be negative", field))
	}
	if c.MinTTL > 0 && c.MaxTTL > 0 && c.MinTTL > c.MaxTTL {
		errs = append(errs, fmt.Errorf("%s.minTTL: must not exceed maxTTL (%s > %s)", field, c.MinTTL.D(), c.MaxTTL.D()))
	}
	return errors.Join(errs...)
}

func (c Config) timeout() time.Duration { return or(c.Timeout.D(), defaultTimeout) }
func (c Config) minTTL() time.Duration  { return or(c.MinTTL.D(), defaultMinTTL) }
func (c Config) maxTTL() time.Duration  { return max(or(c.MaxTTL.D(), defaultMaxTTL), c.minTTL()) }

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// clamp bounds a TTL to [minTTL, maxTTL], so a TTL of 0 does not make
// Pylon ask in a loop and a TTL of a day does not leave a pool stale.
func (c Config) clamp(ttl time.Duration) time.Duration {
	return min(max(ttl, c.minTTL()), c.maxTTL())
}
