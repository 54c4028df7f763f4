package ir

import (
	"regexp"
	"strings"
)

// KindDiscoveryProvider is one connection to a service registry (a DNS
// server, a Consul agent, a Nacos, Eureka or ZooKeeper ensemble) that
// services name in their discovery block. In files it is an entry of the
// top-level discovery list; the admin API calls them discoveryproviders.
const KindDiscoveryProvider Kind = "discoveryprovider"

// DiscoveryProvider is one registry connection, shared by every service
// that names it. It has exactly one provider block; the block's fields
// belong to the provider's package (internal/discovery/<kind>), which
// checks them when the object is compiled, as plugin configs are.
type DiscoveryProvider struct {
	Name      string         `json:"name" yaml:"name"`
	DNS       map[string]any `json:"dns,omitempty" yaml:"dns,omitempty"`
	Nacos     map[string]any `json:"nacos,omitempty" yaml:"nacos,omitempty"`
	Eureka    map[string]any `json:"eureka,omitempty" yaml:"eureka,omitempty"`
	Consul    map[string]any `json:"consul,omitempty" yaml:"consul,omitempty"`
	ZooKeeper map[string]any `json:"zookeeper,omitempty" yaml:"zookeeper,omitempty"`
}

func (d *DiscoveryProvider) ResourceKind() Kind   { return KindDiscoveryProvider }
func (d *DiscoveryProvider) ResourceName() string { return d.Name }

// blocks names the provider blocks with their fields, in a fixed order.
func (d *DiscoveryProvider) blocks() []namedBlock {
	return []namedBlock{{"dns", d.DNS}, {"nacos", d.Nacos}, {"eureka", d.Eureka}, {"consul", d.Consul}, {"zookeeper", d.ZooKeeper}}
}

type namedBlock struct {
	name   string
	config map[string]any
}

// Blocks lists the provider blocks that are set, by name.
func (d *DiscoveryProvider) Blocks() []string {
	var set []string
	for _, b := range d.blocks() {
		if b.config != nil {
			set = append(set, b.name)
		}
	}
	return set
}

// Block returns the provider block of a valid provider: its name ("dns")
// and its fields.
func (d *DiscoveryProvider) Block() (string, map[string]any) {
	for _, b := range d.blocks() {
		if b.config != nil {
			return b.name, b.config
		}
	}
	return "", nil
}

// providerNameRE: a provider name is a DNS label, as metrics and /readyz
// print it.
var providerNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the name and that exactly one block is set.
func (d *DiscoveryProvider) Validate() error {
	p := &problems{kind: KindDiscoveryProvider, name: d.Name}
	if !providerNameRE.MatchString(d.Name) {
		p.add("name", "must be 1-63 lowercase letters, digits and dashes (got %q)", d.Name)
	}
	switch set := d.Blocks(); len(set) {
	case 0:
		var all []string
		for _, b := range d.blocks() {
			all = append(all, b.name)
		}
		p.add("", "a provider block is required (one of %s)", strings.Join(all, ", "))
	case 1:
	default:
		p.add("", "exactly one provider block is allowed (got %s)", strings.Join(set, ", "))
	}
	return p.err()
}

// ServiceDiscovery makes a service take its endpoints from a discovery
// provider (a DiscoveryProvider object) instead of a fixed list: the
// provider's sets go straight into the service's pool.
type ServiceDiscovery struct {
	// Provider names a DiscoveryProvider (an entry of the top-level
	// discovery list in files).
	Provider string `json:"provider" yaml:"provider"`
	// Name is the DNS name (A/AAAA) or the registry's service name; SRV a
	// DNS SRV name, instead of Name and Port.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	SRV  string `json:"srv,omitempty" yaml:"srv,omitempty"`
	// Port is the port of A/AAAA answers and of registries without one.
	Port       int      `json:"port,omitempty" yaml:"port,omitempty"`
	Tags       []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	Namespace  string   `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Partition  string   `json:"partition,omitempty" yaml:"partition,omitempty"`
	Datacenter string   `json:"datacenter,omitempty" yaml:"datacenter,omitempty"`
	Group      string   `json:"group,omitempty" yaml:"group,omitempty"`
	Clusters   []string `json:"clusters,omitempty" yaml:"clusters,omitempty"`
	App        string   `json:"app,omitempty" yaml:"app,omitempty"`
	Path       string   `json:"path,omitempty" yaml:"path,omitempty"`
	Layout     string   `json:"layout,omitempty" yaml:"layout,omitempty"`
	// KeepLastKnown keeps serving the last non-empty set when the provider
	// answers with none (default true: a registry hiccup must not empty a
	// pool); false: empty means empty (503).
	KeepLastKnown *bool `json:"keepLastKnown,omitempty" yaml:"keepLastKnown,omitempty"`
}

// KeepsLastKnown reports KeepLastKnown with its default.
func (d *ServiceDiscovery) KeepsLastKnown() bool { return d.KeepLastKnown == nil || *d.KeepLastKnown }

// validate checks what the service alone can tell; whether the provider
// exists and knows the query's fields is checked when the service is
// compiled against its DiscoveryProvider.
func (d *ServiceDiscovery) validate(p *problems, hasEndpoints bool) {
	if hasEndpoints {
		p.add("discovery", "set either endpoints or discovery, not both")
	}
	if strings.TrimSpace(d.Provider) == "" {
		p.add("discovery.provider", "is required (the name of a discovery provider)")
	}
	switch {
	case d.Name == "" && d.SRV == "" && d.App == "" && d.Path == "":
		p.add("discovery", "one of name or srv is required")
	case d.Name != "" && d.SRV != "":
		p.add("discovery.srv", "set either name or srv, not both")
	}
	if d.Port < 0 || d.Port > 65535 {
		p.add("discovery.port", "must be 1-65535 (got %d)", d.Port)
	}
	if d.SRV != "" && d.Port != 0 {
		p.add("discovery.port", "an SRV answer carries its ports; leave port out")
	}
}
