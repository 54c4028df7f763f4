package telemetry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestOpsServer(t *testing.T) {
	m := NewMetrics()
	m.Route("default/shop", "shop-svc").Observe(201, time.Millisecond)
	s := NewOpsServer("127.0.0.1:0", m)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v after cancel", err)
		}
	})
	base := "http://" + s.Addr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before SetReady = %d, want 503", code)
	}
	s.SetReady(true)
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ok" {
		t.Errorf("/readyz when ready = %d %q, want 200 ok", code, body)
	}
	s.SetReady(false)
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SetReady(false) = %d, want 503", code)
	}

	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, `pylon_requests_total{code="201",route="default/shop",service="shop-svc"} 1`) {
		t.Errorf("/metrics = %d, missing the route series:\n%s", code, body)
	}

	// Endpoints can be added while serving.
	s.HandleFunc("/debug/config", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"generation":1}`)
	})
	if code, body := get(t, base+"/debug/config"); code != 200 || body != `{"generation":1}` {
		t.Errorf("/debug/config = %d %q", code, body)
	}
}

func TestOpsServerShutdownAndBadAddr(t *testing.T) {
	s := NewOpsServer("127.0.0.1:0", nil)
	done := make(chan error, 1)
	go func() { done <- s.Start(context.Background()) }()
	for s.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	if code, _ := get(t, "http://"+s.Addr().String()+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Start after Shutdown = %v, want nil", err)
	}

	bad := NewOpsServer("127.0.0.1:notaport", nil)
	if err := bad.Start(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "ops: listen") {
		t.Fatalf("Start on a bad address = %v, want an ops: listen error", err)
	}
}
