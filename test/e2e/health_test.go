package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// startSick starts a backend that answers 500 on /healthz and 200 (with
// X-Backend: sick) everywhere else.
func startSick(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Backend", "sick")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func healthyGauge(service, endpoint string, healthy bool) string {
	v := 0
	if healthy {
		v = 1
	}
	return fmt.Sprintf(`pylon_upstream_endpoint_healthy{endpoint=%q,service=%q} %d`, endpoint, service, v)
}

func TestUpstreamHealth(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	good := backends.StartHTTP(t, "good")
	down := testenv.FreeAddr(t) // nothing listens here
	sick := startSick(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: passive
    endpoints: [%q, %q]
    healthCheck:
      passive: { consecutiveFailures: 1, ejectionTime: 30s }
  - name: active
    endpoints: [%q, %q]
    healthCheck:
      active: { type: http, path: /healthz, interval: 100ms, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 2 }
routes:
  - name: passive
    hosts: ["passive.example.com"]
    backends: [{ service: passive }]
    retries: { attempts: 2 }
  - name: active
    hosts: ["active.example.com"]
    backends: [{ service: active }]
`, listen, down, good, good, sick))
	c := newClient()
	base := "http://" + listen

	t.Run("down endpoint with passive check and retries", func(t *testing.T) {
		for i := range 20 {
			r := do(t, c, "GET", base+"/p", "passive.example.com")
			if r.Status != 200 || r.Header.Get("X-Backend") != "good" {
				t.Fatalf("request %d: %d from %q: %s", i, r.Status, r.Header.Get("X-Backend"), r.Body)
			}
		}
		eventually(t, 2*time.Second, "down endpoint ejected", func() (bool, string) {
			m := gw.get("/metrics")
			return strings.Contains(m, healthyGauge("passive", down, false)) && strings.Contains(m, healthyGauge("passive", good, true)),
				grepLines(m, "pylon_upstream_endpoint_healthy")
		})
	})

	t.Run("active check marks a failing endpoint unhealthy", func(t *testing.T) {
		eventually(t, 3*time.Second, "sick endpoint unhealthy", func() (bool, string) {
			m := gw.get("/metrics")
			return strings.Contains(m, healthyGauge("active", sick, false)) && strings.Contains(m, healthyGauge("active", good, true)),
				grepLines(m, "pylon_upstream_endpoint_healthy")
		})
		for i := range 20 {
			r := do(t, c, "GET", base+"/a", "active.example.com")
			if r.Status != 200 || r.Header.Get("X-Backend") != "good" {
				t.Fatalf("request %d: %d from %q; traffic must avoid the sick endpoint", i, r.Status, r.Header.Get("X-Backend"))
			}
		}
	})
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
