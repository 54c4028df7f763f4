// Package headers is the headers plugin: it sets, adds and removes request
// headers on the way upstream and response headers on the way back.
package headers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("headers", "Sets, adds and removes request and response headers", build)
}

// Config is the headers plugin's config.
type Config struct {
	// Request changes the request sent upstream.
	Request *Changes `json:"request,omitempty"`
	// Response changes the response sent to the client.
	Response *Changes `json:"response,omitempty"`
}

// Changes are header changes, applied in the order remove, set, add.
type Changes struct {
	// Set replaces every value of a header (or adds it).
	Set []Header `json:"set,omitempty"`
	// Add appends a value, keeping those there.
	Add []Header `json:"add,omitempty"`
	// Remove deletes headers by name.
	Remove []string `json:"remove,omitempty"`
}

// Header is one header name and value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// framing are headers the gateway owns: changing them would let a config
// desynchronise the message framing (request smuggling) or the connection.
var framing = []string{"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade"}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Request == nil && c.Response == nil {
		errs = append(errs, plugin.Errorf("", "request or response must be set"))
	}
	errs = append(errs, c.Request.validate("request", true), c.Response.validate("response", false))
	return errors.Join(errs...)
}

func (ch *Changes) validate(field string, request bool) error {
	if ch == nil {
		return nil
	}
	var errs []error
	checkName := func(f, name string) {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, plugin.Errorf(f, "must be a header name, got %q", name))
		case slices.Contains(framing, canon):
			errs = append(errs, plugin.Errorf(f, "%s is managed by the gateway and cannot be changed", canon))
		case request && canon == "Host":
			errs = append(errs, plugin.Errorf(f, "Host cannot be changed here: use the rewrite plugin's host"))
		}
	}
	for _, l := range []struct {
		name string
		hs   []Header
	}{{"set", ch.Set}, {"add", ch.Add}} {
		for i, h := range l.hs {
			f := fmt.Sprintf("%s.%s[%d]", field, l.name, i)
			checkName(f+".name", h.Name)
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				errs = append(errs, plugin.Errorf(f+".value", "must not contain CR, LF or NUL"))
			}
		}
	}
	for i, name := range ch.Remove {
		checkName(fmt.Sprintf("%s.remove[%d]", field, i), name)
	}
	if len(ch.Set)+len(ch.Add)+len(ch.Remove) == 0 {
		errs = append(errs, plugin.Errorf(field, "must set, add or remove at least one header"))
	}
	return errors.Join(errs...)
}

// Rewriter is one headers instance.
type Rewriter struct {
	req, resp *Changes
}

var (
	_ plugin.AccessHandler   = (*Rewriter)(nil)
	_ plugin.ResponseHandler = (*Rewriter)(nil)
)

func build(cfg *Config, _ *plugin.Env) (*Rewriter, error) {
	return &Rewriter{req: cfg.Request, resp: cfg.Response}, nil
}

// Access applies the request changes. It runs in the access phase, after
// authentication and limits (see the ordering table): those see the
// headers the client sent, and the upstream sees the changed ones.
func (r *Rewriter) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if ch := r.req; ch != nil {
		for _, n := range ch.Remove {
			c.DelHeader(n)
		}
		for _, h := range ch.Set {
			c.SetHeader(h.Name, h.Value)
		}
		for _, h := range ch.Add {
			c.AddHeader(h.Name, h.Value)
		}
	}
	return plugin.Continue
}

// Response applies the response changes, to upstream and local answers.
func (r *Rewriter) Response(c plugin.Ctx, _ *plugin.Slot) {
	if ch := r.resp; ch != nil {
		for _, n := range ch.Remove {
			c.DelResponseHeader(n)
		}
		for _, h := range ch.Set {
			c.SetResponseHeader(h.Name, h.Value)
		}
		for _, h := range ch.Add {
			c.AddResponseHeader(h.Name, h.Value)
		}
	}
}
