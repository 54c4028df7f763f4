package ir

import (
	"fmt"
	"regexp"
	"strings"
)

// PluginRef attaches one plugin, with its config, to a route, a host policy
// or (as a GlobalPlugin) to every route. The config is the plugin's own:
// the IR keeps it as plain data and the compile stage decodes and validates
// it against the plugin's typed config, so a bad field is reported as
// plugins[0].config.rate with the plugin's name.
type PluginRef struct {
	Name   string         `json:"name" yaml:"name"`
	Config map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
	// Disabled turns off a plugin of this name inherited from a wider scope
	// (a host policy or a global plugin) for this route or host.
	Disabled bool `json:"disabled,omitempty" yaml:"disabled,omitempty"`
	// Instance, on a route's plugin, names an instance that routes share:
	// routes naming the same instance with the same config share one
	// instance and its state (one limit for all of them), where each route
	// otherwise has its own. Host policies and global plugins are shared
	// by their routes already.
	Instance string `json:"instance,omitempty" yaml:"instance,omitempty"`
}

var pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// ValidPluginName reports whether s can name a plugin.
func ValidPluginName(s string) bool { return pluginNameRE.MatchString(s) }

// checkPlugins checks a plugin list's shape: names well formed and each
// plugin at most once per scope; instances only where routes is true (a
// route's list). The configs are the compile stage's to check.
func checkPlugins(p *problems, field string, refs []PluginRef, routes bool) {
	seen := map[string]bool{}
	for i, ref := range refs {
		f := fmt.Sprintf("%s[%d].name", field, i)
		switch {
		case !ValidPluginName(ref.Name):
			p.add(f, "must be a plugin name (lower-case letters, digits and '-'), got %q", ref.Name)
		case seen[ref.Name]:
			p.add(f, "plugin %q is listed twice", ref.Name)
		}
		seen[ref.Name] = true
		switch f := fmt.Sprintf("%s[%d].instance", field, i); {
		case ref.Instance == "":
		case !routes:
			p.add(f, "only a route's plugins name shared instances; these are shared by their routes already")
		case !validName(ref.Instance):
			p.add(f, "must be 1-253 characters of letters, digits, '-', '.', '_' or '/' (got %q)", ref.Instance)
		}
	}
}

// HostPolicy attaches plugins to every route serving one of its hosts
// (host scope). A route's own plugin of the same name takes precedence.
type HostPolicy struct {
	Name    string      `json:"name" yaml:"name"`
	Hosts   []string    `json:"hosts" yaml:"hosts"`
	Plugins []PluginRef `json:"plugins" yaml:"plugins"`
}

func (h *HostPolicy) ResourceKind() Kind   { return KindHostPolicy }
func (h *HostPolicy) ResourceName() string { return h.Name }

// Validate checks the policy on its own.
func (h *HostPolicy) Validate() error {
	p := &problems{kind: KindHostPolicy, name: h.Name}
	checkName(p, h.Name)
	if len(h.Hosts) == 0 {
		p.add("hosts", "must list at least one host")
	}
	seen := map[string]bool{}
	for i, host := range h.Hosts {
		f := fmt.Sprintf("hosts[%d]", i)
		if err := ValidateHost(host); err != nil {
			p.add(f, "%v", err)
			continue
		}
		if seen[NormalizeHost(host)] {
			p.add(f, "host %q is listed twice", host)
		}
		seen[NormalizeHost(host)] = true
	}
	if len(h.Plugins) == 0 {
		p.add("plugins", "must list at least one plugin")
	}
	checkPlugins(p, "plugins", h.Plugins, false)
	return p.err()
}

// DefaultHostPolicyName names a host policy written without a name, from its
// hosts ("*" reads "wildcard"), so the file form {hosts, plugins} works.
func DefaultHostPolicyName(hosts []string) string {
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		parts[i] = strings.ReplaceAll(NormalizeHost(h), "*", "wildcard")
	}
	return strings.Join(parts, "_")
}

// GlobalPlugin attaches a plugin to every route (global scope). Its name is
// the plugin's: there is at most one global instance of each plugin.
type GlobalPlugin struct {
	Name     string         `json:"name" yaml:"name"`
	Config   map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
	Disabled bool           `json:"disabled,omitempty" yaml:"disabled,omitempty"`
}

func (g *GlobalPlugin) ResourceKind() Kind   { return KindGlobalPlugin }
func (g *GlobalPlugin) ResourceName() string { return g.Name }

// Ref returns the plugin as attached.
func (g *GlobalPlugin) Ref() PluginRef {
	return PluginRef{Name: g.Name, Config: g.Config, Disabled: g.Disabled}
}

// Validate checks the entry's shape; the config is the compile stage's.
func (g *GlobalPlugin) Validate() error {
	p := &problems{kind: KindGlobalPlugin, name: g.Name}
	if !ValidPluginName(g.Name) {
		p.add("name", "must be a plugin name (lower-case letters, digits and '-'), got %q", g.Name)
	}
	return p.err()
}

// MaxConsumerPlugins bounds a consumer's plugin list.
const MaxConsumerPlugins = 8

// Consumer attaches plugins to the requests of one authenticated client
// (consumer scope): once an auth plugin of the route has named the client,
// the plugins of the consumer of that name, in the route's namespace, run
// for the rest of the request. They take precedence over a route's, host
// policy's or global plugin of the same name, and an entry with disabled:
// true turns an inherited plugin off for this consumer.
type Consumer struct {
	Name    string      `json:"name" yaml:"name"`
	Plugins []PluginRef `json:"plugins,omitempty" yaml:"plugins,omitempty"`
}

func (c *Consumer) ResourceKind() Kind   { return KindConsumer }
func (c *Consumer) ResourceName() string { return c.Name }

// Validate checks the consumer on its own; which plugins may be attached
// to a consumer, and their configs, are the compile stage's to check.
func (c *Consumer) Validate() error {
	p := &problems{kind: KindConsumer, name: c.Name}
	if !ValidConsumerName(c.Name) {
		p.add("name", "must be 1-253 characters of letters, digits, '-', '.', '_', '@' or '+', not '.' or '..' (auth plugins name consumers by user name; got %q)", c.Name)
	}
	if len(c.Plugins) > MaxConsumerPlugins {
		p.add("plugins", "at most %d plugins per consumer, got %d", MaxConsumerPlugins, len(c.Plugins))
	}
	checkPlugins(p, "plugins", c.Plugins, false)
	return p.err()
}

// ValidConsumerName accepts the user names auth plugins report (e-mail
// addresses included), as long as they stay one safe URL path segment.
func ValidConsumerName(s string) bool {
	if s == "" || len(s) > 253 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '@', c == '+':
		default:
			return false
		}
	}
	return true
}
