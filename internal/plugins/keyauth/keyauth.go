// Package keyauth is the key-auth plugin: API keys sent in a header (or a
// query parameter), each naming the consumer it belongs to.
package keyauth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("key-auth", "API keys in a header or query parameter, each naming its consumer", build)
}

// Config is the key-auth plugin's config.
type Config struct {
	// Header carries the key (default X-API-Key).
	Header string `json:"header,omitempty"`
	// Query, when set, also accepts the key as this query parameter.
	Query string `json:"query,omitempty"`
	// Keys are the valid keys and the consumer each authenticates.
	Keys []Key `json:"keys"`
	// HideCredentials removes the key (header and query parameter) before
	// the request goes upstream.
	HideCredentials bool `json:"hideCredentials,omitempty"`

	digests map[[32]byte]string
}

// Key is one API key: the key itself, or its SHA-256 (hex), so the config
// need not hold the secret.
type Key struct {
	Consumer string `json:"consumer"`
	Key      string `json:"key,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() { c.Header = "X-API-Key" }

// Validate checks the keys; errors name the key's index, never the key.
func (c *Config) Validate() error {
	var errs []error
	if !httpguts.ValidHeaderFieldName(c.Header) {
		errs = append(errs, plugin.Errorf("header", "must be a header name (got %q)", c.Header))
	}
	if c.Query != "" && url.QueryEscape(c.Query) != c.Query {
		errs = append(errs, plugin.Errorf("query", "must be a plain parameter name (got %q)", c.Query))
	}
	if len(c.Keys) == 0 {
		errs = append(errs, plugin.Errorf("keys", "must list at least one key"))
	}
	c.digests = make(map[[32]byte]string, len(c.Keys))
	for i, k := range c.Keys {
		at := func(f string) string { return "keys[" + strconv.Itoa(i) + "]" + f }
		if !ir.ValidConsumerName(k.Consumer) {
			errs = append(errs, plugin.Errorf(at(".consumer"), "must be a consumer name (letters, digits, '-', '.', '_', '@', '+'; got %q)", k.Consumer))
		}
		var d [32]byte
		switch {
		case (k.Key == "") == (k.SHA256 == ""):
			errs = append(errs, plugin.Errorf(at(""), "set exactly one of key and sha256"))
			continue
		case k.Key != "":
			d = sha256.Sum256([]byte(k.Key))
		default:
			b, err := hex.DecodeString(k.SHA256)
			if err != nil || len(b) != len(d) {
				errs = append(errs, plugin.Errorf(at(".sha256"), "must be 64 hex digits (the SHA-256 of the key)"))
				continue
			}
			copy(d[:], b)
		}
		if prev, dup := c.digests[d]; dup {
			errs = append(errs, plugin.Errorf(at(""), "the same key as another entry (consumer %q)", prev))
			continue
		}
		c.digests[d] = k.Consumer
	}
	return errors.Join(errs...)
}

// Auth is one key-auth instance.
type Auth struct {
	header, query string
	keys          map[[32]byte]string // SHA-256 of the key → consumer
	hide          bool
	denied        *plugin.Counter
}

var _ plugin.AccessHandler = (*Auth)(nil)

func build(cfg *Config, env *plugin.Env) (*Auth, error) {
	a := &Auth{header: cfg.Header, query: cfg.Query, keys: cfg.digests, hide: cfg.HideCredentials}
	if env != nil {
		a.denied = env.Counter("denied")
	}
	return a, nil
}

var unauthorized = []byte("401 invalid or missing API key\n")

// Access lets a request with a known key on, as that key's consumer, and
// answers 401 otherwise. Keys are compared by their SHA-256, so the time a
// lookup takes says nothing about how much of a key was right.
func (a *Auth) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	key, inHeader := c.Header(a.header)
	if !inHeader && a.query != "" {
		key, _ = c.Query(a.query)
	}
	consumer, ok := "", false
	if len(key) > 0 {
		consumer, ok = a.keys[sha256.Sum256(key)]
	}
	if !ok {
		if a.denied != nil {
			a.denied.Inc()
		}
		c.Respond(401, unauthorized)
		return plugin.Stop
	}
	if a.hide {
		c.DelHeader(a.header)
		if a.query != "" {
			if q, removed := plugin.DropQueryParam(string(c.RawQuery()), a.query); removed {
				c.SetQuery(q)
			}
		}
	}
	plugin.Authenticate(c, consumer)
	return plugin.Continue
}
