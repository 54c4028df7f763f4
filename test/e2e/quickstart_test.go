package e2e

import (
	"net/http"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// `pylon run` with no config serves the bundled example on 127.0.0.1:8080,
// with its echo backends and plugins. It owns fixed ports, so it does not
// run in parallel with other tests.
func TestQuickstart(t *testing.T) {
	g := &gateway{t: t, metrics: testenv.FreeAddr(t)}
	g.proc = testenv.Start(t, testenv.BuildPylon(t), "run", "--metrics-address", g.metrics,
		"--data-dir", t.TempDir(), "--admin-address", "off", "--access-log=false")
	checkLogAtStop(t, g.proc)
	g.waitReady(10 * time.Second)
	c := newClient()
	r := do(t, c, "GET", "http://127.0.0.1:8080/hello", "echo.example.com", "Accept-Encoding: gzip")
	if r.Status != http.StatusOK || r.Header.Get("RateLimit-Limit") == "" {
		t.Fatalf("quickstart: %d %v", r.Status, r.Header)
	}
	limited := 0
	for range 40 {
		if do(t, c, "GET", "http://127.0.0.1:8080/hello", "echo.example.com").Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("41 requests in well under a second were not limited to 20/s")
	}
}
