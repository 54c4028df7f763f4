package e2e

import (
	"fmt"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// Session affinity as ingress-nginx's "affinity: cookie" gives it: a new
// client gets a cookie with its first response, and that first response
// already came from the endpoint all its later requests go to.
func TestSessionAffinityCookie(t *testing.T) {
	t.Parallel()
	listen, h2c := testenv.FreeAddr(t), testenv.FreeAddr(t)
	a, b := backends.StartHTTP(t, "a"), backends.StartHTTP(t, "b")
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
  - name: h2c
    address: %s
    protocol: h2c
services:
  - name: app
    endpoints: [%q, %q]
    loadBalancer: consistentHash
    hashOn: { cookie: route }
routes:
  - name: app
    hosts: ["app.example.com"]
    backends: [{ service: app }]
    plugins:
      - name: session-affinity
        config: { cookie: route, maxAge: 1h }
`, listen, h2c, a, b))
	seen := map[string]int{}
	for i := range 24 {
		// Half the clients speak HTTP/1.1, half HTTP/2: both engines.
		c, addr := newClient(), listen
		if i%2 == 1 {
			c, addr = h2cClient(h2c), h2c
		}
		first := do(t, c, "GET", "http://"+addr+"/", "app.example.com")
		sc := first.Header.Get("Set-Cookie")
		if first.Status != 200 || !strings.HasPrefix(sc, "route=") || !strings.Contains(sc, "Max-Age=3600") {
			t.Fatalf("client %d: status %d, Set-Cookie %q", i, first.Status, sc)
		}
		cookie := strings.SplitN(sc, ";", 2)[0]
		backend := first.echo(t).Backend
		seen[backend]++
		for j := range 5 {
			r := do(t, c, "GET", "http://"+addr+"/", "app.example.com", "Cookie: "+cookie)
			if got := r.echo(t).Backend; got != backend {
				t.Fatalf("client %d request %d went to %s, first went to %s", i, j+2, got, backend)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Fatalf("client %d: cookie issued again", i)
			}
		}
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("clients not spread over the endpoints: %v", seen)
	}
}
