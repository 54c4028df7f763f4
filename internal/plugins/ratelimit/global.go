package ratelimit

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/plugin"
)

// Mode redis: one quota per key and fixed window for the whole fleet, kept
// in Redis, with no request ever waiting on Redis.
//
// Each node reserves part of the window's quota ahead of use: a Lua script
// grants min(want, quota - reserved) and adds the grant to the window's
// counter, atomically. The node admits from what it reserved, and asks for
// the next chunk (its share of one sync interval, quota × interval / period
// / N) in the background when half a chunk is left. So the sum of
// admissions over the fleet never exceeds the quota, except for one thing:
// before Redis first answers for a key in a window, a node admits up to
// rate × interval (quota × interval / period) on credit and reports it with
// its first reservation. Only credits Redis cannot cover (the window's
// quota was gone already) overshoot, and the first node to report in a
// window is always covered, so the overshoot is at most (N−1) × rate ×
// interval per window. Uncovered admissions are counted as "uncovered".
// Keys busy in one window get their first chunk of the next reserved ahead
// (ahead.go), so in steady state only keys new to a node use credit.
//
// When Redis cannot be reached the node serves its cluster-divided share of
// the quota (or only what it reserved, with failClosed), probes Redis every
// interval, and resumes by itself, reporting what it admitted meanwhile.

// gEntry is one key's reservation in the current window.
type gEntry struct {
	mu        sync.Mutex
	win       int64 // window number: unix time / period
	used      int64 // admitted by this node in win
	grant     int64 // reserved in Redis for this node in win
	total     int64 // reserved by the fleet in win, as Redis last said
	answered  bool  // Redis answered for win
	exhausted bool  // the quota of win is all reserved
	queued    bool  // waiting for the syncer
	next      int64 // the window reserved ahead for (0: none)
	nextGrant int64
	nextTotal int64

	key    string
	rkey   string // the Redis key without the window; the syncer's alone
	hotWin int64  // 1 + the window it is on the syncer's hot list for; the syncer's alone
}

// gParams is a node's view of the fleet: its fallback share and its
// reservation size, divided by the live nodes, and its credit.
type gParams struct {
	share    int64
	chunk    int64
	credit   int64
	limitStr string
}

func globalParams(quota int64, period, interval time.Duration, n int) *gParams {
	n = max(n, 1)
	perInterval := float64(quota) * float64(interval) / float64(period)
	return &gParams{
		share:    max(1, int64(math.Round(float64(quota)/float64(n)))),
		chunk:    max(1, int64(math.Ceil(perInterval/float64(n)))),
		credit:   max(1, int64(math.Ceil(perInterval))),
		limitStr: itoa(quota),
	}
}

// globalState is a redis-mode limit's state: the keys' reservations, the
// background syncer and whether Redis is reachable.
type globalState struct {
	quota      int64
	period     int64
	failClosed bool
	p          atomic.Pointer[gParams]
	keys       *table[gEntry]
	degraded   atomic.Bool
	queue      chan *gEntry
	sync       *syncer

	stop chan struct{}
	wg   sync.WaitGroup
}

// counters are the events a redis-mode limit reports.
type counters struct {
	fallback, recovered, uncovered, errors, credit *plugin.Counter
}

func newGlobalState(cfg *Config, members plugin.Membership, rdb redisConn, stem string, ctr counters, log *slog.Logger) *globalState {
	period, interval := cfg.period(), min(cfg.Redis.syncInterval(), cfg.period())
	s := &globalState{quota: cfg.Rate, period: int64(period), failClosed: cfg.Redis.FailClosed,
		queue: make(chan *gEntry, 4096), stop: make(chan struct{})}
	n := live(members)
	s.p.Store(globalParams(cfg.Rate, period, interval, n))
	s.keys = newTable(cfg.maxKeys(), func(k string) *gEntry { return &gEntry{key: k} }, s.expiry)
	key, _ := parseKey(cfg.Key) // validated
	s.sync = &syncer{s: s, rdb: rdb, stem: stem, hashKeys: key.private(), timeout: cfg.Redis.timeout(), ttl: 2*period + time.Second,
		probeEvery: min(max(interval, 100*time.Millisecond), time.Second), lead: min(2*interval, period/2),
		ctr: ctr, log: log}
	s.wg.Go(func() { sweepLoop(s.keys, s.stop, &wallFunc) })
	s.wg.Go(s.sync.run)
	if members != nil {
		s.wg.Go(func() {
			watchMembers(members, n, s.stop, func(n int) { s.p.Store(globalParams(cfg.Rate, period, interval, n)) })
		})
	}
	return s
}

func (s *globalState) expiry(e *gEntry, now int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queued {
		return now + s.period
	}
	return (max(e.win, e.next) + 1) * s.period
}

func (s *globalState) allow(key []byte, now int64) decision {
	e := s.keys.get(key, now)
	p := s.p.Load()
	w := now / s.period
	e.mu.Lock()
	if e.win != w {
		e.win, e.used, e.grant, e.total, e.answered, e.exhausted = w, 0, 0, 0, false, false
		if e.next == w { // reserved ahead: no credit needed
			e.grant, e.total, e.answered, e.exhausted = e.nextGrant, e.nextTotal, true, e.nextTotal >= s.quota
		}
		if e.next <= w {
			e.next, e.nextGrant, e.nextTotal = 0, 0, 0
		}
	}
	deg := s.degraded.Load()
	var limit int64
	switch {
	case deg && s.failClosed:
		limit = e.grant // only what Redis had counted before it went away
	case deg:
		limit = max(e.grant, p.share)
	case e.answered:
		limit = e.grant
	default:
		limit = p.credit // until Redis first answers in this window
	}
	ok := e.used < limit
	if ok {
		e.used++
		if !deg && !e.answered {
			s.sync.ctr.credit.Inc()
		}
	}
	if !deg && !e.queued && !e.exhausted && (!e.answered || e.grant-e.used <= p.chunk/2) {
		select {
		case s.queue <- e:
			e.queued = true
		default: // the syncer is behind; a later request asks again
		}
	}
	remaining := limit - e.used
	if !deg {
		remaining = max(0, s.quota-e.total) + max(0, e.grant-e.used)
	}
	e.mu.Unlock()
	end := (w+1)*s.period - now
	return decision{ok: ok, limit: p.limitStr, remaining: remaining, reset: end, retry: end}
}

// Close stops the syncer and the sweeper. The Redis client is shared and
// released by its own reference.
func (s *globalState) Close() error {
	close(s.stop)
	s.wg.Wait()
	return nil
}
