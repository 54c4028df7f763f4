package ratelimit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// Algorithms and modes, as configs name them.
const (
	TokenBucket = "token-bucket"
	FixedWindow = "fixed-window"

	ModeLocal   = "local"
	ModeCluster = "cluster"
	ModeRedis   = "redis"
)

// maxRate bounds rate (and burst): a fixed window counts in 32 bits.
const maxRate = 1_000_000_000

// Config is the rate-limit plugin's config.
type Config struct {
	// Rate is how many requests one key may make per Period (for the
	// whole fleet in cluster and redis mode).
	Rate int64 `json:"rate"`
	// Period is the time Rate is counted over (default 1s).
	Period ir.Duration `json:"period,omitempty"`
	// Algorithm is token-bucket (default; fixed-window in redis mode) or
	// fixed-window.
	Algorithm string `json:"algorithm,omitempty"`
	// Burst is the token bucket's capacity (default Rate).
	Burst int64 `json:"burst,omitempty"`
	// Key says what requests are counted by: ip, route, consumer,
	// header:NAME, cookie:NAME, or several joined with '+'.
	Key string `json:"key,omitempty"`
	// Mode is local (per node, default), cluster (Rate divided by the
	// live nodes) or redis (one count for the fleet in Redis).
	Mode string `json:"mode,omitempty"`
	// MaxKeys bounds the keys one node tracks (default 100000).
	MaxKeys int `json:"maxKeys,omitempty"`
	// RateLimitHeaders adds RateLimit-Limit, -Remaining, -Reset (and
	// Retry-After on refusals) to responses (default true).
	RateLimitHeaders bool `json:"rateLimitHeaders,omitempty"`
	// Reject is the answer to a request over the limit.
	Reject Reject `json:"reject,omitempty"`
	// Redis configures mode redis.
	Redis *RedisConfig `json:"redis,omitempty"`
}

// Reject is the answer to a refused request.
type Reject struct {
	// Status defaults to 429, or 302 with Redirect.
	Status int `json:"status,omitempty"`
	// Body is the response body (default "429 too many requests").
	Body string `json:"body,omitempty"`
	// Headers are added to the refusal.
	Headers map[string]string `json:"headers,omitempty"`
	// Redirect sends refused requests to this URL or path instead.
	Redirect string `json:"redirect,omitempty"`
}

// RedisConfig is where and how mode redis keeps its counts.
type RedisConfig struct {
	// Addresses of Redis servers (host:port). With more than one, keys
	// are spread over them by consistent hashing.
	Addresses []string `json:"addresses"`
	Username  string   `json:"username,omitempty"`
	Password  string   `json:"password,omitempty"`
	DB        int      `json:"db,omitempty"`
	TLS       bool     `json:"tls,omitempty"`
	// Timeout bounds each Redis call (default 250ms).
	Timeout ir.Duration `json:"timeout,omitempty"`
	// SyncInterval is how much of the quota a node reserves at once, as
	// time: each reservation covers the node's share for one interval
	// (default 100ms, at most Period).
	SyncInterval ir.Duration `json:"syncInterval,omitempty"`
	// FailClosed refuses every request while Redis is unreachable instead
	// of falling back to the cluster-divided share.
	FailClosed bool `json:"failClosed,omitempty"`
	// Prefix starts every Redis key (default "pylon:rl:").
	Prefix string `json:"prefix,omitempty"`
}

// Default fills the defaults that a zero value cannot express.
func (c *Config) Default() { c.RateLimitHeaders = true }

// Validate checks the config, naming each wrong field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	switch {
	case c.Rate <= 0:
		bad("rate", "must be > 0 (got %d)", c.Rate)
	case c.Rate > maxRate:
		bad("rate", "must be at most %d (got %d)", maxRate, c.Rate)
	}
	if c.Period != 0 && (c.Period.D() < time.Millisecond || c.Period.D() > 24*time.Hour) {
		bad("period", "must be between 1ms and 24h (got %s)", c.Period)
	}
	switch c.Algorithm {
	case "", TokenBucket, FixedWindow:
	default:
		bad("algorithm", "must be %s or %s (got %q)", TokenBucket, FixedWindow, c.Algorithm)
	}
	if c.Burst < 0 || c.Burst > maxRate {
		bad("burst", "must be between 0 and %d (got %d)", maxRate, c.Burst)
	}
	if c.Burst > 0 && c.algorithm() == FixedWindow {
		bad("burst", "applies to %s only", TokenBucket)
	}
	if _, err := parseKey(c.Key); err != nil {
		bad("key", "%v", err)
	}
	switch c.Mode {
	case "", ModeLocal, ModeCluster:
		if c.Redis != nil {
			bad("redis", "is used only with mode: redis")
		}
	case ModeRedis:
		if c.Algorithm == TokenBucket {
			bad("algorithm", "mode redis counts in fixed windows; use %s", FixedWindow)
		}
		if c.Redis == nil {
			bad("redis", "is required with mode: redis")
		} else {
			errs = append(errs, c.Redis.validate(c.period()))
		}
	default:
		bad("mode", "must be %s, %s or %s (got %q)", ModeLocal, ModeCluster, ModeRedis, c.Mode)
	}
	if c.MaxKeys < 0 {
		bad("maxKeys", "must be >= 0 (got %d)", c.MaxKeys)
	}
	errs = append(errs, c.Reject.validate())
	return errors.Join(errs...)
}

func (r *Reject) validate() error {
	var errs []error
	switch {
	case r.Redirect != "":
		if !strings.HasPrefix(r.Redirect, "/") && !strings.HasPrefix(r.Redirect, "http://") && !strings.HasPrefix(r.Redirect, "https://") {
			errs = append(errs, plugin.Errorf("reject.redirect", "must be a path or an http(s) URL (got %q)", r.Redirect))
		}
		if strings.ContainsAny(r.Redirect, "\r\n") {
			errs = append(errs, plugin.Errorf("reject.redirect", "must not contain line breaks"))
		}
		switch r.Status {
		case 0, 301, 302, 303, 307, 308:
		default:
			errs = append(errs, plugin.Errorf("reject.status", "must be a redirect status (301, 302, 303, 307, 308) with redirect (got %d)", r.Status))
		}
	case r.Status != 0 && (r.Status < 400 || r.Status > 599):
		errs = append(errs, plugin.Errorf("reject.status", "must be between 400 and 599 (got %d)", r.Status))
	}
	for name, v := range r.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			errs = append(errs, plugin.Errorf("reject.headers", "%q is not a header name", name))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			errs = append(errs, plugin.Errorf("reject.headers."+name, "must not contain line breaks"))
		}
	}
	return errors.Join(errs...)
}

func (r *RedisConfig) validate(period time.Duration) error {
	var errs []error
	if len(r.Addresses) == 0 {
		errs = append(errs, plugin.Errorf("redis.addresses", "must list at least one host:port"))
	}
	for i, a := range r.Addresses {
		if j := strings.LastIndexByte(a, ':'); j <= 0 || j == len(a)-1 {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("redis.addresses[%d]", i), "must be host:port (got %q)", a))
		}
	}
	if r.DB < 0 {
		errs = append(errs, plugin.Errorf("redis.db", "must be >= 0 (got %d)", r.DB))
	}
	if r.Timeout < 0 {
		errs = append(errs, plugin.Errorf("redis.timeout", "must be >= 0 (got %s)", r.Timeout))
	}
	if r.SyncInterval != 0 && (r.SyncInterval.D() < time.Millisecond || r.SyncInterval.D() > period) {
		errs = append(errs, plugin.Errorf("redis.syncInterval", "must be between 1ms and the period %s (got %s)", period, r.SyncInterval))
	}
	return errors.Join(errs...)
}

func (c *Config) period() time.Duration {
	if c.Period == 0 {
		return time.Second
	}
	return c.Period.D()
}

func (c *Config) algorithm() string {
	switch {
	case c.Algorithm != "":
		return c.Algorithm
	case c.Mode == ModeRedis:
		return FixedWindow
	}
	return TokenBucket
}

func (c *Config) burst() int64 {
	if c.Burst == 0 {
		return c.Rate
	}
	return c.Burst
}

func (c *Config) maxKeys() int {
	if c.MaxKeys == 0 {
		return 100_000
	}
	return max(c.MaxKeys, shardCount)
}

func (r *RedisConfig) timeout() time.Duration {
	if r.Timeout == 0 {
		return 250 * time.Millisecond
	}
	return r.Timeout.D()
}

func (r *RedisConfig) syncInterval() time.Duration {
	if r.SyncInterval == 0 {
		return 100 * time.Millisecond
	}
	return r.SyncInterval.D()
}

func (r *RedisConfig) prefix() string {
	if r.Prefix == "" {
		return "pylon:rl:"
	}
	return r.Prefix
}
