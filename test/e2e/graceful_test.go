package e2e

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: slow
    endpoints: [%q]
routes:
  - name: slow
    backends: [{ service: slow }]
`, listen, backends.StartHTTP(t, "slow")), "--drain-timeout", "10s")

	// An idle keep-alive connection is open too; it must not hold up the exit.
	idle := newClient()
	if r := do(t, idle, "GET", "http://"+listen+"/warm", "slow.example.com"); r.Status != 200 {
		t.Fatalf("warm-up: %d", r.Status)
	}

	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := tryDo(newClient(), "GET", "http://"+listen+"/delay/1500", "slow.example.com")
		done <- result{r, err}
	}()
	time.Sleep(300 * time.Millisecond) // the slow request is at the backend
	sent := time.Now()
	if err := gw.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Readiness turns false (or the metrics listener goes away) at once.
	c := &http.Client{Timeout: time.Second}
	eventually(t, time.Second, "/readyz not ready", func() (bool, string) {
		resp, err := c.Get("http://" + gw.metrics + "/readyz")
		if err != nil {
			return true, ""
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable, resp.Status
	})
	// New connections are refused while the slow request drains.
	eventually(t, time.Second, "new connections refused", func() (bool, string) {
		conn, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err != nil {
			return true, ""
		}
		conn.Close()
		return false, "dial succeeded"
	})

	select {
	case res := <-done:
		if res.err != nil || res.r.Status != 200 {
			t.Fatalf("in-flight request: %v, status %d", res.err, res.r.Status)
		}
		if e := res.r.echo(t); e.Path != "/delay/1500" {
			t.Fatalf("in-flight request answered for %s", e.Path)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not complete")
	}

	exited := make(chan error, 1)
	go func() { exited <- gw.proc.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("pylon exited with %v, want 0", err)
		}
		t.Logf("exited %v after SIGTERM", time.Since(sent))
		if d := time.Since(sent); d > 5*time.Second {
			t.Errorf("exit took %v; the only in-flight request ended after ~1.2s", d)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("pylon did not exit within the drain timeout")
	}
	if _, err := net.DialTimeout("tcp", listen, 200*time.Millisecond); err == nil {
		t.Fatal("listener still accepts after exit")
	}
}
