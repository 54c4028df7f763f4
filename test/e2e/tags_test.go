package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestGrayTagRouting: the interface. A request tagged gray in the
// route's tag header reaches the gray endpoint; an untagged one, or one
// with a tag the service has not, the untagged endpoint only.
func TestGrayTagRouting(t *testing.T) {
	t.Parallel()
	gray, stable := backends.StartHTTP(t, "gray"), backends.StartHTTP(t, "stable")
	listen := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: orders
    endpoints: [{ address: %q, tags: [gray] }, %q]
routes:
  - name: orders
    hosts: ["orders.test"]
    backends: [{ service: orders }]
    tagHeader: x-pylon-tag
  - name: beta
    hosts: ["beta.orders.test"]
    backends: [{ service: orders }]
    tagHeader: x-pylon-tag
    plugins:
      - name: headers
        config: {request: {set: [{name: X-Pylon-Tag, value: gray}]}}
`, listen, gray, stable))
	waitServed(t, listen, "orders.test", "stable", 2*time.Second)
	c := newClient()
	count := func(headers ...string) map[string]int {
		got := map[string]int{}
		for range 40 {
			got[do(t, c, "GET", "http://"+listen+"/", "orders.test", headers...).Header.Get("X-Backend")]++
		}
		return got
	}
	if got := count("X-Pylon-Tag: gray"); got["gray"] != 40 {
		t.Errorf("tagged gray: %v, want all 40 on the gray endpoint", got)
	}
	// A plugin tags every request of a route before the upstream is chosen.
	for range 20 {
		if b := do(t, c, "GET", "http://"+listen+"/", "beta.orders.test").Header.Get("X-Backend"); b != "gray" {
			t.Fatalf("a request the headers plugin tagged gray reached %q", b)
		}
	}
	for _, h := range [][]string{nil, {"X-Pylon-Tag: blue"}} {
		if got := count(h...); got["stable"] != 40 {
			t.Errorf("%v: %v, want all 40 on the untagged endpoint", h, got)
		}
	}
}

// TestGrayTagFallback: the check. Over a service with 2 gray and
// 3 stable instances, 1,000 tagged requests reach only the gray ones and
// 1,000 untagged ones only the stable ones, each instance of its set
// taking a share. Then the gray instances die: tagged requests fall back
// to the stable instances, none failing (the first tries at a dead
// instance eject it and are retried), and untagged traffic never moves.
func TestGrayTagFallback(t *testing.T) {
	t.Parallel()
	var addrs [5]string
	var servers [5]*httptest.Server
	names := [5]string{"gray1", "gray2", "stable1", "stable2", "stable3"}
	for i, n := range names {
		servers[i] = httptest.NewServer(backends.EchoHandler(n))
		t.Cleanup(servers[i].Close)
		addrs[i] = servers[i].Listener.Addr().String()
	}
	listen := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: orders
    endpoints:
      - { address: %q, tags: [gray] }
      - { address: %q, tags: [gray] }
      - %q
      - %q
      - %q
    healthCheck:
      passive: { consecutiveFailures: 1, ejectionTime: 1m }
routes:
  - name: orders
    hosts: ["orders.test"]
    backends: [{ service: orders }]
    tagHeader: x-pylon-tag
    retries: { attempts: 3 }
`, listen, addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]))
	waitServed(t, listen, "orders.test", "stable1", 5*time.Second)
	c := newClient()
	count := func(n int, headers ...string) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			r, err := tryDo(c, "GET", "http://"+listen+"/", "orders.test", headers...)
			switch {
			case err != nil:
				got["error"]++
			case r.Status != http.StatusOK:
				got[fmt.Sprint("status ", r.Status)]++
			default:
				got[r.Header.Get("X-Backend")]++
			}
		}
		return got
	}
	share := func(what string, got map[string]int, want ...string) {
		t.Helper()
		sum := 0
		for _, n := range want {
			if got[n] < 1000/len(want)/2 {
				t.Errorf("%s: %v: %s took %d, want a share of the %d requests", what, got, n, got[n], 1000)
			}
			sum += got[n]
		}
		if sum != 1000 {
			t.Errorf("%s: %v, want all 1,000 on %v", what, got, want)
		}
	}
	share("tagged gray", count(1000, "X-Pylon-Tag: gray"), "gray1", "gray2")
	share("untagged", count(1000), "stable1", "stable2", "stable3")

	for _, s := range servers[:2] {
		s.CloseClientConnections()
		s.Close()
	}
	share("tagged gray, gray instances dead", count(1000, "X-Pylon-Tag: gray"), "stable1", "stable2", "stable3")
	share("untagged, gray instances dead", count(1000), "stable1", "stable2", "stable3")
}
