package ratelimit

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func init() {
	// The client's own log lines (a failed dial on every probe while Redis
	// is away) would bypass structured logging; the syncer logs the state
	// changes that matter, once each.
	redis.SetLogger(debugLogger{})
}

type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// redisConn is a single Redis client or a ring of them.
type redisConn interface {
	redis.Cmdable
	Close() error
}

// newRedis returns a client for the config's addresses: one server, or a
// ring that spreads keys over several by consistent hashing. Retries are
// left to the syncer, which has its own cadence.
func newRedis(rc *RedisConfig) redisConn {
	var tc *tls.Config
	if rc.TLS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t := rc.timeout()
	if len(rc.Addresses) == 1 {
		return redis.NewClient(&redis.Options{Addr: rc.Addresses[0], Username: rc.Username, Password: rc.Password,
			DB: rc.DB, TLSConfig: tc, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
			DialTimeout: t, ReadTimeout: t, WriteTimeout: t, ContextTimeoutEnabled: true, PoolSize: 4})
	}
	addrs := map[string]string{}
	for _, a := range rc.Addresses {
		addrs[a] = a
	}
	return redis.NewRing(&redis.RingOptions{Addrs: addrs, Username: rc.Username, Password: rc.Password,
		DB: rc.DB, TLSConfig: tc, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		DialTimeout: t, ReadTimeout: t, WriteTimeout: t, ContextTimeoutEnabled: true, PoolSize: 4})
}

// redisShareKey identifies a client for SharedState: one per set of
// servers and credentials, whatever the number of limits using it.
func redisShareKey(rc *RedisConfig) string {
	pw := sha256.Sum256([]byte(rc.Password))
	return strings.Join([]string{"redis", strings.Join(rc.Addresses, ","), rc.Username, hex.EncodeToString(pw[:8]),
		strconv.Itoa(rc.DB), strconv.FormatBool(rc.TLS), rc.timeout().String()}, "\x00")
}

// reserve grants up to ARGV[2] of the window's quota ARGV[1] and returns
// {grant, reserved so far}. The key expires after ARGV[3] ms, once its
// window is long over.
var reserve = redis.NewScript(`
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = tonumber(ARGV[1]) - total
local want = tonumber(ARGV[2])
if grant > want then grant = want end
if grant < 0 then grant = 0 end
if grant > 0 then
  total = redis.call('INCRBY', KEYS[1], grant)
  if total == grant then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
return {grant, total}
`)

// syncer reserves quota for queued keys in batches, one pipeline per
// batch, and watches whether Redis is reachable.
type syncer struct {
	s          *globalState
	rdb        redisConn
	lead       time.Duration // how long before a window starts its first chunks are reserved
	stem       string        // prefix and the limit's identity
	hashKeys   bool          // keys hold header, cookie or consumer values
	timeout    time.Duration
	ttl        time.Duration
	probeEvery time.Duration
	ctr        counters
	log        *slog.Logger

	hot         []*gEntry // keys reserved for in window hotWin: they get the next window's chunk ahead
	hotWin      int64
	ahead       []*gEntry // keys reserved ahead for window aheadTarget-1
	aheadTarget int64     // the window the next reservation ahead is for
}

const maxBatch = 256

func (y *syncer) run() {
	tick := time.NewTicker(y.probeEvery)
	defer tick.Stop()
	ahead := time.NewTimer(y.untilAhead())
	defer ahead.Stop()
	batch := make([]*gEntry, 0, maxBatch)
	for {
		select {
		case <-y.s.stop:
			return
		case e := <-y.s.queue:
			batch = append(batch[:0], e)
		drain:
			for len(batch) < maxBatch {
				select {
				case e := <-y.s.queue:
					batch = append(batch, e)
				default:
					break drain
				}
			}
			y.reserve(batch)
		case <-tick.C:
			if y.s.degraded.Load() {
				y.probe()
			}
		case <-ahead.C:
			y.reserveAhead()
			ahead.Reset(y.untilAhead())
		}
	}
}

// redisKey is the key's Redis key for window w. The window is part of the
// key, so in a Redis Cluster or a ring a hot key moves to another shard
// with every window instead of pinning one. Keys made of headers, cookies
// or the consumer go by their digest (they may be credentials, which have
// no business in Redis), as do keys with braces (which Redis Cluster would
// read as a hash tag) or control bytes; addresses and route names stay
// readable.
func (y *syncer) redisKey(e *gEntry, w int64) string {
	if e.rkey == "" {
		k := e.key
		if y.hashKeys || strings.ContainsAny(k, "{}") || strings.IndexFunc(k, func(r rune) bool { return r < ' ' || r > '~' }) >= 0 {
			sum := sha256.Sum256([]byte(k))
			k = "#" + hex.EncodeToString(sum[:12])
		}
		e.rkey = y.stem + k + ":"
	}
	return e.rkey + strconv.FormatInt(w, 10)
}

type pending struct {
	e   *gEntry
	win int64
	cmd *redis.Cmd
}

func (y *syncer) reserve(batch []*gEntry) {
	s := y.s
	if s.degraded.Load() {
		unqueue(batch)
		return
	}
	p := s.p.Load()
	ctx, cancel := context.WithTimeout(context.Background(), y.timeout)
	defer cancel()
	pipe := y.rdb.Pipeline()
	reqs := make([]pending, 0, len(batch))
	ttl := y.ttl.Milliseconds()
	for _, e := range batch {
		e.mu.Lock()
		// What it owes (credit spent) and one chunk. Not more: a node
		// holding more than it can spend before the window ends would
		// leave the quota unused while other nodes refuse.
		win, want, skip := e.win, max(0, e.used-e.grant)+p.chunk, e.exhausted
		if skip {
			e.queued = false
		}
		e.mu.Unlock()
		if skip {
			continue
		}
		cmd := reserve.Eval(ctx, pipe, []string{y.redisKey(e, win)}, s.quota, want, ttl)
		reqs = append(reqs, pending{e, win, cmd})
	}
	if len(reqs) == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil && !isServerError(err) {
		unqueue(batch)
		y.down(err)
		return
	}
	for _, r := range reqs {
		vals, err := r.cmd.Int64Slice()
		r.e.mu.Lock()
		r.e.queued = false
		if err != nil || len(vals) != 2 {
			r.e.mu.Unlock()
			y.ctr.errors.Inc()
			// Without the key: it may be a credential (an API key header).
			y.log.Warn("rate-limit: redis reservation failed", "error", err)
			continue
		}
		y.apply(r.e, r.win, vals[0], vals[1])
		r.e.mu.Unlock()
		y.markHot(r.e, r.win)
	}
}

// apply records a reservation's answer for window win. The caller holds
// e.mu.
func (y *syncer) apply(e *gEntry, win, grant, total int64) {
	switch {
	case e.win == win:
		e.grant += grant
		e.total = max(e.total, total)
		e.answered = true
		if !e.exhausted && e.total >= y.s.quota {
			e.exhausted = true
			if over := e.used - e.grant; over > 0 {
				y.ctr.uncovered.Add(over)
			}
		}
	case e.win < win: // reserved ahead
		if e.next != win {
			e.next, e.nextGrant, e.nextTotal = win, 0, 0
		}
		e.nextGrant += grant
		e.nextTotal = max(e.nextTotal, total)
	}
}

func unqueue(batch []*gEntry) {
	for _, e := range batch {
		e.mu.Lock()
		e.queued = false
		e.mu.Unlock()
	}
}

// isServerError tells a reply error from Redis (one key's problem) from a
// failure to reach it.
func isServerError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded)
}

func (y *syncer) down(err error) {
	y.ctr.errors.Inc()
	if !y.s.degraded.Swap(true) {
		y.ctr.fallback.Inc()
		mode := "the cluster-divided share"
		if y.s.failClosed {
			mode = "refusing requests (failClosed)"
		}
		y.log.Warn("rate-limit: redis unreachable; falling back to "+mode, "error", err)
	}
}

func (y *syncer) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), y.timeout)
	defer cancel()
	if err := y.rdb.Ping(ctx).Err(); err != nil {
		return
	}
	if y.s.degraded.Swap(false) {
		y.ctr.recovered.Inc()
		y.log.Info("rate-limit: redis reachable again; global limit resumed")
	}
}
