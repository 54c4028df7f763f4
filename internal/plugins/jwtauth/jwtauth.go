// Package jwtauth is the jwt-auth plugin: bearer tokens (JSON Web Tokens)
// verified against configured keys, whose claim names the consumer.
package jwtauth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/passcache"
)

func init() {
	plugin.Register("jwt-auth", "Bearer JSON Web Tokens verified against configured keys; a claim names the consumer", build)
}

// Config is the jwt-auth plugin's config.
type Config struct {
	// Keys verify signatures; a token's "kid" header picks one, or, with no
	// kid, the one key of the token's algorithm.
	Keys []Key `json:"keys"`
	// Issuer and Audience, when set, must be the token's iss and among its
	// aud.
	Issuer   string `json:"issuer,omitempty"`
	Audience string `json:"audience,omitempty"`
	// ConsumerClaim names the claim holding the consumer (default sub).
	ConsumerClaim string `json:"consumerClaim,omitempty"`
	// Header carries the token (default Authorization, as "Bearer TOKEN";
	// any other header holds the bare token). Cookie and Query, when set,
	// are tried after it.
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
	Query  string `json:"query,omitempty"`
	// RequireExpiration refuses tokens without exp (default true).
	RequireExpiration *bool `json:"requireExpiration,omitempty"`
	// Leeway tolerates clock skew on exp, nbf and iat (default 30s).
	Leeway ir.Duration `json:"leeway,omitempty"`
	// Realm goes in the WWW-Authenticate challenge.
	Realm string `json:"realm,omitempty"`
	// HideCredentials removes the token (header and query parameter)
	// before the request goes upstream.
	HideCredentials bool `json:"hideCredentials,omitempty"`

	keys []verifier
}

// Key is one verification key.
type Key struct {
	ID        string `json:"kid,omitempty"`
	Algorithm string `json:"algorithm"`
	// Secret is the shared secret of an HS* key; PublicKey the PEM public
	// key of an RS*, PS*, ES* or EdDSA key.
	Secret    string `json:"secret,omitempty"`
	PublicKey string `json:"publicKey,omitempty"`
}

type verifier struct {
	kid, alg string
	key      any
}

// Default fills the defaults.
func (c *Config) Default() {
	c.ConsumerClaim = "sub"
	c.Header = "Authorization"
	c.Leeway = ir.Duration(30 * time.Second)
	c.Realm = "pylon"
}

// Validate parses the keys; errors name the key's index, never a secret.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Keys) == 0 {
		errs = append(errs, plugin.Errorf("keys", "must list at least one key"))
	}
	kids := map[string]bool{}
	noKid := map[string]bool{}
	for i, k := range c.Keys {
		at := "keys[" + strconv.Itoa(i) + "]"
		key, err := parseKey(k)
		if err != nil {
			errs = append(errs, plugin.Errorf(at, "%v", err))
			continue
		}
		switch {
		case k.ID != "" && kids[k.ID]:
			errs = append(errs, plugin.Errorf(at+".kid", "%q is used by another key", k.ID))
		case k.ID == "" && noKid[k.Algorithm]:
			errs = append(errs, plugin.Errorf(at+".kid", "two %s keys without kid: a token could not say which one signed it", k.Algorithm))
		}
		if k.ID != "" {
			kids[k.ID] = true
		} else {
			noKid[k.Algorithm] = true
		}
		c.keys = append(c.keys, verifier{kid: k.ID, alg: k.Algorithm, key: key})
	}
	if c.ConsumerClaim == "" {
		errs = append(errs, plugin.Errorf("consumerClaim", "must name a claim"))
	}
	if !httpguts.ValidHeaderFieldName(c.Header) {
		errs = append(errs, plugin.Errorf("header", "must be a header name (got %q)", c.Header))
	}
	if c.Leeway < 0 {
		errs = append(errs, plugin.Errorf("leeway", "must not be negative"))
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n\x00") {
		errs = append(errs, plugin.Errorf("realm", "must not contain quotes, backslashes or control characters"))
	}
	return errors.Join(errs...)
}

// parseKey turns a configured key into what jwt verifies with.
func parseKey(k Key) (any, error) {
	needSecret := func() (any, error) {
		if k.Secret == "" || k.PublicKey != "" {
			return nil, fmt.Errorf("%s needs secret (and no publicKey)", k.Algorithm)
		}
		return []byte(k.Secret), nil
	}
	needPEM := func(parse func([]byte) (any, error)) (any, error) {
		if k.PublicKey == "" || k.Secret != "" {
			return nil, fmt.Errorf("%s needs publicKey, PEM (and no secret)", k.Algorithm)
		}
		key, err := parse([]byte(k.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("publicKey: %v", err)
		}
		return key, nil
	}
	switch k.Algorithm {
	case "HS256", "HS384", "HS512":
		return needSecret()
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return needPEM(func(b []byte) (any, error) { return jwt.ParseRSAPublicKeyFromPEM(b) })
	case "ES256", "ES384", "ES512":
		return needPEM(func(b []byte) (any, error) { return jwt.ParseECPublicKeyFromPEM(b) })
	case "EdDSA":
		return needPEM(func(b []byte) (any, error) { return jwt.ParseEdPublicKeyFromPEM(b) })
	}
	return nil, fmt.Errorf("algorithm must be HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA (got %q)", k.Algorithm)
}

// Auth is one jwt-auth instance.
type Auth struct {
	cfg       *Config
	parser    *jwt.Parser
	bearer    bool // the header is Authorization: "Bearer TOKEN"
	challenge string
	denied    *plugin.Counter

	// ok caches tokens that passed, by their SHA-256, until they expire:
	// a client sends the same token with every request, and verifying a
	// signature costs microseconds (RSA, ECDSA). Failures are never
	// cached.
	ok passcache.Cache[passed]
}

type passed struct {
	consumer string
	until    time.Time // exp minus nothing: leeway is only for verification
}

var _ plugin.AccessHandler = (*Auth)(nil)

func build(cfg *Config, env *plugin.Env) (*Auth, error) {
	algs := make([]string, 0, len(cfg.keys))
	for _, k := range cfg.keys {
		algs = append(algs, k.alg)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(algs), jwt.WithLeeway(cfg.Leeway.D())}
	if cfg.RequireExpiration == nil || *cfg.RequireExpiration {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a := &Auth{cfg: cfg, parser: jwt.NewParser(opts...), bearer: strings.EqualFold(cfg.Header, "Authorization"),
		challenge: `Bearer realm="` + cfg.Realm + `"`}
	if env != nil {
		a.denied = env.Counter("denied")
	}
	return a, nil
}

// Access lets a request with a valid token on, as the token's consumer,
// and answers 401 with a Bearer challenge otherwise.
func (a *Auth) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	token, from := a.token(c)
	if len(token) == 0 {
		return a.deny(c, "")
	}
	consumer, ok := a.verify(token)
	if !ok {
		return a.deny(c, `, error="invalid_token"`)
	}
	if a.cfg.HideCredentials {
		switch from {
		case "header":
			c.DelHeader(a.cfg.Header)
		case "query":
			if q, removed := plugin.DropQueryParam(string(c.RawQuery()), a.cfg.Query); removed {
				c.SetQuery(q)
			}
		}
	}
	plugin.Authenticate(c, consumer)
	return plugin.Continue
}

func (a *Auth) deny(c plugin.Ctx, errParam string) plugin.Action {
	if a.denied != nil {
		a.denied.Inc()
	}
	c.SetResponseHeader("WWW-Authenticate", a.challenge+errParam)
	c.Respond(401, []byte("401 a valid bearer token is required\n"))
	return plugin.Stop
}

// token finds the token: the header first, then the cookie, then the
// query parameter. The bytes are the request's: valid during the hook.
func (a *Auth) token(c plugin.Ctx) ([]byte, string) {
	if v, ok := c.Header(a.cfg.Header); ok && len(v) > 0 {
		if !a.bearer {
			return v, "header"
		}
		if len(v) > 7 && bytes.EqualFold(v[:7], []byte("bearer ")) {
			return bytes.TrimSpace(v[7:]), "header"
		}
	}
	if a.cfg.Cookie != "" {
		if v, ok := c.Cookie(a.cfg.Cookie); ok && len(v) > 0 {
			return v, "cookie"
		}
	}
	if a.cfg.Query != "" {
		if v, ok := c.Query(a.cfg.Query); ok && len(v) > 0 {
			return v, "query"
		}
	}
	return nil, ""
}

// verify checks a token (from the cache when it passed before and has not
// expired) and returns its consumer.
func (a *Auth) verify(token []byte) (string, bool) {
	sum := sha256.Sum256(token)
	if p, hit := a.ok.Get(sum); hit && time.Now().Before(p.until) {
		return p.consumer, true
	}
	t, err := a.parser.Parse(string(token), a.keyFor)
	if err != nil || !t.Valid {
		return "", false
	}
	claims, _ := t.Claims.(jwt.MapClaims)
	consumer, _ := claims[a.cfg.ConsumerClaim].(string)
	if consumer == "" || len(consumer) > 253 || !httpguts.ValidHeaderFieldValue(consumer) {
		return "", false // no usable consumer: refused rather than let through anonymous
	}
	until := time.Now().Add(time.Hour)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil && exp.Before(until) {
		until = exp.Time
	}
	a.ok.Put(sum, passed{consumer: consumer, until: until})
	return consumer, true
}

// keyFor picks the verification key of a token: the key of its kid, else
// the key without a kid for its algorithm. A key only ever verifies its
// own algorithm (no HMAC with an RSA public key as the secret).
func (a *Auth) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	alg := t.Method.Alg()
	if kid != "" {
		for _, k := range a.cfg.keys {
			if k.kid == kid && k.alg == alg {
				return k.key, nil
			}
		}
	}
	for _, k := range a.cfg.keys {
		if k.kid == "" && k.alg == alg {
			return k.key, nil
		}
	}
	return nil, errors.New("no key for this token")
}
