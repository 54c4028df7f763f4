// Package providers reads the top-level discovery list: each entry names a
// connection to one registry, with exactly one provider block. A provider
// kind is one entry of the kinds table (its package's Config, Validate and
// New), so adding a kind (ZooKeeper, say) is a line here and a field below.
package providers

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/consul"
	"pylon.io/pylon/internal/discovery/dns"
	"pylon.io/pylon/internal/discovery/eureka"
	"pylon.io/pylon/internal/discovery/nacos"
	"pylon.io/pylon/internal/discovery/zookeeper"
	"pylon.io/pylon/internal/ir"
)

// Config is one entry of the discovery list.
type Config struct {
	Name      string            `json:"name" yaml:"name"`
	DNS       *dns.Config       `json:"dns,omitempty" yaml:"dns,omitempty"`
	Nacos     *nacos.Config     `json:"nacos,omitempty" yaml:"nacos,omitempty"`
	Eureka    *eureka.Config    `json:"eureka,omitempty" yaml:"eureka,omitempty"`
	Consul    *consul.Config    `json:"consul,omitempty" yaml:"consul,omitempty"`
	ZooKeeper *zookeeper.Config `json:"zookeeper,omitempty" yaml:"zookeeper,omitempty"`
}

// kind is one provider kind: how to find its block in a Config, check it
// and open it, and check a service's query against it.
type kind struct {
	name  string
	block func(c *Config) any // nil when c has no block of this kind
	valid func(c *Config, field string) error
	open  func(c *Config, log *slog.Logger) (discovery.Provider, error)
	check func(q discovery.Query) error
}

// kinds lists the provider kinds, one entry each.
var kinds = []kind{
	{"dns", func(c *Config) any { return nilIf(c.DNS) },
		func(c *Config, f string) error { return c.DNS.Validate(f) },
		func(c *Config, log *slog.Logger) (discovery.Provider, error) { return dns.New(*c.DNS, log) }, dns.Check},
	{"nacos", func(c *Config) any { return nilIf(c.Nacos) },
		func(c *Config, f string) error { return c.Nacos.Validate(f) },
		func(c *Config, log *slog.Logger) (discovery.Provider, error) { return nacos.New(*c.Nacos, log) }, nacos.Check},
	{"eureka", func(c *Config) any { return nilIf(c.Eureka) },
		func(c *Config, f string) error { return c.Eureka.Validate(f) },
		func(c *Config, log *slog.Logger) (discovery.Provider, error) { return eureka.New(*c.Eureka, log) }, eureka.Check},
	{"consul", func(c *Config) any { return nilIf(c.Consul) },
		func(c *Config, f string) error { return c.Consul.Validate(f) },
		func(c *Config, log *slog.Logger) (discovery.Provider, error) { return consul.New(*c.Consul, log) }, consul.Check},
	{"zookeeper", func(c *Config) any { return nilIf(c.ZooKeeper) },
		func(c *Config, f string) error { return c.ZooKeeper.Validate(f) },
		func(c *Config, log *slog.Logger) (discovery.Provider, error) { return zookeeper.New(*c.ZooKeeper, log) }, zookeeper.Check},
}

func nilIf[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

func (c *Config) kind() *kind {
	for i := range kinds {
		if kinds[i].block(c) != nil {
			return &kinds[i]
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the list: names unique, exactly one block each, each
// block valid. Problems name their field ("discovery[0].dns.servers[1]").
func Validate(list []Config) error {
	var errs []error
	seen := map[string]int{}
	for i := range list {
		c := &list[i]
		f := fmt.Sprintf("discovery[%d]", i)
		switch j, dup := seen[c.Name]; {
		case !nameRE.MatchString(c.Name):
			errs = append(errs, fmt.Errorf("%s.name: must be 1-63 lowercase letters, digits and dashes (got %q)", f, c.Name))
		case dup:
			errs = append(errs, fmt.Errorf("%s.name: %q is also discovery[%d]", f, c.Name, j))
		}
		seen[c.Name] = i
		var set []string
		for _, k := range kinds {
			if k.block(c) != nil {
				set = append(set, k.name)
			}
		}
		switch len(set) {
		case 0:
			errs = append(errs, fmt.Errorf("%s: a provider block is required (one of %s)", f, kindNames()))
		case 1:
			k := c.kind()
			if err := k.valid(c, f+"."+k.name); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, fmt.Errorf("%s: exactly one provider block is allowed (got %v)", f, set))
		}
	}
	return errors.Join(errs...)
}

func kindNames() string {
	s := ""
	for i, k := range kinds {
		if i > 0 {
			s += ", "
		}
		s += k.name
	}
	return s
}

// Query converts a service's discovery block to the provider's terms.
func Query(d *ir.ServiceDiscovery) discovery.Query {
	return discovery.Query{Name: d.Name, SRV: d.SRV, Port: d.Port, Tags: d.Tags, Namespace: d.Namespace,
		Partition: d.Partition, Datacenter: d.Datacenter, Group: d.Group, Clusters: d.Clusters,
		App: d.App, Path: d.Path, Layout: d.Layout}
}

// CheckService checks a service's discovery block against the list: the
// provider must exist and know the query. field names the block
// ("services[3].discovery", or "service \"api\": discovery").
func CheckService(list []Config, field string, d *ir.ServiceDiscovery) error {
	for i := range list {
		if list[i].Name != d.Provider {
			continue
		}
		k := list[i].kind()
		if k == nil {
			return nil // Validate reports the entry
		}
		if err := k.check(Query(d)); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		return nil
	}
	return fmt.Errorf("%s.provider: unknown provider %q", field, d.Provider)
}

// Open connects every provider of a valid list, by name. A registry that
// is down does not fail Open: providers reconnect by themselves.
func Open(list []Config, log *slog.Logger) (map[string]discovery.Provider, error) {
	out := map[string]discovery.Provider{}
	for i := range list {
		c := &list[i]
		k := c.kind()
		if k == nil {
			return nil, fmt.Errorf("discovery[%d]: a provider block is required", i)
		}
		p, err := k.open(c, log)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("discovery[%d] (%s): %w", i, c.Name, err)
		}
		out[c.Name] = p
	}
	return out, nil
}
