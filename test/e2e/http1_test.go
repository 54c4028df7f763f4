package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// routingConfig is a gateway with one HTTP/1.1 listener and routes that
// exercise every kind of match and action.
func routingConfig(listen string, a, b, rr1, rr2 string) string {
	direct := func(name string) string {
		return fmt.Sprintf(`directResponse: { status: 200, body: %q, headers: [{ name: X-Route, value: %q }] }`, name, name)
	}
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
  - name: rr
    endpoints: [%q, %q]
    loadBalancer: roundRobin
routes:
  - name: host-a
    hosts: ["a.example.com"]
    backends: [{ service: a }]
  - name: wild
    hosts: ["*.wild.example.com"]
    backends: [{ service: b }]
  - name: exact
    hosts: ["route.example.com"]
    match: { path: { exact: /exact } }
    %s
  - name: prefix
    hosts: ["route.example.com"]
    match: { path: { prefix: /api } }
    %s
  - name: prefix-longer
    hosts: ["route.example.com"]
    match: { path: { prefix: /api/v2 } }
    %s
  - name: regex
    hosts: ["route.example.com"]
    match: { path: { regex: "^/items/[0-9]+$" } }
    %s
  - name: method-write
    hosts: ["route.example.com"]
    match: { path: { prefix: /m }, methods: [POST, PUT] }
    %s
  - name: method-any
    hosts: ["route.example.com"]
    match: { path: { prefix: /m } }
    %s
  - name: header-canary
    hosts: ["route.example.com"]
    match: { path: { prefix: /h }, headers: [{ name: X-Env, exact: canary }] }
    %s
  # Regexes match the whole value (anchored at both ends).
  - name: header-regex
    hosts: ["route.example.com"]
    match: { path: { prefix: /h }, headers: [{ name: X-Env, regex: "stag(e|ing)" }] }
    %s
  - name: header-none
    hosts: ["route.example.com"]
    match: { path: { prefix: /h } }
    %s
  - name: query-v2
    hosts: ["route.example.com"]
    match: { path: { prefix: /q }, query: [{ name: v, exact: "2" }] }
    %s
  - name: query-none
    hosts: ["route.example.com"]
    match: { path: { prefix: /q } }
    %s
  - name: prio-high
    hosts: ["route.example.com"]
    priority: 10
    match: { path: { prefix: /p } }
    %s
  - name: prio-low
    hosts: ["route.example.com"]
    match: { path: { exact: /p/x } }
    %s
  - name: redirect-https
    hosts: ["old.example.com"]
    redirect: { scheme: https, host: new.example.com, code: 308 }
  - name: redirect-path
    hosts: ["moved.example.com"]
    redirect: { path: /new }
  - name: teapot
    hosts: ["teapot.example.com"]
    directResponse: { status: 418, body: "short and stout", headers: [{ name: X-Pot, value: tea }] }
  - name: split
    hosts: ["split.example.com"]
    backends: [{ service: a, weight: 3 }, { service: b, weight: 1 }]
  - name: rr
    hosts: ["rr.example.com"]
    backends: [{ service: rr }]
`, listen, a, b, rr1, rr2,
		direct("exact"), direct("prefix"), direct("prefix-longer"), direct("regex"),
		direct("method-write"), direct("method-any"),
		direct("header-canary"), direct("header-regex"), direct("header-none"),
		direct("query-v2"), direct("query-none"),
		direct("prio-high"), direct("prio-low"))
}

type routingEnv struct {
	gw     *gateway
	listen string
}

func startRouting(t *testing.T) routingEnv {
	t.Helper()
	listen := testenv.FreeAddr(t)
	cfg := routingConfig(listen,
		backends.StartHTTP(t, "a"), backends.StartHTTP(t, "b"),
		backends.StartHTTP(t, "rr1"), backends.StartHTTP(t, "rr2"))
	gw := startGateway(t, cfg)
	return routingEnv{gw: gw, listen: listen}
}

func TestHTTP1Routing(t *testing.T) {
	t.Parallel()
	env := startRouting(t)
	base := "http://" + env.listen

	// want is "backend:NAME", "route:NAME" (a direct response) or "" (only
	// the status is checked).
	cases := []struct {
		name    string
		method  string
		host    string
		path    string
		headers []string
		status  int
		want    string
	}{
		{"exact host", "GET", "a.example.com", "/anything", nil, 200, "backend:a"},
		{"host is case-insensitive", "GET", "A.Example.COM", "/", nil, 200, "backend:a"},
		{"host with port", "GET", "a.example.com:8080", "/", nil, 200, "backend:a"},
		{"wildcard host", "GET", "foo.wild.example.com", "/", nil, 200, "backend:b"},
		{"wildcard does not match its apex", "GET", "wild.example.com", "/", nil, 404, ""},
		{"unknown host", "GET", "nope.example.com", "/", nil, 404, ""},
		{"exact path", "GET", "route.example.com", "/exact", nil, 200, "route:exact"},
		{"exact path is exact", "GET", "route.example.com", "/exact/more", nil, 404, ""},
		{"prefix", "GET", "route.example.com", "/api/v1/users", nil, 200, "route:prefix"},
		{"longest prefix wins", "GET", "route.example.com", "/api/v2/users", nil, 200, "route:prefix-longer"},
		{"regex", "GET", "route.example.com", "/items/42", nil, 200, "route:regex"},
		{"regex is anchored", "GET", "route.example.com", "/items/42x", nil, 404, ""},
		{"method matches", "POST", "route.example.com", "/m", nil, 200, "route:method-write"},
		{"method falls through", "GET", "route.example.com", "/m", nil, 200, "route:method-any"},
		{"header exact", "GET", "route.example.com", "/h", []string{"X-Env: canary"}, 200, "route:header-canary"},
		{"header regex", "GET", "route.example.com", "/h", []string{"X-Env: staging"}, 200, "route:header-regex"},
		{"header regex matches the whole value", "GET", "route.example.com", "/h", []string{"X-Env: prestaging"}, 200, "route:header-none"},
		{"header absent", "GET", "route.example.com", "/h", nil, 200, "route:header-none"},
		{"header other value", "GET", "route.example.com", "/h", []string{"X-Env: prod"}, 200, "route:header-none"},
		{"query exact", "GET", "route.example.com", "/q?a=1&v=2", nil, 200, "route:query-v2"},
		{"query other value", "GET", "route.example.com", "/q?v=3", nil, 200, "route:query-none"},
		{"priority beats exact path", "GET", "route.example.com", "/p/x", nil, 200, "route:prio-high"},
		{"no route on a known host", "GET", "route.example.com", "/zzz", nil, 404, ""},
		{"direct response", "GET", "teapot.example.com", "/", nil, 418, ""},
	}
	check := func(t *testing.T, client string, r response, status int, want string) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s: status %d, want %d; body %q", client, r.Status, status, r.Body)
		}
		kind, name, _ := strings.Cut(want, ":")
		switch kind {
		case "backend":
			if got := r.Header.Get("X-Backend"); got != name {
				t.Fatalf("%s: reached backend %q, want %q", client, got, name)
			}
		case "route":
			if got := r.Header.Get("X-Route"); got != name || r.Body != name {
				t.Fatalf("%s: matched route %q (body %q), want %q", client, got, r.Body, name)
			}
		}
	}
	c := newClient()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, base+tc.path, tc.host, tc.headers...)
			check(t, "go", r, tc.status, tc.want)

			args := []string{"-X", tc.method, "-H", "Host: " + tc.host}
			for _, h := range tc.headers {
				args = append(args, "-H", h)
			}
			r = curl(t, append(args, base+tc.path)...)
			check(t, "curl", r, tc.status, tc.want)
		})
	}

	t.Run("curl with a resolved name", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(env.listen)
		r := curl(t, "--resolve", "a.example.com:"+port+":127.0.0.1", "http://a.example.com:"+port+"/hello?x=1")
		check(t, "curl", r, 200, "backend:a")
		e := r.echo(t)
		if e.Path != "/hello" || e.RawQuery != "x=1" || e.Host != "a.example.com:"+port || e.Method != "GET" {
			t.Fatalf("backend saw %s %s?%s Host %s", e.Method, e.Path, e.RawQuery, e.Host)
		}
	})

	t.Run("direct response headers and body", func(t *testing.T) {
		r := do(t, c, "GET", base+"/", "teapot.example.com")
		if r.Body != "short and stout" || r.Header.Get("X-Pot") != "tea" {
			t.Fatalf("got %q, X-Pot %q", r.Body, r.Header.Get("X-Pot"))
		}
	})

	t.Run("redirect", func(t *testing.T) {
		for _, tc := range []struct {
			host, path string
			code       int
			location   string
		}{
			{"old.example.com", "/a/b?x=1", 308, "https://new.example.com/a/b?x=1"},
			{"moved.example.com", "/old?q=2", 301, "http://moved.example.com/new?q=2"},
		} {
			r := do(t, c, "GET", base+tc.path, tc.host)
			if r.Status != tc.code || r.Header.Get("Location") != tc.location {
				t.Errorf("go: %s%s: %d Location %q, want %d %q", tc.host, tc.path, r.Status, r.Header.Get("Location"), tc.code, tc.location)
			}
			r = curl(t, "-H", "Host: "+tc.host, base+tc.path)
			if r.Status != tc.code || r.Header.Get("Location") != tc.location {
				t.Errorf("curl: %s%s: %d Location %q, want %d %q", tc.host, tc.path, r.Status, r.Header.Get("Location"), tc.code, tc.location)
			}
		}
	})
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestHTTP1ForwardingHeaders(t *testing.T) {
	t.Parallel()
	env := startRouting(t)
	base := "http://" + env.listen
	c := newClient()

	e := do(t, c, "GET", base+"/fwd", "a.example.com").echo(t)
	if got := e.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
	}
	if got := e.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want [http]", got)
	}
	if got := e.Headers["X-Forwarded-Host"]; len(got) != 1 || got[0] != "a.example.com" {
		t.Errorf("X-Forwarded-Host = %q, want [a.example.com]", got)
	}
	if got := e.Headers["X-Request-Id"]; len(got) != 1 || !requestIDPattern.MatchString(got[0]) {
		t.Errorf("X-Request-Id = %q, want one generated id", got)
	}
	if e.Host != "a.example.com" {
		t.Errorf("backend saw Host %q, want the client's", e.Host)
	}

	// Ids differ per request; a client's own id and X-Forwarded-For are kept.
	e2 := do(t, c, "GET", base+"/fwd", "a.example.com").echo(t)
	if e2.Headers["X-Request-Id"][0] == e.Headers["X-Request-Id"][0] {
		t.Errorf("two requests got the same X-Request-Id %q", e.Headers["X-Request-Id"][0])
	}
	e3 := do(t, c, "GET", base+"/fwd", "a.example.com",
		"X-Request-Id: client-id-123", "X-Forwarded-For: 203.0.113.7").echo(t)
	if got := e3.Headers["X-Request-Id"]; len(got) != 1 || got[0] != "client-id-123" {
		t.Errorf("X-Request-Id = %q, want the client's [client-id-123]", got)
	}
	if got := e3.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [203.0.113.7, 127.0.0.1]", got)
	}

	// Header names are case-insensitive: a client writing them in lower case
	// gets the same treatment, and cannot slip a second X-Forwarded-For or
	// X-Request-Id past the gateway.
	res := rawRequest(t, env.listen, "GET /fwd HTTP/1.1\r\nHost: a.example.com\r\n"+
		"x-forwarded-for: 203.0.113.9\r\nx-request-id: lower-id\r\nx-forwarded-proto: https\r\n\r\n")
	if res.status() != 200 {
		t.Fatalf("lower-case names: status %d", res.status())
	}
	e4 := response{Status: 200, Body: res.body}.echo(t)
	if got := e4.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "203.0.113.9, 127.0.0.1" {
		t.Errorf("lower-case names: X-Forwarded-For = %q, want [203.0.113.9, 127.0.0.1]", got)
	}
	if got := e4.Headers["X-Request-Id"]; len(got) != 1 || got[0] != "lower-id" {
		t.Errorf("lower-case names: X-Request-Id = %q, want [lower-id]", got)
	}
	if got := e4.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "http" {
		t.Errorf("lower-case names: X-Forwarded-Proto = %q, want [http] (the client cannot claim https)", got)
	}
}

func TestHTTP1HopByHopHeadersStripped(t *testing.T) {
	t.Parallel()
	env := startRouting(t)

	requests := map[string]string{
		"connection-named header": "GET /hop HTTP/1.1\r\nHost: a.example.com\r\n" +
			"Connection: keep-alive, X-Custom\r\nX-Custom: secret\r\nKeep-Alive: timeout=5\r\n" +
			"TE: trailers, deflate\r\nProxy-Connection: keep-alive\r\nX-Keep: yes\r\n\r\n",
		"upgrade on a non-upgrade request": "GET /hop HTTP/1.1\r\nHost: a.example.com\r\n" +
			"Upgrade: websocket\r\nX-Keep: yes\r\n\r\n",
		"h2c upgrade is not forwarded": "GET /hop HTTP/1.1\r\nHost: a.example.com\r\n" +
			"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Keep: yes\r\n\r\n",
	}
	for name, raw := range requests {
		t.Run(name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", env.listen, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write([]byte(raw)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			var body strings.Builder
			if _, err := bufio.NewReader(resp.Body).WriteTo(&body); err != nil {
				t.Fatal(err)
			}
			e := response{Status: resp.StatusCode, Body: body.String()}.echo(t)
			if e.Proto != "HTTP/1.1" {
				t.Errorf("backend saw %s, want HTTP/1.1 (an upgrade went through)", e.Proto)
			}
			for _, h := range []string{"X-Custom", "Keep-Alive", "Te", "Upgrade", "Proxy-Connection", "Http2-Settings"} {
				if v, ok := e.Headers[h]; ok {
					t.Errorf("hop-by-hop header %s reached the backend: %q", h, v)
				}
			}
			for _, v := range e.Headers["Connection"] {
				if l := strings.ToLower(v); strings.Contains(l, "x-custom") || strings.Contains(l, "upgrade") {
					t.Errorf("client's Connection header reached the backend: %q", v)
				}
			}
			if got := e.Headers["X-Keep"]; len(got) != 1 || got[0] != "yes" {
				t.Errorf("end-to-end header X-Keep = %q, want [yes]", got)
			}
		})
	}
}

func TestHTTP1LoadBalancing(t *testing.T) {
	t.Parallel()
	env := startRouting(t)
	base := "http://" + env.listen
	c := newClient()

	t.Run("weighted split", func(t *testing.T) {
		const n = 400
		counts := map[string]int{}
		for range n {
			r := do(t, c, "GET", base+"/", "split.example.com")
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			counts[r.Header.Get("X-Backend")]++
		}
		// Weights 3:1 → 300:100; allow a wide margin for random picks.
		if counts["a"] < 250 || counts["a"] > 350 || counts["a"]+counts["b"] != n {
			t.Fatalf("split 3:1 over %d requests gave %v", n, counts)
		}
		t.Logf("split 3:1 over %d requests: %v", n, counts)
	})

	t.Run("round robin", func(t *testing.T) {
		const n = 40
		counts := map[string]int{}
		for range n {
			r := do(t, c, "GET", base+"/", "rr.example.com")
			counts[r.Header.Get("X-Backend")]++
		}
		if counts["rr1"] < n/2-2 || counts["rr2"] < n/2-2 {
			t.Fatalf("round robin over two endpoints gave %v", counts)
		}
	})
}
