// Package providers reads DiscoveryProvider objects (the entries of the
// files' discovery list, the admin API's discoveryproviders): each names a
// connection to one registry, with exactly one provider block. A provider
// kind is one entry of the kinds table (its package's Config, Validate and
// New), so adding a kind (ZooKeeper, say) is a line here and a field below.
package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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

// Query converts a service's discovery block to the provider's terms.
func Query(d *ir.ServiceDiscovery) discovery.Query {
	return discovery.Query{Name: d.Name, SRV: d.SRV, Port: d.Port, Tags: d.Tags, Namespace: d.Namespace,
		Partition: d.Partition, Datacenter: d.Datacenter, Group: d.Group, Clusters: d.Clusters,
		App: d.App, Path: d.Path, Layout: d.Layout}
}

// CheckQuery checks a service's discovery block against the provider it
// names, a valid one (FromObject passed it): the provider's kind must know
// the query's fields. It reads only the kind, so checking many services
// does not decode the provider again for each.
func CheckQuery(p *ir.DiscoveryProvider, d *ir.ServiceDiscovery) error {
	name, _ := p.Block()
	for i := range kinds {
		if kinds[i].name == name {
			return kinds[i].check(Query(d))
		}
	}
	return fmt.Errorf("provider %q has no provider block", p.Name)
}

// FromObject reads a DiscoveryProvider object as its provider's Config:
// the block is decoded strictly (an unknown field or a wrong type is an
// error) and checked as the provider checks it. Problems are field errors
// naming the object and the field ("dns.servers[1]").
func FromObject(p *ir.DiscoveryProvider) (Config, error) {
	if err := p.Validate(); err != nil {
		return Config{}, err
	}
	block, fields := p.Block()
	fail := func(field, msg string) (Config, error) {
		return Config{}, &ir.FieldError{Kind: ir.KindDiscoveryProvider, Name: p.Name, Field: field, Msg: msg}
	}
	// The block is encoded by itself, not with the object, whose
	// omitempty would drop an empty block: {} must reach the provider's
	// check and be told what it lacks.
	raw, err := json.Marshal(map[string]any{"name": p.Name, block: fields})
	if err != nil {
		return fail(block, err.Error())
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fail(te.Field, fmt.Sprintf("must be %s, not %s", te.Type, te.Value))
		}
		return fail(block, strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := c.kind().valid(&c, block); err != nil {
		var errs []error
		for _, fe := range ir.FieldErrors(err) {
			field, msg, ok := strings.Cut(fe.Msg, ": ")
			if !ok {
				field, msg = block, fe.Msg
			}
			errs = append(errs, &ir.FieldError{Kind: ir.KindDiscoveryProvider, Name: p.Name, Field: field, Msg: msg})
		}
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// OpenOne connects the provider of a Config FromObject gave.
func OpenOne(c Config, log *slog.Logger) (discovery.Provider, error) {
	return c.kind().open(&c, log)
}
