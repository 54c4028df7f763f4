package ratelimit

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func fromIP(ip string) func() plugin.Ctx { return func() plugin.Ctx { return req(ip) } }

func TestTokenBucketBurstThenRate(t *testing.T) {
	now := fakeClock(t)
	g := newRig(t, map[string]any{"rate": 10, "burst": 5}, nil)
	if n := g.count(20, fromIP("10.0.0.1")); n != 5 {
		t.Fatalf("burst: %d passed, want 5", n)
	}
	c := req("10.0.0.1")
	if s := g.send(c); s != http.StatusTooManyRequests {
		t.Fatalf("over the burst: status %d, want 429", s)
	}
	for name, want := range map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "1", "Retry-After": "1"} {
		if got := c.RespHeader.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.HasPrefix(string(c.RespBody), "429") {
		t.Errorf("body %q", c.RespBody)
	}
	// Another client has a bucket of its own.
	if n := g.count(5, fromIP("10.0.0.2")); n != 5 {
		t.Fatalf("second client: %d passed, want 5", n)
	}
	// 10/s: one token every 100ms.
	now.Add(int64(250 * time.Millisecond))
	if n := g.count(5, fromIP("10.0.0.1")); n != 2 {
		t.Fatalf("after 250ms: %d passed, want 2", n)
	}
	now.Add(int64(10 * time.Second))
	c = req("10.0.0.1")
	if s := g.send(c); s != http.StatusOK || c.RespHeader.Get("RateLimit-Remaining") != "4" {
		t.Fatalf("refilled: status %d remaining %q, want 200 and 4", s, c.RespHeader.Get("RateLimit-Remaining"))
	}
}

func TestFixedWindow(t *testing.T) {
	now := fakeClock(t)
	g := newRig(t, map[string]any{"rate": 3, "period": "10s", "algorithm": "fixed-window"}, nil)
	now.Add(int64(4 * time.Second))
	if n := g.count(10, fromIP("10.0.0.1")); n != 3 {
		t.Fatalf("window: %d passed, want 3", n)
	}
	c := req("10.0.0.1")
	g.send(c)
	if got := c.RespHeader.Get("RateLimit-Reset"); got != "6" {
		t.Errorf("RateLimit-Reset = %q, want 6 (seconds to the window's end)", got)
	}
	now.Add(int64(6 * time.Second))
	if n := g.count(10, fromIP("10.0.0.1")); n != 3 {
		t.Fatalf("next window: %d passed, want 3", n)
	}
}

func TestKeys(t *testing.T) {
	fakeClock(t)
	cases := []struct {
		key          string
		same, differ func(i int) plugin.Ctx // same key for every i; a new key per i
	}{
		{"header:X-Api-Key",
			func(i int) plugin.Ctx { return req("10.0.0."+itoa(int64(i)), "X-Api-Key", "k1") },
			func(i int) plugin.Ctx { return req("10.0.0.1", "X-Api-Key", "k"+itoa(int64(i))) }},
		{"cookie:session",
			func(i int) plugin.Ctx { return req("10.0.0."+itoa(int64(i)), "Cookie", "session=s1") },
			func(i int) plugin.Ctx { return req("10.0.0.1", "Cookie", "session=s"+itoa(int64(i))) }},
		{"consumer",
			func(i int) plugin.Ctx { c := req("10.0.0." + itoa(int64(i))); c.ConsumerV = "alice"; return c },
			func(i int) plugin.Ctx { c := req("10.0.0.1"); c.ConsumerV = "user" + itoa(int64(i)); return c }},
		{"consumer", // without an authenticated consumer: by address, whatever the client claims
			func(i int) plugin.Ctx { return req("10.0.0.1", "X-Consumer", "user"+itoa(int64(i))) },
			func(i int) plugin.Ctx { return req("10.0.0." + itoa(int64(i))) }},
		{"route",
			func(i int) plugin.Ctx { return req("10.0.0." + itoa(int64(i))) },
			func(i int) plugin.Ctx { c := req("10.0.0.1"); c.Route = "r" + itoa(int64(i)); return c }},
		{"route+header:X-Api-Key",
			func(i int) plugin.Ctx { return req("10.0.0."+itoa(int64(i)), "X-Api-Key", "k1") },
			func(i int) plugin.Ctx {
				c := req("10.0.0.1", "X-Api-Key", "k1")
				c.Route = "r" + itoa(int64(i))
				return c
			}},
		{"header:X-Long",
			func(i int) plugin.Ctx { return req("10.0.0."+itoa(int64(i)), "X-Long", strings.Repeat("a", 500)) },
			func(i int) plugin.Ctx { return req("10.0.0.1", "X-Long", strings.Repeat("a", 500)+itoa(int64(i))) }},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			cfg := map[string]any{"rate": 2, "period": "1m", "key": tc.key}
			g := newRig(t, cfg, nil)
			ok := 0
			for i := range 10 {
				if g.send(tc.same(i)) == http.StatusOK {
					ok++
				}
			}
			if ok != 2 {
				t.Errorf("one key: %d passed, want 2", ok)
			}
			g = newRig(t, cfg, nil)
			ok = 0
			for i := range 10 {
				if g.send(tc.differ(i)) == http.StatusOK {
					ok++
				}
			}
			if ok != 10 {
				t.Errorf("distinct keys: %d passed, want 10", ok)
			}
		})
	}
}

func TestMissingKeySharesOneLimit(t *testing.T) {
	fakeClock(t)
	g := newRig(t, map[string]any{"rate": 2, "period": "1m", "key": "header:X-Api-Key"}, nil)
	if n := g.count(5, func() plugin.Ctx { return req("10.0.0.9") }); n != 2 {
		t.Fatalf("requests without the header: %d passed, want 2 (one shared limit)", n)
	}
}

func TestRejection(t *testing.T) {
	fakeClock(t)
	cases := []struct {
		name   string
		reject map[string]any
		status int
		hdr    map[string]string
		body   string
	}{
		{"custom", map[string]any{"status": 503, "body": "slow down", "headers": map[string]any{"X-Why": "rate"}},
			503, map[string]string{"X-Why": "rate", "Retry-After": "60"}, "slow down"},
		{"redirect", map[string]any{"redirect": "https://example.com/busy"},
			302, map[string]string{"Location": "https://example.com/busy", "Retry-After": ""}, ""},
		{"redirect-307", map[string]any{"redirect": "/busy", "status": 307},
			307, map[string]string{"Location": "/busy"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, map[string]any{"rate": 1, "period": "1m", "reject": tc.reject}, nil)
			g.send(req("10.0.0.1"))
			c := req("10.0.0.1")
			if s := g.send(c); s != tc.status {
				t.Fatalf("status %d, want %d", s, tc.status)
			}
			for k, v := range tc.hdr {
				if got := c.RespHeader.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if string(c.RespBody) != tc.body {
				t.Errorf("body %q, want %q", c.RespBody, tc.body)
			}
		})
	}
}

func TestHeadersOff(t *testing.T) {
	fakeClock(t)
	g := newRig(t, map[string]any{"rate": 1, "rateLimitHeaders": false}, nil)
	for range 2 {
		c := req("10.0.0.1")
		g.send(c)
		if len(c.RespHeader) != 0 {
			t.Fatalf("headers with rateLimitHeaders false: %v", c.RespHeader)
		}
	}
	if v := g.counter(t, "rejected"); v != 1 {
		t.Errorf("rejected counter %v, want 1", v)
	}
}

func TestClusterDivides(t *testing.T) {
	now := fakeClock(t)
	m := newMembers(4)
	g := newRig(t, map[string]any{"rate": 100, "period": "1m", "algorithm": "fixed-window", "mode": "cluster"}, m)
	if n := g.count(200, fromIP("10.0.0.1")); n != 25 {
		t.Fatalf("4 nodes: %d passed, want 25", n)
	}
	m.set(2)
	deadline := time.Now().Add(3 * time.Second)
	for {
		now.Add(int64(time.Minute))
		n := g.count(200, fromIP("10.0.0.1"))
		if n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 nodes: %d passed, want 50", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Local mode ignores the membership.
	g = newRig(t, map[string]any{"rate": 100, "period": "1m", "algorithm": "fixed-window"}, m)
	if n := g.count(200, fromIP("10.0.0.1")); n != 100 {
		t.Fatalf("local mode: %d passed, want 100", n)
	}
}

// A chain rebuilt for another route's change takes the same state: the
// limit does not reset.
func TestStateSurvivesOtherChanges(t *testing.T) {
	fakeClock(t)
	rt := plugin.NewRuntime(nil, nil)
	ref := plugin.Ref{Scope: plugin.Scope{Kind: "global"}, Name: "rate-limit", Config: map[string]any{"rate": 3, "period": "1m"}}
	ch1 := rt.Chain([]plugin.Ref{ref})
	g := &rig{rt: rt, ch: ch1}
	if n := g.count(3, fromIP("10.0.0.1")); n != 3 {
		t.Fatalf("%d passed, want 3", n)
	}
	ch2 := rt.Chain([]plugin.Ref{ref, {Scope: plugin.Scope{Kind: "route", Name: "b"}, Name: "rate-limit", Config: map[string]any{"rate": 7}}})
	rt.Release(ch1)
	defer rt.Release(ch2)
	g = &rig{rt: rt, ch: ch2}
	if s := g.send(req("10.0.0.1")); s != http.StatusTooManyRequests {
		t.Fatalf("after an unrelated change: status %d, want 429 (state kept)", s)
	}
}

func TestFloodOfKeysIsBounded(t *testing.T) {
	now := fakeClock(t)
	st := newLocalState(&Config{Rate: 5, MaxKeys: 1024}, nil)
	defer st.Close()
	var buf [4]byte
	for i := range 200_000 {
		buf[0], buf[1], buf[2], buf[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		st.allow(buf[:], now.Load())
		if i%1000 == 0 {
			now.Add(int64(time.Millisecond))
		}
	}
	if n := st.keys.Len(); n > 1024 {
		t.Fatalf("%d keys tracked, want at most maxKeys 1024", n)
	}
	// Once idle (buckets full again), a sweep gives everything back.
	now.Add(int64(time.Minute))
	st.keys.sweep(now.Load())
	if n := st.keys.Len(); n != 0 {
		t.Fatalf("%d keys after the sweep, want 0", n)
	}
}

// Under concurrent requests a fixed window admits exactly its limit.
func TestConcurrentExact(t *testing.T) {
	fakeClock(t)
	for _, algo := range []string{"fixed-window", "token-bucket"} {
		t.Run(algo, func(t *testing.T) {
			g := newRig(t, map[string]any{"rate": 1000, "period": "1h", "algorithm": algo}, nil)
			var ok atomic.Int64
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for range 500 {
						c := plugintest.New()
						c.ClientIPV = "10.0.0.1"
						if g.send(c) == http.StatusOK {
							ok.Add(1)
						}
						_ = w
					}
				})
			}
			wg.Wait()
			if ok.Load() != 1000 {
				t.Fatalf("%d passed, want 1000", ok.Load())
			}
		})
	}
}

// Attached globally, one instance serves every route: a limit keyed by
// client address counts a client's requests across routes.
func TestGlobalScopeCountsAcrossRoutes(t *testing.T) {
	fakeClock(t)
	rt := plugin.NewRuntime(nil, nil)
	global := plugin.Ref{Scope: plugin.Scope{Kind: "global"}, Name: "rate-limit", Config: map[string]any{"rate": 4, "period": "1m"}}
	// Route r2 has a plugin of its own besides: a chain of its own.
	a, b := rt.Chain([]plugin.Ref{global}), rt.Chain([]plugin.Ref{global, {Scope: plugin.Scope{Kind: "route", Name: "r2"}, Name: "headers"}})
	if a == b {
		t.Fatal("one chain for both routes: the test would prove nothing")
	}
	defer rt.Release(a)
	defer rt.Release(b)
	ga, gb := &rig{rt: rt, ch: a}, &rig{rt: rt, ch: b}
	mk := func(route string) func() plugin.Ctx {
		return func() plugin.Ctx { c := req("10.0.0.1"); c.Route = route; return c }
	}
	if n := ga.count(3, mk("r1")) + gb.count(3, mk("r2")); n != 4 {
		t.Fatalf("%d passed over two routes, want the one limit of 4", n)
	}
}

func TestClusterDividesTokenBucket(t *testing.T) {
	fakeClock(t)
	g := newRig(t, map[string]any{"rate": 90, "burst": 30, "period": "1m", "mode": "cluster"}, newMembers(3))
	if n := g.count(100, fromIP("10.0.0.1")); n != 10 {
		t.Fatalf("burst 30 over 3 nodes: %d passed, want 10", n)
	}
	c := req("10.0.0.1")
	g.send(c)
	if got := c.RespHeader.Get("RateLimit-Limit"); got != "10" {
		t.Fatalf("RateLimit-Limit %q, want the node's share 10", got)
	}
}

// nop stands in for another plugin on a route.
type nop struct{}

func init() {
	plugin.Register("headers", "test stand-in", func(*struct{}, *plugin.Env) (*nop, error) { return &nop{}, nil })
}
