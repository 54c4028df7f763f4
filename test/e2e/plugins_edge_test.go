package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// edgeGateway runs one gateway with a route per request-shaping plugin
// (headers, rewrite, redirect, cors, ip-restriction, request-size), told
// apart by host, on an h2c listener (HTTP/1.1 and HTTP/2 on one port).
func edgeGateway(t *testing.T) string {
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	r := func(host, plugins string) string {
		return route(strings.Split(host, ".")[0], host, "a", "plugins:\n"+plugins)
	}
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: h2c
services:
  - name: a
    endpoints: [%q]
  - name: a-h2c
    endpoints: [%q]
    protocol: h2c
routes:
  - name: size-h2c
    hosts: [size-h2c.example.com]
    backends: [{ service: a-h2c }]
    plugins: [{name: request-size, config: {maxBytes: 1000, message: "too big for h2c\n"}}]
%s`, listen, a, a, strings.Join([]string{
		r("headers.example.com", `      - name: headers
        config:
          request: { set: [{name: X-Env, value: prod}], remove: [X-Debug] }
          response: { set: [{name: X-Frame-Options, value: DENY}], remove: [X-Backend] }`),
		r("prefix.example.com", `      - name: rewrite
        config: { prefix: {match: /api/, replacement: /}, host: users.internal, addQuery: via=gw }`),
		r("regex.example.com", `      - name: rewrite
        config: { regex: {pattern: "(?i)^/something(/|$)(.*)", replacement: "/$2"} }`),
		r("redirect.example.com", `      - name: redirect
        config: { scheme: https, code: 308, onlyPlainHTTP: true }`),
		r("cors.example.com", `      - name: cors
        config: { allowOrigins: ["https://app.example.com", "https://*.example.org"], allowCredentials: true, maxAge: 10m, exposeHeaders: [X-Backend] }`),
		r("deny.example.com", `      - name: ip-restriction
        config: { deny: ["127.0.0.0/8", "::1"], status: 404 }`),
		r("proxied.example.com", `      - name: ip-restriction
        config: { allow: ["198.51.100.0/24"], trustedProxies: ["127.0.0.1"] }`),
		r("size.example.com", `      - name: request-size
        config: { maxBytes: 1000 }`),
	}, "")))
	return listen
}

type edgeReq struct {
	method, host, path string
	headers            []string
	body               io.Reader
	length             int64 // -1: unknown (chunked over HTTP/1.1)
}

func (r edgeReq) send(t *testing.T, c *http.Client, listen string) response {
	t.Helper()
	req, err := http.NewRequest(r.method, "http://"+listen+r.path, r.body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = r.host
	if r.body != nil {
		req.ContentLength = r.length
	}
	for _, h := range r.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", r.method, r.host, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func TestEdgePluginsEndToEnd(t *testing.T) {
	t.Parallel()
	listen := edgeGateway(t)
	h2 := h2cClient(listen)
	h2.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	clients := map[string]*http.Client{"HTTP/1.1": newClient(), "HTTP/2": h2}
	closeIdle(t, clients)
	for proto, c := range clients {
		t.Run(proto, func(t *testing.T) {
			get := func(host, path string, headers ...string) response {
				return edgeReq{method: "GET", host: host, path: path, headers: headers}.send(t, c, listen)
			}

			t.Run("headers", func(t *testing.T) {
				r := get("headers.example.com", "/", "X-Env: dev", "X-Debug: 1")
				e := r.echo(t)
				if got := e.Headers["X-Env"]; len(got) != 1 || got[0] != "prod" || e.Headers["X-Debug"] != nil {
					t.Errorf("upstream saw %v", e.Headers)
				}
				if r.Header.Get("X-Backend") != "" || r.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("client saw %v", r.Header)
				}
			})

			t.Run("rewrite", func(t *testing.T) {
				e := get("prefix.example.com", "/api/users/7?a=1").echo(t)
				if e.Path != "/users/7" || e.Host != "users.internal" || e.RawQuery != "a=1&via=gw" {
					t.Errorf("prefix: upstream saw %s %s?%s", e.Host, e.Path, e.RawQuery)
				}
				e = get("regex.example.com", "/SOMETHING/new/page").echo(t)
				if e.Path != "/new/page" || e.Host != "regex.example.com" {
					t.Errorf("regex: upstream saw %s %s", e.Host, e.Path)
				}
			})

			t.Run("redirect", func(t *testing.T) {
				r := get("redirect.example.com", "/a%20b/c?q=1")
				if r.Status != 308 || r.Header.Get("Location") != "https://redirect.example.com/a%20b/c?q=1" {
					t.Errorf("%d %v", r.Status, r.Header)
				}
			})

			t.Run("cors", func(t *testing.T) {
				pre := edgeReq{method: "OPTIONS", host: "cors.example.com", path: "/x",
					headers: []string{"Origin: https://shop.example.org", "Access-Control-Request-Method: PUT",
						"Access-Control-Request-Headers: content-type"}}.send(t, c, listen)
				h := pre.Header
				if pre.Status != 204 || h.Get("Access-Control-Allow-Origin") != "https://shop.example.org" ||
					h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Max-Age") != "600" ||
					!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") || h.Get("Access-Control-Allow-Headers") != "content-type" ||
					h.Get("X-Backend") != "" {
					t.Errorf("preflight: %d %v", pre.Status, h)
				}
				bad := edgeReq{method: "OPTIONS", host: "cors.example.com", path: "/x",
					headers: []string{"Origin: https://evil.example", "Access-Control-Request-Method: PUT"}}.send(t, c, listen)
				if bad.Status != 204 || bad.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("refused preflight: %d %v", bad.Status, bad.Header)
				}
				r := get("cors.example.com", "/x", "Origin: https://app.example.com")
				if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
					r.Header.Get("Access-Control-Expose-Headers") != "X-Backend" || r.Header.Get("Vary") != "Origin" {
					t.Errorf("actual: %d %v", r.Status, r.Header)
				}
			})

			t.Run("ip-restriction", func(t *testing.T) {
				if r := get("deny.example.com", "/"); r.Status != 404 || r.Header.Get("X-Backend") != "" {
					t.Errorf("denied peer: %d", r.Status)
				}
				for xff, want := range map[string]int{
					"":                          403,
					"198.51.100.7":              200,
					"203.0.113.1, 198.51.100.7": 200,
					// The rightmost untrusted entry counts, not one the client prepended.
					"198.51.100.7, 203.0.113.1": 403,
				} {
					var hs []string
					if xff != "" {
						hs = append(hs, "X-Forwarded-For: "+xff)
					}
					if r := get("proxied.example.com", "/", hs...); r.Status != want {
						t.Errorf("X-Forwarded-For %q: %d, want %d", xff, r.Status, want)
					}
				}
			})

			t.Run("request-size", func(t *testing.T) {
				// size.example.com goes to an HTTP/1.1 upstream, size-h2c to an
				// h2c one (over HTTP/2 the body then streams through).
				for _, host := range []string{"size.example.com", "size-h2c.example.com"} {
					post := func(n int, known bool) response {
						length := int64(n)
						if !known {
							length = -1
						}
						// A reader of unknown type hides the length from the client.
						body := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), n)))
						return edgeReq{method: "POST", host: host, path: "/", body: body, length: length}.send(t, c, listen)
					}
					if r := post(1000, true); r.Status != 200 || r.echo(t).BodyLength != 1000 {
						t.Errorf("%s: 1000 bytes: %d", host, r.Status)
					}
					if r := post(1001, true); r.Status != 413 {
						t.Errorf("%s: 1001 bytes declared: %d", host, r.Status)
					}
					// Undeclared length: chunked over HTTP/1.1 (the engine buffers
					// it), a streamed body over HTTP/2 (cut off past the limit).
					if r := post(500, false); r.Status != 200 || r.echo(t).BodyLength != 500 {
						t.Errorf("%s: 500 bytes undeclared: %d", host, r.Status)
					}
					r := post(64<<10, false)
					if r.Status != 413 {
						t.Errorf("%s: 64 KiB undeclared: %d, want 413", host, r.Status)
					}
					if host == "size-h2c.example.com" && string(r.Body) != "too big for h2c\n" {
						t.Errorf("%s: 413 body %q, want the plugin's message", host, r.Body)
					}
				}
			})
		})
	}
}
