// Package ratelimit is the rate-limit plugin: token bucket and fixed window
// limits per client address, header, cookie, route or consumer, enforced
// per node, divided over the cluster's live nodes, or counted once for the
// whole fleet in Redis without a Redis round trip on the request path.
package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"time"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("rate-limit", "Limits request rates per key: locally, divided over the cluster, or globally in Redis", build)
}

// nowFunc is the local limits' clock, in Unix nanoseconds; tests replace
// it. It reads only the monotonic clock (time.Now reads two), offset by the
// wall time at start: a node's own buckets and windows need no agreement
// with other nodes, and a wall clock step must not refill a bucket.
var nowFunc = func() int64 { return startWall + int64(time.Since(startMono)) }

// wallFunc is the redis mode's clock: its windows are shared by the fleet,
// so they follow the wall clock, steps included.
var wallFunc = func() int64 { return time.Now().UnixNano() }

var (
	startMono = time.Now()
	startWall = startMono.UnixNano()
)

// Limiter is one rate-limit instance.
type Limiter struct {
	key      keySpec
	headers  bool
	reject   rejection
	local    *localState
	global   *globalState
	rejected *plugin.Counter
}

var _ plugin.AccessHandler = (*Limiter)(nil)

// rejection is the prepared answer to a refused request.
type rejection struct {
	status   int
	body     []byte
	location string
	headers  [][2]string
	retry    bool // Retry-After goes with 429 and 503
}

func build(cfg *Config, env *plugin.Env) (*Limiter, error) {
	key, err := parseKey(cfg.Key)
	if err != nil {
		return nil, plugin.Errorf("key", "%v", err)
	}
	l := &Limiter{key: key, headers: cfg.RateLimitHeaders, reject: newRejection(&cfg.Reject),
		rejected: env.Counter("rejected")}
	if cfg.Mode != ModeRedis {
		l.local = env.State("", func() any { return newLocalState(cfg, env.Members) }).(*localState)
		return l, nil
	}
	// The client first: the state's syncer uses it, and releases run in
	// reverse, so the syncer stops before the client can close.
	rdb := env.SharedState(redisShareKey(cfg.Redis), func() any { return newRedis(cfg.Redis) }).(redisConn)
	id := sha256.Sum256([]byte(env.ID))
	stem := cfg.Redis.prefix() + hex.EncodeToString(id[:6]) + ":"
	ctr := counters{fallback: env.Counter("redis-fallback"), recovered: env.Counter("redis-recovered"),
		uncovered: env.Counter("uncovered"), errors: env.Counter("redis-errors"), credit: env.Counter("credit")}
	l.global = env.State("", func() any { return newGlobalState(cfg, env.Members, rdb, stem, ctr, env.Log) }).(*globalState)
	return l, nil
}

func newRejection(r *Reject) rejection {
	rj := rejection{status: r.Status, location: r.Redirect}
	switch {
	case r.Redirect != "" && rj.status == 0:
		rj.status = http.StatusFound
	case rj.status == 0:
		rj.status = http.StatusTooManyRequests
	}
	switch {
	case r.Body != "":
		rj.body = []byte(r.Body)
	case r.Redirect == "":
		rj.body = []byte(itoa(int64(rj.status)) + " too many requests\n")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		rj.headers = append(rj.headers, [2]string{k, r.Headers[k]})
	}
	rj.retry = rj.status == http.StatusTooManyRequests || rj.status == http.StatusServiceUnavailable
	return rj
}

// Access admits the request or answers it with the configured refusal.
func (l *Limiter) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	var buf [keyBuf]byte
	key := l.key.extract(c, &buf)
	var d decision
	if l.global != nil {
		d = l.global.allow(key, wallFunc())
	} else {
		d = l.local.allow(key, nowFunc())
	}
	if d.ok {
		if l.headers {
			setHeaders(c, &d, false)
		}
		return plugin.Continue
	}
	l.rejected.Inc()
	rj := &l.reject
	c.Respond(rj.status, rj.body)
	if l.headers {
		setHeaders(c, &d, rj.retry)
	}
	if rj.location != "" {
		c.SetResponseHeader("Location", rj.location)
	}
	for _, h := range rj.headers {
		c.SetResponseHeader(h[0], h[1])
	}
	return plugin.Stop
}
