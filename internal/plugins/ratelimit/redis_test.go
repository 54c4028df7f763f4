package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/test/testenv"
)

func redisCfg(rate int, period string, addrs ...string) map[string]any {
	a := make([]any, len(addrs))
	for i, s := range addrs {
		a[i] = s
	}
	return map[string]any{"rate": rate, "period": period, "mode": "redis", "key": "route",
		"redis": map[string]any{"addresses": a, "syncInterval": "50ms"}}
}

// Two nodes (runtimes of their own, as two processes would have) share one
// quota through a real Redis: under load over the limit, the fleet admits
// the quota of every window, and no more.
func TestRedisGlobalAccuracy(t *testing.T) {
	rd := testenv.StartRedis(t)
	const quota, period, windows = 500, 500 * time.Millisecond, 4
	cfg := redisCfg(quota, period.String(), rd.Addr())
	nodes := []*rig{newRig(t, cfg, nil), newRig(t, cfg, nil)}

	// Start at a window boundary, so the run covers whole windows.
	start := time.Now().Truncate(period).Add(period)
	time.Sleep(time.Until(start))
	end := start.Add(windows * period)
	var admitted, sent atomic.Int64
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range 2 {
			wg.Go(func() {
				for time.Now().Before(end) {
					c := req("10.0.0.1")
					sent.Add(1)
					// A request decided at or after end (a worker preempted
					// between the check and the send) belongs to the next
					// window: not counted.
					if n.send(c) == http.StatusOK && time.Now().Before(end) {
						admitted.Add(1)
					}
					// Paced (about 2,000/s per worker at most), as clients
					// are: spinning workers would starve the syncers of CPU.
					time.Sleep(500 * time.Microsecond)
				}
			})
		}
	}
	wg.Wait()
	want := int64(quota * windows)
	got := admitted.Load()
	t.Logf("sent %d, admitted %d of quota %d (%+.2f%%); uncovered %v", sent.Load(), got, want,
		100*float64(got-want)/float64(want), nodes[0].counter(t, "uncovered")+nodes[1].counter(t, "uncovered"))
	if sent.Load() < 2*want {
		t.Fatalf("load %d is not over the limit %d", sent.Load(), want)
	}
	if d := float64(got-want) / float64(want); d < -0.02 || d > 0.02 {
		t.Fatalf("admitted %d, want %d ± 2%%", got, want)
	}
}

// When Redis goes away the node serves its cluster-divided share; when it
// comes back the node resumes the global count by itself and reports what
// it admitted meanwhile.
func TestRedisFallbackAndRecovery(t *testing.T) {
	rd := testenv.StartRedis(t)
	now := fakeClock(t)
	m := newMembers(2)
	cfg := redisCfg(100, "1h", rd.Addr())
	g := newRig(t, cfg, m)
	fromRoute := func() plugin.Ctx { return req("10.0.0.1") }

	// The credit before Redis first answers is rate × interval (here 1);
	// then reservations come in the background.
	if n := g.admit(10, time.Second); n != 10 {
		t.Fatalf("with redis: %d passed, want 10", n)
	}
	waitFor(t, "the first reservations", func() bool { return redisInt(t, rd, "") >= 10 })

	rd.Kill()
	// The next reservation fails: the node falls back to 100 / 2 nodes.
	waitFor(t, "the fallback", func() bool { g.count(1, fromRoute); return g.counter(t, "redis-fallback") == 1 })
	if n := g.count(200, fromRoute); n == 0 || n > 50 {
		t.Fatalf("in fallback: %d more passed; the window's total must stay within the share of 50", n)
	}
	c := req("10.0.0.1")
	if s := g.send(c); s != http.StatusTooManyRequests {
		t.Fatalf("over the fallback share: status %d, want 429", s)
	}

	rd.Restart() // empty: it keeps nothing on disk
	waitFor(t, "the recovery", func() bool { return g.counter(t, "redis-recovered") == 1 })
	// The first request after recovery reports what the fallback admitted
	// beyond the node's reservations (at least 50 - 10 - a chunk).
	waitFor(t, "the report", func() bool { g.count(1, fromRoute); return redisInt(t, rd, "") >= 35 })
	now.Add(int64(time.Hour))
	if n := g.admit(1000, 500*time.Millisecond); n != 100 {
		t.Fatalf("next window after recovery: %d passed, want the global 100", n)
	}
}

func TestRedisFailClosed(t *testing.T) {
	rd := testenv.StartRedis(t)
	fakeClock(t)
	cfg := redisCfg(100, "1h", rd.Addr())
	cfg["redis"].(map[string]any)["failClosed"] = true
	g := newRig(t, cfg, nil)
	fromRoute := func() plugin.Ctx { return req("10.0.0.1") }
	g.admit(5, time.Second)
	waitFor(t, "the first reservation", func() bool { return redisInt(t, rd, "") >= 5 })
	rd.Kill()
	waitFor(t, "the fallback", func() bool { g.count(1, fromRoute); return g.counter(t, "redis-fallback") == 1 })
	g.count(100, fromRoute) // what was reserved may still be used
	if n := g.count(10, fromRoute); n != 0 {
		t.Fatalf("fail closed without redis: %d passed, want 0", n)
	}
}

// With several servers, keys (and one key's successive windows) spread
// over them.
func TestRedisRingSpreads(t *testing.T) {
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	now := fakeClock(t)
	cfg := redisCfg(10, "1s", a.Addr(), b.Addr())
	g := newRig(t, cfg, nil)
	for range 40 {
		g.send(req("10.0.0.1"))
		now.Add(int64(time.Second))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "keys on both servers", func() bool {
		na, _ := a.Do("DBSIZE")
		nb, _ := b.Do("DBSIZE")
		return na != "0" && nb != "0"
	})
}

// redisInt returns the largest counter Redis holds (key "" means any).
func redisInt(t *testing.T, rd *testenv.Redis, key string) int {
	t.Helper()
	if key == "" {
		k, err := rd.Do("RANDOMKEY")
		if err != nil || k == "" {
			return 0
		}
		key = k
	}
	v, err := rd.Do("GET", key)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// admit sends requests, pausing briefly after each refusal so background
// reservations can land, until stop passed or the time is up, and returns
// how many passed.
func (g *rig) admit(stop int, within time.Duration) int {
	ok := 0
	for deadline := time.Now().Add(within); ok < stop && time.Now().Before(deadline); {
		if g.send(req("10.0.0.1")) == http.StatusOK {
			ok++
		} else {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return ok
}

// The worst case of the credit: one node spends a window's whole quota,
// then two more nodes see their first requests of that window. Each admits
// its credit (rate × syncInterval) before Redis answers that nothing is
// left: the overshoot reaches (N−1) × rate × interval and no more, and is
// counted as uncovered.
func TestRedisOvershootBound(t *testing.T) {
	rd := testenv.StartRedis(t)
	fakeClock(t)
	// The credit is rate × syncInterval = 1000 / 10 s × 0.36 s = 36.
	cfg := redisCfg(1000, "10s", rd.Addr())
	cfg["redis"].(map[string]any)["syncInterval"] = "360ms"
	const credit = 36
	a, b, c := newRig(t, cfg, nil), newRig(t, cfg, nil), newRig(t, cfg, nil)
	if n := a.admit(1000, 2*time.Second); n != 1000 {
		t.Fatalf("node a: %d passed, want the whole quota 1000", n)
	}
	if n := a.admit(1, 100*time.Millisecond); n != 0 {
		t.Fatalf("node a: %d passed past the quota", n)
	}
	var late int
	for _, g := range []*rig{b, c} {
		late += g.count(100, func() plugin.Ctx { return req("10.0.0.1") }) // no pause: all before Redis answers
	}
	// All of them when the requests come faster than Redis answers (the
	// usual case here); fewer on a machine too busy to send 100 requests
	// in a round trip.
	t.Logf("nodes b and c admitted %d on credit (bound 2 × %d)", late, credit)
	if late == 0 || late > 2*credit {
		t.Fatalf("nodes b and c admitted %d on credit, want 1 to 2 × %d", late, credit)
	}
	waitFor(t, "uncovered counted", func() bool {
		b.count(1, func() plugin.Ctx { return req("10.0.0.1") })
		c.count(1, func() plugin.Ctx { return req("10.0.0.1") })
		return b.counter(t, "uncovered")+c.counter(t, "uncovered") == float64(late)
	})
	if n := b.admit(100, 200*time.Millisecond) + c.admit(100, 200*time.Millisecond); n != 0 {
		t.Fatalf("after Redis answered: %d more passed, want 0", n)
	}
}

// A key reserved for in one window gets its first chunk of the next one
// reserved ahead: after the first window, steady traffic never runs on
// credit.
func TestRedisReservesAhead(t *testing.T) {
	rd := testenv.StartRedis(t)
	// syncInterval 50ms: the next window's chunk is reserved 100ms ahead,
	// time enough even for a syncer on a very busy machine.
	cfg := redisCfg(1000, "200ms", rd.Addr())
	g := newRig(t, cfg, nil)
	start := time.Now().Truncate(200 * time.Millisecond).Add(200 * time.Millisecond)
	time.Sleep(time.Until(start))
	var firstWindow float64
	for time.Since(start) < 2*time.Second {
		g.send(req("10.0.0.1"))
		if time.Since(start) < 200*time.Millisecond {
			firstWindow = g.counter(t, "credit")
		}
		time.Sleep(time.Millisecond)
	}
	if firstWindow == 0 {
		t.Fatal("no credit in the first window: the test does not see the counter")
	}
	if n := g.counter(t, "credit"); n != firstWindow {
		t.Fatalf("%v admissions on credit after the first window, want 0", n-firstWindow)
	}
}

// Header values (API keys) never reach Redis as they are.
func TestRedisKeysHidePrivateValues(t *testing.T) {
	rd := testenv.StartRedis(t)
	cfg := redisCfg(10, "1m", rd.Addr())
	cfg["key"] = "header:X-Api-Key"
	g := newRig(t, cfg, nil)
	g.send(req("10.0.0.1", "X-Api-Key", "secret-key-123"))
	waitFor(t, "a key in redis", func() bool { n, _ := rd.Do("DBSIZE"); return n == "1" })
	k, err := rd.Do("RANDOMKEY")
	if err != nil || strings.Contains(k, "secret") || !strings.Contains(k, "#") {
		t.Fatalf("redis key %q (%v): want a digest, not the header's value", k, err)
	}
}
