package mirror

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/upstream"
)

func post(body string) *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV, c.HostV, c.PathV, c.QueryV = "POST", "shop.example.com", "/orders/7", "expand=items&x=1"
	c.ReqHeader.Set("Content-Type", "application/json")
	c.ReqHeader.Set("X-Request-Id", "abc")
	c.ReqHeader.Set("Connection", "keep-alive")
	c.ReqHeader.Set("X-Pylon-Mirror", "spoofed")
	c.BodyV, c.BodyBuffered, c.Length = []byte(body), true, int64(len(body))
	return c
}

func wait(t *testing.T, got chan copyReq) copyReq {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no copy arrived")
	}
	return copyReq{}
}

func TestCopyArrives(t *testing.T) {
	addr, got := target(t, nil)
	h := newHarness(t, addr, map[string]any{"service": "shadow"})
	if h.r.Upstream(post(`{"qty":2}`)) != plugin.Continue {
		t.Fatal("mirror stopped the request")
	}
	r := wait(t, got)
	if r.Method != "POST" || r.URI != "/orders/7?expand=items&x=1" || r.Host != "shop.example.com" {
		t.Errorf("copy: %s %s host %s", r.Method, r.URI, r.Host)
	}
	if string(r.Body) != `{"qty":2}` {
		t.Errorf("body %q", r.Body)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Request-Id") != "abc" {
		t.Errorf("headers not copied: %v", r.Header)
	}
	if v := r.Header.Values("X-Pylon-Mirror"); len(v) != 1 || v[0] != "1" {
		t.Errorf("mark header %v, want [1]", v)
	}
	eventually(t, func() bool { return h.counter("sent") == 1 }, "sent counter")
}

func TestCopyOverH2C(t *testing.T) {
	addr, got := target(t, nil)
	h := newHarnessProto(t, addr, upstream.H2C, map[string]any{"service": "shadow"})
	h.r.Upstream(post("body"))
	r := wait(t, got)
	if r.Proto != "HTTP/2.0" || r.URI != "/orders/7?expand=items&x=1" || string(r.Body) != "body" || r.Header.Get("X-Pylon-Mirror") != "1" {
		t.Fatalf("h2c copy: %s %s %q %v", r.Proto, r.URI, r.Body, r.Header)
	}
}

func TestMarkHeaderConfigurable(t *testing.T) {
	addr, got := target(t, nil)
	h := newHarness(t, addr, map[string]any{"service": "shadow", "markHeader": "X-Shadow", "markValue": "yes"})
	h.r.Upstream(post(""))
	if r := wait(t, got); r.Header.Get("X-Shadow") != "yes" {
		t.Fatalf("mark: %v", r.Header)
	}
}

// A target that never answers: the hook still returns at once, the queue
// fills, and the copies that do not fit are dropped and counted.
func TestSlowTargetNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	addr, _ := target(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	h := newHarness(t, addr, map[string]any{"service": "shadow", "queueSize": 4, "workers": 1, "timeout": "10s"})
	var worst time.Duration
	for range 100 {
		start := time.Now()
		h.r.Upstream(post("x"))
		worst = max(worst, time.Since(start))
	}
	if worst > 20*time.Millisecond {
		t.Errorf("a request waited %v on the mirror", worst)
	}
	// 1 copy with the worker, 4 queued, the rest dropped.
	if d := h.counter("dropped"); d < 90 {
		t.Errorf("dropped %d of 100 with room for 5", d)
	}
}

func TestDeadTargetCountsFailures(t *testing.T) {
	// Nothing listens on port 1: every copy fails to connect.
	h := newHarness(t, "127.0.0.1:1", map[string]any{"service": "shadow", "timeout": "1s"})
	for range 3 {
		h.r.Upstream(post(""))
	}
	eventually(t, func() bool { return h.counter("failed") == 3 }, "failed counter")
}

func TestPercent(t *testing.T) {
	h := newHarness(t, "", map[string]any{"service": "shadow", "percent": 0})
	for range 100 {
		h.r.Upstream(post(""))
	}
	time.Sleep(50 * time.Millisecond)
	if n := h.counter("failed") + h.counter("dropped"); n != 0 {
		t.Fatalf("percent 0 copied %d requests", n)
	}
	h = newHarness(t, "", map[string]any{"service": "shadow", "percent": 30, "queueSize": 100000})
	for range 10000 {
		h.r.Upstream(post(""))
	}
	eventually(t, func() bool { n := h.counter("failed"); return n > 2600 && n < 3400 }, "about 30% copied")
}

func TestBodyLimits(t *testing.T) {
	addr, got := target(t, nil)
	skip := newHarness(t, addr, map[string]any{"service": "shadow", "maxBodySize": 4})
	skip.r.Upstream(post("0123456789"))
	if n := skip.counter("skipped"); n != 1 {
		t.Fatalf("skipped = %d, want 1", n)
	}
	trunc := newHarness(t, addr, map[string]any{"service": "shadow", "maxBodySize": 4, "oversizedBody": "truncate"})
	trunc.r.Upstream(post("0123456789"))
	if r := wait(t, got); string(r.Body) != "0123" {
		t.Fatalf("truncated body %q, want 0123", r.Body)
	}
	// A streamed body (HTTP/2) is copied as it goes upstream and queued
	// at the log phase: whole (truncated here), or not at all when it was
	// cut short.
	streamed := post("abcdefgh")
	streamed.BodyBuffered, streamed.Length = false, -1
	trunc.r.Upstream(streamed)
	if streamed.CaptureMax != 4 {
		t.Fatalf("streamed body: capture of %d bytes asked, want 4", streamed.CaptureMax)
	}
	streamed.CaptureComplete = true
	trunc.r.Log(streamed, &plugin.Outcome{Status: 200})
	if r := wait(t, got); string(r.Body) != "abcd" {
		t.Fatalf("streamed body copied as %q, want abcd", r.Body)
	}
	cut := post("ab")
	cut.BodyBuffered, cut.Length = false, -1
	trunc.r.Upstream(cut)
	trunc.r.Log(cut, &plugin.Outcome{Status: 502}) // CaptureComplete false: the body never ended
	if n := trunc.counter("skipped"); n != 1 {
		t.Fatalf("body cut short: skipped = %d, want 1", n)
	}
	get := plugintest.New() // no body, not buffered: copied without one
	trunc.r.Upstream(get)
	get.Length = 0
	trunc.r.Upstream(get)
	if r := wait(t, got); r.Method != "GET" {
		t.Fatalf("GET copy: %+v", r)
	}
}

// The queue lives in the state store: a rebuilt chain with the same config
// keeps it (and its workers); when the last user goes, the workers stop.
func TestQueueLifecycle(t *testing.T) {
	base := settledGoroutines()
	h := newHarness(t, "", map[string]any{"service": "shadow", "workers": 20})
	if n := runtime.NumGoroutine(); n < base+20 {
		t.Fatalf("%d goroutines, want 20 workers more than %d", n, base)
	}
	ch2 := h.rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "mirror", Config: map[string]any{"service": "shadow", "workers": 20}}})
	if n := runtime.NumGoroutine(); n >= base+40 {
		t.Fatalf("a rebuilt chain started new workers (%d goroutines)", n)
	}
	h.rt.Release(h.ch)
	if h.rt.State().Len() != 1 {
		t.Fatal("queue dropped while a chain still uses it")
	}
	h.rt.Release(ch2)
	h.ch = h.rt.Chain(nil)
	eventually(t, func() bool { return runtime.NumGoroutine() <= base+2 }, "workers stopped")
	// A late request on the dropped instance must not panic or block.
	var r plugin.Runner
	r.Reset(ch2, "default", nil, nil)
	r.Upstream(post(""))
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{}`, "service:"},
		{`{"service":"s","percent":101}`, "percent:"},
		{`{"service":"s","queueSize":0}`, "queueSize:"},
		{`{"service":"s","workers":0}`, "workers:"},
		{`{"service":"s","timeout":"0s"}`, "timeout:"},
		{`{"service":"s","maxBodySize":-1}`, "maxBodySize:"},
		{`{"service":"s","oversizedBody":"drop"}`, "oversizedBody:"},
		{`{"service":"s","markHeader":"a b"}`, "markHeader:"},
	} {
		var raw map[string]any
		_ = json.Unmarshal([]byte(tc.json), &raw)
		_, err := plugin.DecodeConfig("mirror", raw)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want one naming %s", tc.json, err, tc.field)
		}
	}
	if s := plugin.ServicesOf("mirror", map[string]any{"service": "shadow"}); len(s) != 1 || s[0] != "shadow" {
		t.Errorf("services %v", s)
	}
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 5s", what)
}

// settledGoroutines counts goroutines once the earlier tests' have ended
// (their servers and clients wind down asynchronously): a count taken while
// they still run makes a lower one later look like missing workers.
func settledGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}
