// Package iprestriction is the ip-restriction plugin: it admits or refuses
// requests by the client's address, against CIDR allow and deny lists,
// reading the address through trusted proxies' X-Forwarded-For.
package iprestriction

import (
	"errors"
	"net/http"
	"net/netip"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("ip-restriction", "Allows or denies requests by client address (CIDR lists, trusted proxies)", build)
}

// Config is the ip-restriction plugin's config.
type Config struct {
	// Allow lists the addresses admitted (CIDRs or single addresses); when
	// set, every other address is refused.
	Allow []string `json:"allow,omitempty"`
	// Deny lists addresses refused, even when Allow covers them.
	Deny []string `json:"deny,omitempty"`
	// TrustedProxies are the peers whose client-address header is believed.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// ClientIPHeader names the header trusted proxies put the client in.
	ClientIPHeader string `json:"clientIPHeader,omitempty"`
	// Status answers a refused request.
	Status int `json:"status,omitempty"`
	// Message is the body of that answer.
	Message string `json:"message,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() {
	c.ClientIPHeader = "X-Forwarded-For"
	c.Status = http.StatusForbidden
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		errs = append(errs, plugin.Errorf("", "allow or deny must list at least one address"))
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"allow", c.Allow}, {"deny", c.Deny}, {"trustedProxies", c.TrustedProxies}} {
		if _, err := plugin.ParsePrefixes(l.field, l.list); err != nil {
			errs = append(errs, err)
		}
	}
	if !httpguts.ValidHeaderFieldName(c.ClientIPHeader) {
		errs = append(errs, plugin.Errorf("clientIPHeader", "must be a header name, got %q", c.ClientIPHeader))
	}
	if c.Status < 400 || c.Status > 599 {
		errs = append(errs, plugin.Errorf("status", "must be 400-599 (got %d)", c.Status))
	}
	return errors.Join(errs...)
}

// Restriction is one ip-restriction instance.
type Restriction struct {
	allow, deny, trusted []netip.Prefix
	header               string
	status               int
	message              []byte
	denied               *plugin.Counter
}

var _ plugin.RequestHandler = (*Restriction)(nil)

func build(cfg *Config, env *plugin.Env) (*Restriction, error) {
	r := &Restriction{header: cfg.ClientIPHeader, status: cfg.Status}
	r.allow, _ = plugin.ParsePrefixes("allow", cfg.Allow)
	r.deny, _ = plugin.ParsePrefixes("deny", cfg.Deny)
	r.trusted, _ = plugin.ParsePrefixes("trustedProxies", cfg.TrustedProxies)
	r.message = []byte(cfg.Message)
	if cfg.Message == "" {
		r.message = []byte(http.StatusText(cfg.Status) + "\n")
	}
	if env != nil {
		r.denied = env.Counter("denied")
	}
	return r, nil
}

// Request refuses the request when the client's address is denied or not
// allowed. It runs in the request phase, first of all plugins, so a refused
// client costs nothing more.
func (r *Restriction) Request(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if r.Allowed(plugin.ClientAddr(c, r.trusted, r.header)) {
		return plugin.Continue
	}
	if r.denied != nil {
		r.denied.Inc()
	}
	c.Respond(r.status, r.message)
	return plugin.Stop
}

// Allowed reports whether a is admitted: not denied, and allowed when an
// allow list exists. An address that does not parse is refused.
func (r *Restriction) Allowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range r.deny {
		if p.Contains(a) {
			return false
		}
	}
	if len(r.allow) == 0 {
		return true
	}
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
