package e2e

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestEWMASendsToTheFasterEndpoint: with loadBalancer ewma, a service with
// one endpoint answering in 30 ms and one at once sends nearly every
// request to the fast one; round robin, on the same two, splits them.
func TestEWMASendsToTheFasterEndpoint(t *testing.T) {
	t.Parallel()
	fast := backends.StartHTTP(t, "fast")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.Header().Set("X-Backend", "slow")
		fmt.Fprintln(w, "slow")
	})}
	go slow.Serve(ln)
	t.Cleanup(func() { slow.Close() })

	listen := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: latency-aware
    endpoints: [%q, %q]
    loadBalancer: ewma
  - name: round-robin
    endpoints: [%q, %q]
routes:
  - name: ewma
    hosts: ["ewma.example.com"]
    backends: [{ service: latency-aware }]
  - name: rr
    hosts: ["rr.example.com"]
    backends: [{ service: round-robin }]
`, listen, fast, ln.Addr(), fast, ln.Addr()))
	waitServed(t, listen, "rr.example.com", "fast", 2*time.Second)

	c := newClient()
	count := func(host string) map[string]int {
		got := map[string]int{}
		for range 200 {
			r := do(t, c, "GET", "http://"+listen+"/", host)
			got[r.Header.Get("X-Backend")]++
		}
		return got
	}
	if got := count("ewma.example.com"); got["fast"] < 180 {
		t.Errorf("ewma: %v of 200; want 180 or more on the fast endpoint", got)
	}
	if got := count("rr.example.com"); got["fast"] < 90 || got["fast"] > 110 {
		t.Errorf("round robin: %v of 200; want an even split", got)
	}
}
