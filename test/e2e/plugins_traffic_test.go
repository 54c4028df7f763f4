package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// pluginEvents sums pylon_plugin_events_total for one plugin and event over
// every scope.
func (g *gateway) pluginEvents(plugin, event string) int64 {
	g.t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^pylon_plugin_events_total\{event="%s",plugin="%s",scope="[^"]*"\} (\d+)$`,
		regexp.QuoteMeta(event), regexp.QuoteMeta(plugin)))
	var n int64
	for _, m := range re.FindAllStringSubmatch(g.get("/metrics"), -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// The breaker check: a backend failing 60% of requests opens the
// breaker once the window holds the minimum count; while open, requests get
// the fallback without reaching the backend; after the open time, probes to
// the recovered backend close it.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	flaky := backends.StartFlaky(t, "orders")
	dead := testenv.FreeAddr(t) // nothing listens: every request fails to connect
	gw := startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: orders
    endpoints: [%q]
  - name: gone
    endpoints: [%q]
routes:
  - name: orders
    hosts: ["cb.example.com"]
    backends: [{ service: orders }]
    plugins:
      - name: circuit-breaker
        config:
          failureRatio: 0.5
          minRequests: 20
          window: 30s
          openFor: 1s
          halfOpenRequests: 3
          fallback:
            status: 503
            body: "orders is resting"
            headers: [{ name: X-Circuit, value: open }]
  - name: gone
    hosts: ["gone.example.com"]
    backends: [{ service: gone }]
    plugins:
      - name: circuit-breaker
        config: { minRequests: 5, failures: [connect], failureStatuses: ["599"], openFor: 1h }
`, listen, flaky.Addr, dead))
	c := newClient()
	url := "http://" + listen + "/buy"
	flaky.SetFailPercent(60)

	// 60% of the first 20 requests fail (12 ≥ 50%): the 20th opens it.
	for i := range 20 {
		if r := do(t, c, "GET", url, "cb.example.com"); r.Status != 200 && r.Status != 500 {
			t.Fatalf("request %d: %d %q before the minimum count, want the backend's answer", i+1, r.Status, r.Body)
		}
	}
	for range 10 {
		r := do(t, c, "GET", url, "cb.example.com")
		if r.Status != 503 || r.Body != "orders is resting" || r.Header.Get("X-Circuit") != "open" {
			t.Fatalf("open breaker answered %d %q %v, want the fallback", r.Status, r.Body, r.Header)
		}
	}
	if n := flaky.Requests(); n != 20 {
		t.Fatalf("backend saw %d requests, want 20: the open breaker let some through", n)
	}
	if n := gw.pluginEvents("circuit-breaker", "opened"); n != 1 {
		t.Fatalf("opened = %d, want 1", n)
	}
	if n := gw.pluginEvents("circuit-breaker", "rejected"); n != 10 {
		t.Fatalf("rejected = %d, want 10", n)
	}

	// The backend recovers; after the open time the probes close the breaker.
	flaky.SetFailPercent(0)
	time.Sleep(1100 * time.Millisecond)
	for i := range 20 {
		if r := do(t, c, "GET", url, "cb.example.com"); r.Status != 200 {
			t.Fatalf("request %d after recovery: %d %q, want 200", i+1, r.Status, r.Body)
		}
	}
	if n := gw.pluginEvents("circuit-breaker", "half-open"); n != 1 {
		t.Fatalf("half-open = %d, want 1", n)
	}
	if n := gw.pluginEvents("circuit-breaker", "closed"); n != 1 {
		t.Fatalf("closed = %d, want 1", n)
	}

	// A failing probe opens it again.
	flaky.SetFailPercent(100)
	for range 20 {
		do(t, c, "GET", url, "cb.example.com")
	}
	time.Sleep(1100 * time.Millisecond)
	if r := do(t, c, "GET", url, "cb.example.com"); r.Status != 500 {
		t.Fatalf("probe: %d, want the backend's 500", r.Status)
	}
	if r := do(t, c, "GET", url, "cb.example.com"); r.Status != 503 {
		t.Fatalf("after a failed probe: %d, want 503", r.Status)
	}
	if n := gw.pluginEvents("circuit-breaker", "opened"); n != 3 {
		t.Fatalf("opened = %d, want 3", n)
	}

	// Connect failures count when listed (the proxy's own 502s do not
	// match failureStatuses here): the 5th opens the breaker.
	for i := range 5 {
		if r := do(t, c, "GET", "http://"+listen+"/", "gone.example.com"); r.Status < 502 || r.Status > 504 {
			t.Fatalf("request %d to a dead endpoint: %d", i+1, r.Status)
		}
	}
	if r := do(t, c, "GET", "http://"+listen+"/", "gone.example.com"); r.Status != 503 || !strings.Contains(r.Body, "circuit open") {
		t.Fatalf("after 5 connect failures: %d %q, want the default fallback", r.Status, r.Body)
	}
}

// A stable split through the proxy: 10% of distinct users reach the canary,
// tagged; every user's side is the same on every request.
func TestTrafficSplitStable(t *testing.T) {
	t.Parallel()
	listen, listenH2C := testenv.FreeAddr(t), testenv.FreeAddr(t)
	stable := backends.StartHTTP(t, "stable")
	canary := backends.StartHTTP(t, "canary")
	startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
  - { name: h2c, address: %s, protocol: h2c }
services:
  - name: shop
    endpoints: [%q]
  - name: shop-canary
    endpoints: [%q]
routes:
  - name: shop
    hosts: ["split.example.com"]
    backends: [{ service: shop }]
    plugins:
      - name: traffic-split
        config:
          rules:
            - service: shop-canary
              header: { name: x-canary, exact: always }
              tag: { value: gray }
            - service: shop-canary
              weight: 10
              hashOn: { cookie: uid }
              tag: { value: gray }
`, listen, listenH2C, stable, canary))
	c := newClient()
	url := "http://" + listen + "/cart"
	const users = 3000
	side := make([]string, users)
	canaryN := 0
	for u := range users {
		e := do(t, c, "GET", url, "split.example.com", fmt.Sprintf("Cookie: uid=user-%d", u)).echo(t)
		side[u] = e.Backend
		tag := strings.Join(e.Headers["X-Pylon-Tag"], ",")
		switch {
		case e.Backend == "canary" && tag == "gray":
			canaryN++
		case e.Backend == "stable" && tag == "":
		default:
			t.Fatalf("user-%d: backend %s with tag %q", u, e.Backend, tag)
		}
	}
	// Binomial spread at 3000 users: σ ≈ 0.55%; the unit test checks the
	// ±0.5% bound on 100k users.
	if got := float64(canaryN) / users * 100; got < 8 || got > 12 {
		t.Fatalf("canary took %.2f%% of users, want about 10%%", got)
	}
	for u := users - 1; u >= 0; u -= 3 {
		if b := do(t, c, "GET", url, "split.example.com", fmt.Sprintf("Cookie: uid=user-%d", u)).echo(t).Backend; b != side[u] {
			t.Fatalf("user-%d moved from %s to %s", u, side[u], b)
		}
	}
	// The HTTP/2 engine reads the same cookie and picks the same side.
	h2 := h2cClient(listenH2C)
	for u := 0; u < users; u += 10 {
		r := do(t, h2, "GET", "http://"+listenH2C+"/cart", "split.example.com", fmt.Sprintf("Cookie: uid=user-%d", u))
		if b := r.echo(t).Backend; b != side[u] {
			t.Fatalf("user-%d over HTTP/2 went to %s, over HTTP/1.1 to %s", u, b, side[u])
		}
	}
	if b := do(t, c, "GET", url, "split.example.com", "X-Canary: always", "Cookie: uid=user-0").echo(t).Backend; b != "canary" {
		t.Fatalf("x-canary: always went to %s", b)
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: echo
    endpoints: [%q]
routes:
  - name: abort
    hosts: ["fault.example.com"]
    match: { path: { prefix: /abort } }
    backends: [{ service: echo }]
    plugins:
      - name: fault-injection
        config:
          headers: [{ name: x-fault, exact: "on" }]
          abort: { status: 418, body: "injected" }
  - name: delay
    hosts: ["fault.example.com"]
    match: { path: { prefix: /delay } }
    backends: [{ service: echo }]
    plugins:
      - name: fault-injection
        config:
          delay: { duration: 300ms }
`, listen, echo))
	c := newClient()
	if r := do(t, c, "GET", "http://"+listen+"/abort", "fault.example.com", "X-Fault: on"); r.Status != 418 || r.Body != "injected" {
		t.Fatalf("abort: %d %q", r.Status, r.Body)
	}
	if r := do(t, c, "GET", "http://"+listen+"/abort", "fault.example.com"); r.Status != 200 {
		t.Fatalf("without the header: %d, want 200", r.Status)
	}
	start := time.Now()
	if r := do(t, c, "GET", "http://"+listen+"/delay", "fault.example.com"); r.Status != 200 {
		t.Fatalf("delay: %d", r.Status)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("delayed request took %v, want about 300ms", d)
	}
}
