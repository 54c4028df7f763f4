package wafbypass

import (
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/upstream"
)

// verdicts is the test WAF: 403 with its own page for paths holding
// "attack", 200 otherwise.
func verdicts(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "attack") {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(403)
		_, _ = w.Write([]byte("<h1>blocked by the waf</h1>"))
		return
	}
	w.WriteHeader(200)
}

// A 2xx lets the request through, with the WAF having seen the request as
// the client sent it; a 403 answers the client with the WAF's page. Over
// an HTTP/1.1 and an h2c WAF service alike.
func TestAllowAndBlock(t *testing.T) {
	for name, proto := range map[string]upstream.Protocol{"http1": upstream.HTTP1, "h2c": upstream.H2C} {
		t.Run(name, func(t *testing.T) {
			addr, got := startWAF(t, verdicts)
			h := newHarness(t, addr, proto, cfg())

			c := plugintest.New()
			c.MethodV, c.HostV, c.PathV, c.QueryV = "POST", "shop.example.com", "/cart/add", "id=7&q=a%20b"
			c.ClientIPV, c.RequestIDV = "192.0.2.10", "req-1"
			c.ReqHeader.Set("Authorization", "Bearer t0k3n")
			c.ReqHeader.Set("X-Forwarded-For", "198.51.100.1")
			c.ReqHeader.Set("X-Real-Ip", "203.0.113.99") // the client's claim: replaced
			c.ReqHeader.Set("Connection", "keep-alive")
			c.ReqHeader.Set("Content-Type", "application/json")
			c.BodyV, c.BodyBuffered, c.Length = []byte(`{"qty":2}`), true, 9
			before := c.ReqHeader.Clone()
			if !h.do(c) {
				t.Fatalf("a 200 from the WAF refused the request: %d %q", c.StatusV, c.RespBody)
			}
			if !reflect.DeepEqual(c.ReqHeader, before) || len(c.Security) != 0 {
				t.Fatalf("an allowed request changed: headers %v, notes %v", c.ReqHeader, c.Security)
			}
			a := <-got
			if a.Method != "POST" || a.URI != "/cart/add?id=7&q=a%20b" || a.Host != "shop.example.com" || string(a.Body) != `{"qty":2}` {
				t.Fatalf("the WAF saw %s %s Host %s body %q", a.Method, a.URI, a.Host, a.Body)
			}
			for name, want := range map[string]string{
				"Authorization": "Bearer t0k3n", "Content-Type": "application/json",
				"X-Forwarded-For": "198.51.100.1, 192.0.2.10", "X-Real-Ip": "192.0.2.10",
				"X-Forwarded-Proto": "http", "X-Request-Id": "req-1", "Connection": "",
			} {
				if v := strings.Join(a.Header.Values(name), "|"); v != want {
					t.Errorf("the WAF got %s %q, want %q", name, v, want)
				}
			}

			c = plugintest.New()
			c.PathV = "/search/attack"
			if h.do(c) {
				t.Fatal("a 403 from the WAF let the request through")
			}
			if c.StatusV != 403 || string(c.RespBody) != "<h1>blocked by the waf</h1>" || c.RespHeader.Get("Content-Type") != "text/html" {
				t.Fatalf("blocked request answered %d %q (%s), want the WAF's 403 page", c.StatusV, c.RespBody, c.RespHeader.Get("Content-Type"))
			}
			if a, b := h.count("pylon_waf_bypass_requests_total", "allowed"), h.count("pylon_waf_bypass_requests_total", "blocked"); a != 1 || b != 1 {
				t.Fatalf("allowed %d, blocked %d, want 1 and 1", a, b)
			}
		})
	}
}

// slowWAF answers after delay, or when the test ends.
func slowWAF(t *testing.T, delay time.Duration) string {
	t.Helper()
	stop := make(chan struct{})
	addr, _ := startWAF(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-stop:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(stop) }) // runs before the server closes
	return addr
}

// A WAF slower than the timeout: the request goes on after about the
// timeout (not the WAF's 5 s), noted in the access log, and nothing about
// it reaches the upstream.
func TestTimeoutFailsOpenWithinTimeout(t *testing.T) {
	h := newHarness(t, slowWAF(t, 5*time.Second), upstream.HTTP1, cfg("timeout", "100ms"))
	c := plugintest.New()
	c.ReqHeader.Set("Accept", "*/*")
	before := c.ReqHeader.Clone()
	start := time.Now()
	ok := h.do(c)
	took := time.Since(start)
	if !ok {
		t.Fatalf("failure open refused the request: %d", c.StatusV)
	}
	if took < 100*time.Millisecond || took > 400*time.Millisecond {
		t.Fatalf("the request waited %v, want about the 100ms timeout", took)
	}
	if !reflect.DeepEqual(c.Security, []string{FailOpenNote}) {
		t.Fatalf("access log notes %q, want [%q]", c.Security, FailOpenNote)
	}
	if !reflect.DeepEqual(c.ReqHeader, before) || c.UpstreamHost != "" {
		t.Fatalf("the upstream request changed: %v", c.ReqHeader)
	}
	if n, m := h.count("pylon_waf_bypass_requests_total", "fail_open"), h.count("pylon_waf_bypass_failures_total", "timeout"); n != 1 || m != 1 {
		t.Fatalf("fail_open %d, timeout %d, want 1 and 1", n, m)
	}
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string { return deadAddrB(t) }

func deadAddrB(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// failure: closed refuses what the WAF could not judge, with the
// configured status, and notes no fail-open.
func TestFailureClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   func(t *testing.T) string
		status any
		want   int
		reason string
	}{
		{"down", deadAddr, nil, 403, "error"},
		{"slow", func(t *testing.T) string { return slowWAF(t, 5*time.Second) }, 503, 503, "timeout"},
		{"5xx", func(t *testing.T) string {
			a, _ := startWAF(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) })
			return a
		}, nil, 403, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := []any{"failure", "closed", "timeout", "100ms"}
			if tc.status != nil {
				kv = append(kv, "failureStatus", tc.status)
			}
			h := newHarness(t, tc.addr(t), upstream.HTTP1, cfg(kv...))
			c := plugintest.New()
			if h.do(c) {
				t.Fatal("failure closed let the request through")
			}
			if c.StatusV != tc.want || string(c.RespBody) != string(refusal) || len(c.Security) != 0 {
				t.Fatalf("answered %d %q (notes %v), want %d %q", c.StatusV, c.RespBody, c.Security, tc.want, refusal)
			}
			if n, m := h.count("pylon_waf_bypass_requests_total", "fail_closed"), h.count("pylon_waf_bypass_failures_total", tc.reason); n != 1 || m != 1 {
				t.Fatalf("fail_closed %d, %s %d, want 1 and 1", n, tc.reason, m)
			}
		})
	}
}

// Neither a pass nor a block (a 404 from a WAF on the wrong path), and no
// WAF endpoint at all: both fail open.
func TestOtherFailuresFailOpen(t *testing.T) {
	addr, _ := startWAF(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })
	for name, h := range map[string]*harness{
		"status":      newHarness(t, addr, upstream.HTTP1, cfg()),
		"no_endpoint": newHarness(t, "", upstream.HTTP1, cfg()),
	} {
		c := plugintest.New()
		if !h.do(c) || len(c.Security) != 1 {
			t.Fatalf("%s: answered %d, notes %v; want through, noted", name, c.StatusV, c.Security)
		}
		if n := h.count("pylon_waf_bypass_failures_total", name); n != 1 {
			t.Fatalf("%s counted %d times, want 1", name, n)
		}
	}
}

// After minRequests failed checks the circuit opens: requests flow at once,
// the WAF is not asked; after openFor a probe finds the WAF healthy again
// and closes it.
func TestBreakerOpensAndCloses(t *testing.T) {
	var healthy atomic.Bool
	var asked atomic.Int64
	stop := make(chan struct{})
	addr, _ := startWAF(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !healthy.Load() {
			select { // slower than the timeout
			case <-time.After(5 * time.Second):
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		verdicts(w, r)
	})
	t.Cleanup(func() { close(stop) })
	h := newHarness(t, addr, upstream.HTTP1, cfg("timeout", "50ms",
		"breaker", map[string]any{"minRequests": 4, "failureRatio": 0.5, "window": "1m", "openFor": "300ms"}))
	for i := range 4 {
		if c := plugintest.New(); !h.do(c) {
			t.Fatalf("request %d refused", i)
		}
	}
	if n := h.count("pylon_waf_bypass_circuit_total", "opened"); n != 1 {
		t.Fatalf("opened %d, want 1 after 4 timeouts", n)
	}
	before := asked.Load()
	start := time.Now()
	for i := range 50 {
		c := plugintest.New()
		if !h.do(c) || len(c.Security) != 1 {
			t.Fatalf("request %d with the circuit open: answered %d, notes %v", i, c.StatusV, c.Security)
		}
	}
	if took := time.Since(start); took > 40*time.Millisecond {
		t.Fatalf("50 requests with the circuit open took %v: they waited for the WAF", took)
	}
	if n := h.count("pylon_waf_bypass_failures_total", "circuit_open"); n != 50 {
		t.Fatalf("circuit_open %d, want 50", n)
	}
	time.Sleep(20 * time.Millisecond) // a timed-out exchange may still be arriving
	if a := asked.Load(); a > before+1 {
		t.Fatalf("the WAF was asked %d times while the circuit was open", a-before)
	}

	healthy.Store(true)
	time.Sleep(300 * time.Millisecond)
	c := plugintest.New()
	if !h.do(c) || len(c.Security) != 0 {
		t.Fatalf("probe: answered %d, notes %v; want allowed by the WAF", c.StatusV, c.Security)
	}
	if o, hh, cl := h.count("pylon_waf_bypass_circuit_total", "opened"), h.count("pylon_waf_bypass_circuit_total", "half_open"),
		h.count("pylon_waf_bypass_circuit_total", "closed"); o != 1 || hh != 1 || cl != 1 {
		t.Fatalf("opened %d, half_open %d, closed %d, want 1 each", o, hh, cl)
	}
	c = plugintest.New()
	c.PathV = "/attack"
	if h.do(c) || c.StatusV != 403 {
		t.Fatalf("after closing the WAF's verdicts count again: %d", c.StatusV)
	}
}

// percent checks a share of requests; the others pass unasked.
func TestSampling(t *testing.T) {
	var asked atomic.Int64
	addr, _ := startWAF(t, func(w http.ResponseWriter, _ *http.Request) { asked.Add(1); w.WriteHeader(403) })
	h := newHarness(t, addr, upstream.HTTP1, cfg("percent", 0))
	for range 20 {
		if !h.do(plugintest.New()) {
			t.Fatal("percent 0 blocked a request")
		}
	}
	if asked.Load() != 0 || h.count("pylon_waf_bypass_requests_total", "unchecked") != 20 {
		t.Fatalf("percent 0: WAF asked %d times, unchecked %d", asked.Load(), h.count("pylon_waf_bypass_requests_total", "unchecked"))
	}
	h = newHarness(t, addr, upstream.HTTP1, cfg("percent", 25))
	blocked := 0
	for range 400 {
		if !h.do(plugintest.New()) {
			blocked++
		}
	}
	if blocked < 60 || blocked > 140 || int64(blocked) != asked.Load() {
		t.Fatalf("percent 25 of 400: %d checked (WAF asked %d), want about 100", blocked, asked.Load())
	}
}

// The WAF gets at most maxBody bytes of body, buffered or streamed.
func TestBodyBounded(t *testing.T) {
	addr, got := startWAF(t, verdicts)
	body := []byte(strings.Repeat("0123456789", 10))
	for _, tc := range []struct {
		name     string
		maxBody  int
		buffered bool
		want     string
	}{
		{"buffered", 16, true, string(body[:16])},
		{"streamed", 16, false, string(body[:16])},
		{"short", 1000, false, string(body)},
		{"none", 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, addr, upstream.HTTP1, cfg("maxBody", tc.maxBody))
			c := plugintest.New()
			c.MethodV, c.BodyV, c.BodyBuffered = "PUT", body, tc.buffered
			if !h.do(c) {
				t.Fatalf("refused: %d", c.StatusV)
			}
			if a := <-got; string(a.Body) != tc.want || a.Header.Get("Content-Length") != "" && a.Header.Get("Content-Length") != "0" && len(a.Body) != len(tc.want) {
				t.Fatalf("the WAF got %d bytes %q, want %q", len(a.Body), a.Body, tc.want)
			}
		})
	}
}

// A client that goes away stops the wait at once; the WAF's health is not
// judged by it.
func TestClientGoneStopsWaiting(t *testing.T) {
	h := newHarness(t, slowWAF(t, 5*time.Second), upstream.HTTP1, cfg("timeout", "2s"))
	c := plugintest.New()
	c.DoneV = make(chan struct{})
	time.AfterFunc(30*time.Millisecond, func() { close(c.DoneV) })
	start := time.Now()
	h.do(c)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("waited %v after the client went away", took)
	}
	if n := h.count("pylon_waf_bypass_failures_total", "canceled"); n != 1 {
		t.Fatalf("canceled %d, want 1", n)
	}
}

// A client body that cannot be read ends the request with a 400, before
// the WAF is asked.
func TestBodyReadError(t *testing.T) {
	addr, got := startWAF(t, verdicts)
	h := newHarness(t, addr, upstream.HTTP1, cfg())
	c := plugintest.New()
	c.BodyV, c.ReadErr = []byte("x"), net.ErrClosed
	if h.do(c) || c.StatusV != 400 {
		t.Fatalf("answered %d, want 400", c.StatusV)
	}
	select {
	case a := <-got:
		t.Fatalf("the WAF was asked about an unreadable request: %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
}
