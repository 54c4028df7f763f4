package e2e

import (
	"fmt"
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
