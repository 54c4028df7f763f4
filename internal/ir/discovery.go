package ir

import "strings"

// ServiceDiscovery makes a service take its endpoints from a discovery
// provider (the top-level discovery list) instead of a fixed list: the
// provider's sets go straight into the service's pool.
type ServiceDiscovery struct {
	// Provider names an entry of the top-level discovery list.
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
// exists and knows the query's fields is checked against the discovery
// list (it is a process setting, not an object).
func (d *ServiceDiscovery) validate(p *problems, hasEndpoints bool) {
	if hasEndpoints {
		p.add("discovery", "set either endpoints or discovery, not both")
	}
	if strings.TrimSpace(d.Provider) == "" {
		p.add("discovery.provider", "is required (a name from the top-level discovery list)")
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
