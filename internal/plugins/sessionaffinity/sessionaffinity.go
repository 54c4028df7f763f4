// Package sessionaffinity is the session-affinity plugin: it keeps a client
// on one endpoint with a cookie, as ingress-nginx's "affinity: cookie" does.
//
// The route's service hashes on the cookie (loadBalancer consistentHash,
// hashOn.cookie); this plugin makes sure every request has one. A request
// without the cookie gets a fresh random value before the endpoint is
// picked, so its first request already lands where the following ones will,
// and the response hands the value to the client in Set-Cookie.
package sessionaffinity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("session-affinity", "Keeps a client on one endpoint: issues the cookie a consistent-hash service hashes on", build)
}

// Config is the session-affinity plugin's config.
type Config struct {
	// Cookie names the cookie (default INGRESSCOOKIE, as ingress-nginx).
	// The service must hash on the same cookie.
	Cookie string `json:"cookie,omitempty"`
	// Path is the cookie's Path (default "/").
	Path string `json:"path,omitempty"`
	// MaxAge is the cookie's lifetime; 0 makes it a session cookie.
	MaxAge ir.Duration `json:"maxAge,omitempty"`
	// Secure marks the cookie Secure (sent over HTTPS only).
	Secure bool `json:"secure,omitempty"`
	// SameSite is Lax, Strict, None or empty (not sent).
	SameSite string `json:"sameSite,omitempty"`
}

// Validate checks the config, naming each wrong field.
func (c *Config) Validate() error {
	var errs []error
	if c.Cookie != "" && !httpguts.ValidHeaderFieldName(c.Cookie) {
		errs = append(errs, plugin.Errorf("cookie", "must be a cookie name (got %q)", c.Cookie))
	}
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, ";\r\n\x00 ")) {
		errs = append(errs, plugin.Errorf("path", "must be a path starting with '/' without ';' or spaces (got %q)", c.Path))
	}
	if c.MaxAge < 0 {
		errs = append(errs, plugin.Errorf("maxAge", "must not be negative"))
	}
	switch c.SameSite {
	case "", "Lax", "Strict", "None":
	default:
		errs = append(errs, plugin.Errorf("sameSite", "must be Lax, Strict or None (got %q)", c.SameSite))
	}
	return errors.Join(errs...)
}

// Affinity is one session-affinity instance; read-only after build.
type Affinity struct {
	cookie string
	attrs  string // "; Path=/; Max-Age=…; HttpOnly…"
	issued *plugin.Counter
}

var (
	_ plugin.RequestHandler  = (*Affinity)(nil)
	_ plugin.ResponseHandler = (*Affinity)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Affinity, error) {
	a := &Affinity{cookie: cfg.Cookie, issued: env.Counter("issued")}
	if a.cookie == "" {
		a.cookie = "INGRESSCOOKIE"
	}
	path := cfg.Path
	if path == "" {
		path = "/"
	}
	attrs := "; Path=" + path
	if cfg.MaxAge > 0 {
		attrs += "; Max-Age=" + strconv.FormatInt(int64(cfg.MaxAge.D()/time.Second), 10)
	}
	attrs += "; HttpOnly"
	if cfg.Secure {
		attrs += "; Secure"
	}
	if cfg.SameSite != "" {
		attrs += "; SameSite=" + cfg.SameSite
	}
	a.attrs = attrs
	return a, nil
}

// Request gives a request without the cookie a new value, before the
// endpoint is picked by hashing on it.
func (a *Affinity) Request(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	if v, ok := c.Cookie(a.cookie); ok && len(v) > 0 {
		return plugin.Continue
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	v := hex.EncodeToString(b[:])
	c.AddHeader("Cookie", a.cookie+"="+v)
	s.P = v
	return plugin.Continue
}

// Response hands a newly issued value to the client.
func (a *Affinity) Response(c plugin.Ctx, s *plugin.Slot) {
	if v, ok := s.P.(string); ok {
		a.issued.Inc()
		c.AddResponseHeader("Set-Cookie", a.cookie+"="+v+a.attrs)
	}
}
