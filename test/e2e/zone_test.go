package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestZoneAwareStaticEndpoints: a file service whose endpoints carry their
// zone, with zoneAware, sends a gateway in zone-a's traffic to zone-a's
// endpoints; one killed is ejected and the other takes its traffic (half
// of zone-a healthy is not below minHealthyShare 0.5); the second killed
// spills over to zone-b. No request fails: the try that meets a dead
// endpoint is retried, and after its ejection none meets it. Load spills
// over too: zone-a's endpoints slowed down past twice the requests in
// flight of zone-b's send the excess to zone-b; with maxLoadFactor 0
// they do not.
func TestZoneAwareStaticEndpoints(t *testing.T) {
	t.Parallel()
	start := func(name string) *httptest.Server {
		s := httptest.NewServer(backends.EchoHandler(name))
		t.Cleanup(s.Close)
		return s
	}
	a1, a2, b1 := start("a1"), start("a2"), start("b1")
	addr := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	listen := testenv.FreeAddr(t)
	config := func(factor string) string {
		return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: app
    zoneAware: { minHealthyShare: 0.5, maxLoadFactor: %s }
    healthCheck:
      passive: { consecutiveFailures: 1, ejectionTime: 1m }
    endpoints:
      - { address: %q, zone: zone-a }
      - { address: %q, zone: zone-a }
      - { address: %q, zone: zone-b }
routes:
  - name: app
    hosts: [%q]
    backends: [{ service: app }]
`, listen, factor, addr(a1), addr(a2), addr(b1), zoneHost)
	}
	gw := startGateway(t, config("2"), "--zone", "zone-a")

	picks := func(tier string) float64 {
		return metricValue(t, gw.get("/metrics"), `pylon_upstream_locality_picks_total{service="app",tier="`+tier+`"}`)
	}
	steadySpread(t, "zone-a's endpoints", listen, "a1 a2")
	if zone, other := picks("zone"), picks("other"); zone == 0 || other != 0 {
		t.Errorf("zone-a healthy: picks by tier zone %v, other %v; want all in the zone", zone, other)
	}
	a1.CloseClientConnections()
	a1.Close()
	steadySpread(t, "a1 killed: a2 (its failed try retried), then a2 alone", listen, "a2")
	a2.CloseClientConnections()
	a2.Close()
	steadySpread(t, "zone-a all killed: zone-b", listen, "b1")
	if other := picks("other"); other == 0 {
		t.Errorf("zone-a all killed: no pick counted as spilled over (tier other)")
	}

	// Load: new zone-a endpoints, 12 slow requests at once.
	a1, a2 = start("a1"), start("a2")
	burst := func() map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", "http://"+listen+"/delay/300", nil)
				req.Host = zoneHost
				a := doKube(&http.Client{Timeout: 5 * time.Second}, req)
				mu.Lock()
				defer mu.Unlock()
				if a.err != nil || a.status != 200 {
					got[fmt.Sprintf("failed %d %v", a.status, a.err)]++
					return
				}
				got[a.backend]++
			})
			time.Sleep(5 * time.Millisecond) // in-flight counts build up
		}
		wg.Wait()
		return got
	}
	writeFile(t, gw.config, config("2"))
	soonSpread(t, "new zone-a endpoints (fresh health)", listen, "a1 a2")
	if got := burst(); got["b1"] == 0 || got["a1"]+got["a2"]+got["b1"] != 12 {
		t.Errorf("12 at once on two slow zone-a endpoints, factor 2: %v, want some spilled to b1 and none failed", got)
	}
	v := gw.debugConfig().Version
	writeFile(t, gw.config, config("0"))
	eventually(t, 10*time.Second, "maxLoadFactor 0 applied", func() (bool, string) {
		st := gw.debugConfig()
		return st.Version > v, fmt.Sprintf("version %d, rejected %v", st.Version, st.Rejected)
	})
	if got := burst(); got["b1"] != 0 || got["a1"]+got["a2"] != 12 {
		t.Errorf("maxLoadFactor 0: %v, want every request in zone-a", got)
	}
}
