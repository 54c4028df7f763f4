// Package basicauth is the basic-auth plugin: HTTP Basic authentication
// against an htpasswd file, as nginx's auth_basic does.
package basicauth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/passcache"
)

func init() {
	plugin.Register("basic-auth", "HTTP Basic authentication against an htpasswd file (bcrypt, apr1, SHA1)", build)
}

// Config is the basic-auth plugin's config.
type Config struct {
	// Htpasswd holds the users: one user:hash line each, as written by
	// Apache's htpasswd (bcrypt with -B is best).
	Htpasswd string `json:"htpasswd"`
	// Realm is shown by browsers in the login prompt (default
	// "Authentication Required").
	Realm string `json:"realm,omitempty"`
	// HideCredentials removes the Authorization header before the request
	// goes upstream (default false: the upstream sees it, as with nginx).
	HideCredentials bool `json:"hideCredentials,omitempty"`

	users map[string]hash
}

// Validate parses the htpasswd text; errors name the line and user.
func (c *Config) Validate() error {
	var errs []error
	users, err := parseHtpasswd(c.Htpasswd)
	if err != nil {
		errs = append(errs, plugin.Errorf("htpasswd", "%v", err))
	}
	c.users = users
	if strings.ContainsAny(c.Realm, "\"\\\r\n\x00") {
		errs = append(errs, plugin.Errorf("realm", "must not contain quotes, backslashes or control characters"))
	}
	return errors.Join(errs...)
}

// Auth is one basic-auth instance.
type Auth struct {
	users     map[string]hash
	challenge string
	hide      bool
	// ok caches credentials that passed, by a hash of user, password and
	// stored hash: bcrypt costs tens of milliseconds per check, and a
	// browser sends the same credentials with every request. Failures are
	// never cached.
	ok     passcache.Cache[struct{}]
	denied *plugin.Counter
}

var _ plugin.AccessHandler = (*Auth)(nil)

func build(cfg *Config, env *plugin.Env) (*Auth, error) {
	realm := cfg.Realm
	if realm == "" {
		realm = "Authentication Required"
	}
	return &Auth{
		users: cfg.users, hide: cfg.HideCredentials,
		challenge: `Basic realm="` + realm + `", charset="UTF-8"`,
		denied:    env.Counter("denied"),
	}, nil
}

// Access lets the request on with valid credentials and answers 401 with
// a challenge otherwise.
func (a *Auth) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if user, pass, ok := basicCredentials(c); ok && a.valid(user, pass) {
		if a.hide {
			c.DelHeader("Authorization")
		}
		plugin.Authenticate(c, user)
		return plugin.Continue
	}
	a.denied.Inc()
	c.SetResponseHeader("WWW-Authenticate", a.challenge)
	c.Respond(401, []byte("401 authorization required\n"))
	return plugin.Stop
}

func (a *Auth) valid(user, pass string) bool {
	h, ok := a.users[user]
	if !ok {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + h.value))
	if _, hit := a.ok.Get(key); hit {
		return true
	}
	if !h.check(pass) {
		return false
	}
	a.ok.Put(key, struct{}{})
	return true
}

// basicCredentials reads "Authorization: Basic base64(user:pass)".
func basicCredentials(c plugin.Ctx) (user, pass string, ok bool) {
	v, ok := c.Header("Authorization")
	if !ok || len(v) < 6 || !strings.EqualFold(string(v[:6]), "basic ") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(v[6:])))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}
