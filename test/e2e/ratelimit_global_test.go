package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// eventCount reads pylon_plugin_events_total for a plugin's event from a
// gateway's /metrics (summed over scopes).
func eventCount(t testing.TB, g *gateway, plugin, event string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(g.get("/metrics"), "\n") {
		if strings.HasPrefix(line, "pylon_plugin_events_total{") && strings.Contains(line, `plugin="`+plugin+`"`) &&
			strings.Contains(line, `event="`+event+`"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}

func healthy(t testing.TB, g *gateway) bool {
	t.Helper()
	resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + g.metrics + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// One global limit over two pylon processes through a real Redis: under
// steady load over the limit for 10 s the fleet admits the quota within 2%.
// With Redis killed each node falls back to its share and stays healthy;
// with Redis back the global limit resumes by itself.
func TestRateLimitRedisGlobal(t *testing.T) {
	t.Parallel()
	rd := testenv.StartRedis(t)
	a := backends.StartHTTP(t, "a")
	const rate = 200 // per second, for the fleet
	limited := route("global", "global.example.com", "a", fmt.Sprintf(
		`plugins: [{name: rate-limit, config: {rate: %d, key: route, mode: redis, redis: {addresses: [%q], syncInterval: 100ms}}}]`, rate, rd.Addr()))
	var gws []*gateway
	var listeners []string
	for range 2 {
		l := testenv.FreeAddr(t)
		gws = append(gws, startGateway(t, pluginConfig(l, a, "", limited)))
		listeners = append(listeners, l)
	}
	// 8 workers per node at 50 requests/s each: 800/s, four times the limit.
	ld := startLoad(listeners, "global.example.com", 8, 20*time.Millisecond)
	defer ld.end()

	const secs = 10
	admitted, refused := ld.admittedOver(secs * time.Second)
	want := int64(rate * secs)
	t.Logf("global: admitted %d of quota %d (%+.2f%%), refused %d, failed %d; uncovered %v",
		admitted, want, 100*float64(admitted-want)/float64(want), refused, ld.failed.Load(),
		eventCount(t, gws[0], "rate-limit", "uncovered")+eventCount(t, gws[1], "rate-limit", "uncovered"))
	if refused < want {
		t.Fatalf("load not over the limit: refused %d", refused)
	}
	if !within(admitted, want, 0.02) {
		t.Errorf("admitted %d over %d s, want %d ± 2%%", admitted, secs, want)
	}

	rd.Kill()
	for _, g := range gws {
		eventually(t, 3*time.Second, "fallback engaged", func() (bool, string) {
			n := eventCount(t, g, "rate-limit", "redis-fallback")
			return n >= 1, fmt.Sprint(n)
		})
	}
	// Standalone nodes are one node each: each falls back to the whole rate.
	admitted, _ = ld.admittedOver(2 * time.Second)
	t.Logf("redis down: admitted %d in 2 s (fallback share: %d)", admitted, 2*2*rate)
	if !within(admitted, 2*2*rate, 0.1) {
		t.Errorf("redis down: admitted %d in 2 s, want each node's share, %d ± 10%%", admitted, 2*2*rate)
	}
	for i, g := range gws {
		if !healthy(t, g) {
			t.Errorf("node %d: /healthz not 200 with redis down", i+1)
		}
	}

	rd.Restart()
	for _, g := range gws {
		eventually(t, 5*time.Second, "global mode resumed", func() (bool, string) {
			n := eventCount(t, g, "rate-limit", "redis-recovered")
			return n >= 1, fmt.Sprint(n)
		})
	}
	admitted, _ = ld.admittedOver(2 * time.Second)
	t.Logf("redis back: admitted %d in 2 s (quota %d)", admitted, 2*rate)
	if !within(admitted, 2*rate, 0.05) {
		t.Errorf("redis back: admitted %d in 2 s, want the global %d ± 5%%", admitted, 2*rate)
	}
	if f := ld.failed.Load(); f > 0 {
		t.Errorf("%d requests failed (neither 200 nor 429)", f)
	}
}

// A cluster-divided limit over three etcd-backed nodes: each enforces a
// third; when one stops, the other two re-divide and the fleet total stays
// within 5% of the limit.
func TestRateLimitClusterDivided(t *testing.T) {
	t.Parallel()
	etcd := testenv.StartEtcd(t, testenv.WithoutFsync())
	backend := backends.StartHTTP(t, "file")
	const rate = 300 // per second, for the fleet
	extra := "routes:\n" + route("divided", "divided.example.com", "backend", fmt.Sprintf(
		`plugins: [{name: rate-limit, config: {rate: %d, algorithm: fixed-window, key: route, mode: cluster}}]`, rate))
	store := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("rl%d", i+1), backend, store, extra))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "three members", func() (bool, string) {
			items, _, body := listNodes(t, n)
			return len(items) == 3, body
		})
	}
	// The two nodes that stay are asked 300/s each (6 workers at 50/s): twice
	// their share once there are two, three times while there are three.
	ld := startLoad([]string{nodes[0].listen, nodes[1].listen}, "divided.example.com", 6, 20*time.Millisecond)
	defer ld.end()
	ld3 := startLoad([]string{nodes[2].listen}, "divided.example.com", 4, 20*time.Millisecond)

	time.Sleep(1500 * time.Millisecond) // every node has seen all three
	a1, _ := ld.admittedOver(2 * time.Second)
	t.Logf("3 nodes: the two nodes kept admitted %d in 2 s (want 2 × 2/3 × %d = %d)", a1, rate, 4*rate/3)
	if !within(a1, 4*rate/3, 0.05) {
		t.Errorf("3 nodes: two of them admitted %d in 2 s, want %d ± 5%%", a1, 4*rate/3)
	}

	ld3.end()
	if err := nodes[2].proc.Stop(); err != nil {
		t.Logf("node 3 stop: %v", err)
	}
	stopped := time.Now()
	for _, n := range nodes[:2] {
		eventually(t, 5*time.Second, "two members", func() (bool, string) {
			items, _, body := listNodes(t, n)
			return len(items) == 2, body
		})
	}
	time.Sleep(1200 * time.Millisecond) // the limits' membership poll
	const secs = 3
	admitted, refused := ld.admittedOver(secs * time.Second)
	want := int64(rate * secs)
	t.Logf("2 nodes (stopped %v before): admitted %d of %d (%+.2f%%), refused %d", time.Since(stopped).Round(time.Millisecond),
		admitted, want, 100*float64(admitted-want)/float64(want), refused)
	if !within(admitted, want, 0.05) {
		t.Errorf("after re-division: admitted %d in %d s, want %d ± 5%%", admitted, secs, want)
	}
}
