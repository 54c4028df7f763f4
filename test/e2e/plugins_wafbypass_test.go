package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// wafBypassEvents sums pylon_waf_bypass_<family>_total over every scope
// for one value of the family's label.
func (g *gateway) wafBypassEvents(family, label, value string) int64 {
	g.t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^pylon_waf_bypass_%s_total\{%s="%s",scope="[^"]*"\} (\d+)$`,
		regexp.QuoteMeta(family), regexp.QuoteMeta(label), regexp.QuoteMeta(value)))
	var n int64
	for _, m := range re.FindAllStringSubmatch(g.get("/metrics"), -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// The bypass WAF check, with a real second Pylon as the external
// WAF: its routes answer 403 for paths under /attack and for requests
// carrying X-Scanner (so the client's headers reach it), and pass the
// rest to a backend that answers 200. Through the gateway under test a
// 200 passes and a 403 blocks with the WAF's page. Then the WAF hangs
// (SIGSTOP) and dies (SIGKILL): traffic flows within the 200ms timeout,
// the fail-open counter rises, the access log carries
// "waf":"waf-bypass:fail-open", and the upstream sees nothing of it.
func TestWAFBypass(t *testing.T) {
	t.Parallel()
	app := backends.StartHTTP(t, "app")
	wafBackend := backends.StartHTTP(t, "waf-backend")
	wafListen := testenv.FreeAddr(t)
	waf := startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: ok
    endpoints: [%q]
routes:
  - name: attacks
    hosts: ["bypass.test"]
    match: { path: { prefix: /attack } }
    backends: [{ service: ok }]
    plugins: [{ name: fault-injection, config: { abort: { status: 403, body: "blocked by the waf" } } }]
  - name: scanners
    hosts: ["bypass.test"]
    backends: [{ service: ok }]
    plugins: [{ name: fault-injection, config: { headers: [{ name: X-Scanner }], abort: { status: 403, body: "no scanners" } } }]
`, wafListen, wafBackend))

	listen := testenv.FreeAddr(t)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	// Timings are the product's: no race detector in the gateway under test.
	gw := startTimedGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: app
    endpoints: [%q]
  - name: external-waf
    endpoints: [%q]
routes:
  - name: bypass
    hosts: ["bypass.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: external-waf, timeout: 200ms, failure: open } }]
`, listen, app, wafListen), "--access-log=true", "--access-log-path", accessLog)

	c := newClient()
	url := "http://" + listen
	if r := do(t, c, "GET", url+"/shop?item=1", "bypass.test"); r.Status != 200 || r.Header.Get("X-Backend") != "app" {
		t.Fatalf("allowed by the WAF: %d from %q, want 200 from app\n%s", r.Status, r.Header.Get("X-Backend"), r.Body)
	}
	if r := do(t, c, "GET", url+"/attack?q=1", "bypass.test"); r.Status != 403 || r.Body != "blocked by the waf" {
		t.Fatalf("blocked by the WAF: %d %q, want 403 with the WAF's body", r.Status, r.Body)
	}
	if r := do(t, c, "GET", url+"/shop", "bypass.test", "X-Scanner: 1"); r.Status != 403 || r.Body != "no scanners" {
		t.Fatalf("a header the WAF blocks: %d %q, want its 403", r.Status, r.Body)
	}
	if a, b := gw.wafBypassEvents("requests", "outcome", "allowed"), gw.wafBypassEvents("requests", "outcome", "blocked"); a != 1 || b != 2 {
		t.Fatalf("allowed %d, blocked %d, want 1 and 2", a, b)
	}

	// The WAF hangs: each request waits for the timeout, no more, and goes on.
	if err := waf.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		r := do(t, c, "GET", fmt.Sprintf("%s/hung/%d", url, i), "bypass.test")
		took := time.Since(start)
		if r.Status != 200 || r.Header.Get("X-Backend") != "app" {
			t.Fatalf("with the WAF hung: %d %q, want 200 from app", r.Status, r.Body)
		}
		if took < 200*time.Millisecond || took > 600*time.Millisecond {
			t.Fatalf("with the WAF hung a request took %v, want about the 200ms timeout", took)
		}
		assertNothingUpstream(t, r.Body)
	}
	if n := gw.wafBypassEvents("failures", "reason", "timeout"); n != 3 {
		t.Fatalf("timeouts %d, want 3", n)
	}

	// The WAF dies: requests flow at once.
	if err := waf.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the WAF pylon exits", func() (bool, string) { return waf.proc.Exited(), "still running" })
	before := gw.wafBypassEvents("requests", "outcome", "fail_open")
	for i := range 5 {
		start := time.Now()
		r := do(t, c, "GET", fmt.Sprintf("%s/dead/%d", url, i), "bypass.test")
		if took := time.Since(start); r.Status != 200 || took > 200*time.Millisecond {
			t.Fatalf("with the WAF dead: %d after %v, want 200 within the timeout", r.Status, took)
		}
		assertNothingUpstream(t, r.Body)
	}
	if after := gw.wafBypassEvents("requests", "outcome", "fail_open"); after != before+5 || before != 3 {
		t.Fatalf("fail_open %d then %d, want 3 then 8", before, after)
	}
	// 7 failures among 11 checks: the circuit opened (minRequests 10,
	// failureRatio 0.5 by default) and the last requests did not try.
	if o, n := gw.wafBypassEvents("circuit", "event", "opened"), gw.wafBypassEvents("failures", "reason", "circuit_open"); o != 1 || n < 1 {
		t.Fatalf("circuit opened %d, circuit_open %d, want 1 and at least 1", o, n)
	}

	// The access log: fail-opens noted, checked requests not.
	waf2 := map[string]string{}
	eventually(t, 5*time.Second, "access log lines", func() (bool, string) {
		b, _ := os.ReadFile(accessLog)
		for _, line := range strings.Split(string(b), "\n") {
			var e struct{ Path, WAF string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Path != "" {
				waf2[e.Path] = e.WAF
			}
		}
		return len(waf2) >= 10, fmt.Sprintf("%d lines", len(waf2))
	})
	for path, want := range map[string]string{"/shop": "", "/attack": "", "/hung/0": "waf-bypass:fail-open", "/dead/4": "waf-bypass:fail-open"} {
		if got, ok := waf2[path]; !ok || got != want {
			t.Errorf("access log %s: waf %q (logged %v), want %q", path, got, ok, want)
		}
	}
	b, _ := os.ReadFile(accessLog)
	if !strings.Contains(string(b), `"waf":"waf-bypass:fail-open"`) {
		t.Fatalf("no access log line carries \"waf\":\"waf-bypass:fail-open\":\n%s", b)
	}
}

// assertNothingUpstream fails if the upstream's echo shows any trace of
// the WAF's failure: a fail-open is for the access log only.
func assertNothingUpstream(t *testing.T, body string) {
	t.Helper()
	var e backends.Echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("echo: %v\n%s", err, body)
	}
	for name, vs := range e.Headers {
		if strings.Contains(strings.ToLower(name), "waf") || strings.Contains(strings.Join(vs, ","), "fail-open") {
			t.Fatalf("the upstream got %s: %v", name, vs)
		}
	}
}

// Bad waf-bypass configs are refused one by one, each naming its route
// and field, by `pylon validate` and by a running gateway, which serves
// the good route beside them.
func TestWAFBypassBadConfig(t *testing.T) {
	t.Parallel()
	app := backends.StartHTTP(t, "app")
	listen := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: app
    endpoints: [%q]
  - name: external-waf
    endpoints: [%q]
routes:
  - name: good
    hosts: ["good.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: external-waf, timeout: 50ms } }]
  - name: no-service
    hosts: ["a.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { timeout: 200ms } }]
  - name: bad-failure
    hosts: ["b.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: external-waf, failure: maybe } }]
  - name: negative-timeout
    hosts: ["c.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: external-waf, timeout: -200ms } }]
  - name: unknown-waf
    hosts: ["d.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: no-such-waf } }]
`, listen, app, testenv.FreeAddr(t))
	path := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, path, cfg)
	out, _ := exec.Command(testenv.BuildPylon(t), "validate", "--config", path).CombinedOutput()
	want := map[string]string{
		"no-service":       "plugins[0].config.service: waf-bypass: must name the WAF service",
		"bad-failure":      `plugins[0].config.failure: waf-bypass: must be open or closed (got "maybe")`,
		"negative-timeout": `plugins[0].config.timeout: waf-bypass: invalid duration "-200ms": negative`,
		"unknown-waf":      `plugins[0].config: waf-bypass: unknown service "no-such-waf"`,
	}
	for route, msg := range want {
		found := false
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, fmt.Sprintf("route %q", route)) && strings.Contains(l, msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("validate: no line for route %s with %q:\n%s", route, msg, out)
		}
	}
	if strings.Contains(string(out), `route "good"`) {
		t.Errorf("validate complains about the good route:\n%s", out)
	}

	gw := startGatewayAt(t, path)
	rejected := map[string]string{}
	for _, r := range gw.debugConfig().Rejected {
		rejected[r.Object] = r.Error
	}
	for route, msg := range want {
		if e := findRejected(rejected, route); !strings.Contains(e, msg) {
			t.Errorf("gateway: route %s rejected with %q, want %q (all: %v)", route, e, msg, rejected)
		}
	}
	// The good route serves (its WAF is down: it fails open).
	if r := do(t, newClient(), "GET", "http://"+listen+"/", "good.test"); r.Status != 200 {
		t.Fatalf("the good route: %d %q", r.Status, r.Body)
	}
}

func findRejected(rejected map[string]string, route string) string {
	for obj, err := range rejected {
		if strings.HasSuffix(obj, "/"+route) || obj == route {
			return err
		}
	}
	return ""
}

// The added latency of the bypass with a healthy WAF (here a Go HTTP
// server answering 200 on loopback): requests to a route with waf-bypass
// and to one without are interleaved, so machine noise hits both alike,
// and the p50 and p99 of each are logged. Every check must have been
// answered by the WAF (no fail-open hides a slow one). bench/wafbypass.sh
// runs it with more pairs (PYLON_WAF_BYPASS_PAIRS).
//
// It does not run in parallel with the package's other tests: a p99 of
// sub-millisecond requests is at the mercy of whatever else runs.
func TestWAFBypassLatency(t *testing.T) {
	app := backends.StartHTTP(t, "app")
	waf := backends.StartHTTP(t, "waf")
	listen := testenv.FreeAddr(t)
	gw := startTimedGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: app
    endpoints: [%q]
  - name: external-waf
    endpoints: [%q]
routes:
  - name: plain
    hosts: ["bypass.test"]
    match: { path: { prefix: /plain } }
    backends: [{ service: app }]
  - name: checked
    hosts: ["bypass.test"]
    match: { path: { prefix: /checked } }
    backends: [{ service: app }]
    plugins: [{ name: waf-bypass, config: { service: external-waf, timeout: 200ms } }]
`, listen, app, waf))
	pairs := 2000
	if s := os.Getenv("PYLON_WAF_BYPASS_PAIRS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			pairs = n
		}
	}
	c := newClient()
	measure := func(path string) time.Duration {
		start := time.Now()
		if r := do(t, c, "GET", "http://"+listen+path, "bypass.test", "User-Agent: bench", "Accept: */*"); r.Status != 200 {
			t.Fatalf("%s: %d", path, r.Status)
		}
		return time.Since(start)
	}
	for range 200 {
		measure("/plain")
		measure("/checked")
	}
	plain, checked := make([]time.Duration, 0, pairs), make([]time.Duration, 0, pairs)
	for range pairs {
		plain = append(plain, measure("/plain"))
		checked = append(checked, measure("/checked"))
	}
	slices.Sort(plain)
	slices.Sort(checked)
	p := func(d []time.Duration, q int) time.Duration { return d[len(d)*q/100] }
	t.Logf("%d requests each: p50 %v without / %v with waf-bypass (+%v), p99 %v / %v (+%v), max %v / %v",
		pairs, p(plain, 50), p(checked, 50), p(checked, 50)-p(plain, 50), p(plain, 99), p(checked, 99), p(checked, 99)-p(plain, 99),
		plain[len(plain)-1], checked[len(checked)-1])
	if n := gw.wafBypassEvents("requests", "outcome", "fail_open"); n != 0 {
		t.Fatalf("%d checks failed open with a healthy WAF", n)
	}
	if n := gw.wafBypassEvents("requests", "outcome", "allowed"); n != int64(pairs+200) {
		t.Fatalf("allowed %d, want %d", n, pairs+200)
	}
}
