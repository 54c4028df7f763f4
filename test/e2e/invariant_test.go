package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestChangesDropNothing is the invariant "a change never drops a
// connection": 1,000 config changes, each applied and seen in /debug/config,
// while clients load the gateway and a WebSocket and a keep-alive connection
// stay open.
func TestChangesDropNothing(t *testing.T) {
	const changes = 1000
	listen := testenv.FreeAddr(t)
	a, b := backends.StartHTTP(t, "a"), backends.StartHTTP(t, "b")
	ws := backends.StartWebSocket(t)
	render := func(i int) string {
		return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: a
    endpoints: [%q]
  - name: b
    endpoints: [%q]
  - name: ws
    endpoints: [%q]
routes:
  - name: stable
    hosts: ["stable.example.com"]
    backends: [{ service: a }]
  - name: ws
    hosts: ["ws.example.com"]
    backends: [{ service: ws }]
  - name: churn
    hosts: ["churn-%d.example.com"]
    match: { path: { prefix: /v%d } }
    backends: [{ service: %s }]
`, listen, a, b, ws, i, i, []string{"a", "b"}[i%2])
	}
	gw := startGateway(t, render(0))
	base := "http://" + listen

	// The keep-alive connection: one transport, one connection, whose local
	// port is recorded on every request.
	kaTransport := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	defer kaTransport.CloseIdleConnections()
	ka := &http.Client{Transport: kaTransport, Timeout: 10 * time.Second}
	kaRequest := func() (local string, reused bool) {
		t.Helper()
		var info httptrace.GotConnInfo
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }})
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/ka", nil)
		req.Host = "stable.example.com"
		resp, err := ka.Do(req)
		if err != nil {
			t.Fatalf("keep-alive request: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("keep-alive request: %d", resp.StatusCode)
		}
		return info.Conn.LocalAddr().String(), info.Reused
	}
	kaLocal, _ := kaRequest()

	wsConn := dialWS(t, &websocket.Dialer{HandshakeTimeout: 5 * time.Second}, "ws://"+listen+"/chat", "ws.example.com")
	defer wsConn.Close()
	wsEchoes(t, wsConn, 2)

	// Load: four clients, each with its own keep-alive pool, until stopped.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
			defer c.Transport.(*http.Transport).CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tryDo(c, "GET", fmt.Sprintf("%s/load/%d", base, i), "stable.example.com")
				if err == nil && r.Status == 200 {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d: %s", r.Status, r.Body)
				}
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}

	start := time.Now()
	version := gw.debugConfig().Version
	client := &http.Client{Timeout: 2 * time.Second}
	for i := 1; i <= changes; i++ {
		writeFile(t, gw.config, render(i))
		deadline := time.Now().Add(3 * time.Second)
		for {
			st, err := fetchVersion(client, gw.metrics)
			if err == nil && st > version {
				version = st
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("change %d not applied within 3s (version %d, err %v)", i, st, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if i%100 == 0 {
			// Mid-churn, the long-lived connections keep working.
			if local, reused := kaRequest(); local != kaLocal || !reused {
				t.Errorf("change %d: keep-alive request went over %s (reused %v), want the connection from %s", i, local, reused, kaLocal)
			}
			wsEchoes(t, wsConn, 2)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	// The last change is live.
	r := do(t, newClient(), "GET", fmt.Sprintf("%s/v%d/x", base, changes), fmt.Sprintf("churn-%d.example.com", changes))
	if r.Status != 200 {
		t.Errorf("last change's route answered %d", r.Status)
	}
	t.Logf("%d changes in %v; %d requests served, %d failed", changes, elapsed, ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the changes; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Errorf("no load was served")
	}
	wsEchoes(t, wsConn, 20)
	if local, reused := kaRequest(); local != kaLocal || !reused {
		t.Errorf("after the changes the keep-alive request went over %s (reused %v), want the connection from %s", local, reused, kaLocal)
	}
}

func fetchVersion(c *http.Client, metrics string) (uint64, error) {
	resp, err := c.Get("http://" + metrics + "/debug/config")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st configStatus
	if err := jsonDecode(resp.Body, &st); err != nil {
		return 0, err
	}
	return st.Version, nil
}
