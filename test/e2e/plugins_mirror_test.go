package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// mirrored is a request the mirror target received.
type mirrored struct {
	method, uri, mark, body string
}

// startMirrorTarget starts a target that waits for delay (or until the test
// ends) before answering, and reports each request it got.
func startMirrorTarget(t *testing.T, delay time.Duration) (addr string, got chan mirrored) {
	t.Helper()
	got = make(chan mirrored, 100)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- mirrored{r.Method, r.RequestURI, r.Header.Get("X-Pylon-Mirror"), string(b)}:
		default:
		}
		select {
		case <-time.After(delay):
		case <-release:
		case <-r.Context().Done():
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: sleeping handlers return
	return l.Addr().String(), got
}

// The mirror check: a mirror target that sleeps 10 s adds no
// latency to clients (p99 within 5% of the same route without a mirror);
// the copies that do not fit the queue are dropped and counted; copies
// reach a healthy target with the request's method, path, body and mark.
//
// It does not run in parallel with the package's other tests: a p99 of
// sub-millisecond requests is at the mercy of whatever else the machine
// runs, and the bound is 5%.
func TestMirror(t *testing.T) {
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	sleeper, _ := startMirrorTarget(t, 10*time.Second)
	healthy, got := startMirrorTarget(t, 0)
	// Latency is the product's: a race-detector build multiplies the cost
	// of the copy every mirrored request makes.
	gw := startTimedGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: echo
    endpoints: [%q]
  - name: sleeper
    endpoints: [%q]
  - name: recorder
    endpoints: [%q]
routes:
  - name: plain
    hosts: ["mirror.example.com"]
    match: { path: { prefix: /plain } }
    backends: [{ service: echo }]
  - name: slow-mirror
    hosts: ["mirror.example.com"]
    match: { path: { prefix: /slow } }
    backends: [{ service: echo }]
    plugins:
      - name: mirror
        config: { service: sleeper, queueSize: 50, workers: 2, timeout: 15s }
  - name: copied
    hosts: ["mirror.example.com"]
    match: { path: { prefix: /copied } }
    backends: [{ service: echo }]
    plugins:
      - name: mirror
        config: { service: recorder }
`, listen, echo, sleeper, healthy))

	// Copies reach a healthy target.
	req, _ := http.NewRequest("POST", "http://"+listen+"/copied/orders?id=7", strings.NewReader(`{"qty":2}`))
	req.Host = "mirror.example.com"
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "echo" {
		t.Fatalf("client got %d from %q, want 200 from echo", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
	select {
	case m := <-got:
		if m.method != "POST" || m.uri != "/copied/orders?id=7" || m.mark != "1" || m.body != `{"qty":2}` {
			t.Fatalf("copy: %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no copy reached the healthy target")
	}

	// Latency with a target that never answers in time. Requests to both
	// routes are interleaved so machine noise hits both alike. No client
	// may wait on the target (the 1 s bound, checked on every run). The 5%
	// bound on the p99 is a speed target: it moves with whatever else the
	// machine runs, so it is checked by bench/mirror.sh on a quiet machine
	// (PYLON_MIRROR_LATENCY=1), which pools samples over rounds of 3,000
	// pairs until the p99s are within it (at most 8 rounds or 30 s); the
	// suite measures one round and logs it.
	c := newClient()
	measure := func(path string) time.Duration {
		start := time.Now()
		r := do(t, c, "GET", "http://"+listen+path, "mirror.example.com")
		if r.Status != 200 {
			t.Fatalf("%s: %d", path, r.Status)
		}
		return time.Since(start)
	}
	for range 200 { // warm up connections and pools
		measure("/plain")
		measure("/slow")
	}
	const n, rounds = 3000, 8
	var plain, mirror []time.Duration
	budget := time.Now().Add(30 * time.Second)
	for round := 1; ; round++ {
		for range n {
			plain = append(plain, measure("/plain"))
			mirror = append(mirror, measure("/slow"))
		}
		slices.Sort(plain)
		slices.Sort(mirror)
		k := len(plain)
		p99Plain, p99Mirror, worst := plain[k*99/100], mirror[k*99/100], mirror[k-1]
		t.Logf("%d requests each: p50 %v / %v, p99 without mirror %v, with a 10s mirror %v (%+.1f%%), max %v",
			k, plain[k/2], mirror[k/2], p99Plain, p99Mirror, (float64(p99Mirror)/float64(p99Plain)-1)*100, worst)
		if worst > time.Second {
			t.Fatalf("a mirrored request took %v: the slow target held a client", worst)
		}
		if float64(p99Mirror) <= 1.05*float64(p99Plain) || os.Getenv("PYLON_MIRROR_LATENCY") == "" {
			break
		}
		if round == rounds || time.Now().After(budget) {
			t.Fatalf("p99 with the mirror %v is more than 5%% above %v without", p99Mirror, p99Plain)
		}
	}
	// 2 copies with the workers, 50 queued: nearly all others dropped.
	if d := gw.pluginEvents("mirror", "dropped"); d < n {
		t.Fatalf("dropped = %d, want most of the %d copies", d, 2*n)
	}
}

// HTTP/2 request bodies are streamed, not buffered: the mirror copies them
// as they go upstream and queues the copy once the exchange is over, with
// or without a declared length, to an h2c upstream (the body streams
// through) and to an HTTP/1.1 one (the bridge buffers it).
func TestMirrorHTTP2Bodies(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	target, got := startMirrorTarget(t, 0)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: h2c
services:
  - name: h1
    endpoints: [%q]
  - name: h2
    endpoints: [%q]
    protocol: h2c
  - name: shadow
    endpoints: [%q]
routes:
  - name: h1
    hosts: [h1.example.com]
    backends: [{ service: h1 }]
    plugins: [{name: mirror, config: {service: shadow}}]
  - name: h2
    hosts: [h2.example.com]
    backends: [{ service: h2 }]
    plugins: [{name: mirror, config: {service: shadow}}]
`, listen, echo, echo, target))
	c := h2cClient(listen)
	for _, host := range []string{"h1.example.com", "h2.example.com"} {
		for _, declared := range []bool{true, false} {
			body := fmt.Sprintf("payload for %s, length declared %v", host, declared)
			req, _ := http.NewRequest("POST", "http://"+listen+"/orders?x=1", io.MultiReader(strings.NewReader(body)))
			req.Host = host
			if declared {
				req.ContentLength = int64(len(body))
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("%s: %d over %s", host, resp.StatusCode, resp.Proto)
			}
			select {
			case m := <-got:
				if m.method != "POST" || m.uri != "/orders?x=1" || m.body != body {
					t.Errorf("%s, declared %v: mirrored %+v, want the POST with its body", host, declared, m)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s, declared %v: no copy reached the mirror target", host, declared)
			}
		}
	}
}
