package e2e

import (
	"fmt"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// custom-errors as ingress-nginx's custom-http-errors with default-backend:
// a listed status keeps its code but gets the error service's page, which
// was asked for with X-Code and X-Original-URI; other statuses pass.
func TestCustomErrorPages(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	app, errs := backends.StartHTTP(t, "app"), backends.StartHTTP(t, "errors")
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: app
    endpoints: [%q]
  - name: errors
    endpoints: [%q]
  - name: down
    endpoints: [%q]
routes:
  - name: fallback
    hosts: ["down.example.com"]
    backends: [{ service: app }]
    plugins:
      - name: custom-errors
        config: { statuses: [404], service: down, timeout: 1s }
  - name: app
    hosts: ["app.example.com"]
    backends: [{ service: app }]
    plugins:
      - name: custom-errors
        config: { statuses: [404, 503], service: errors, headers: { X-Namespace: shop } }
  - name: unreachable
    hosts: ["unreachable.example.com"]
    backends: [{ service: down }]
    plugins:
      - name: custom-errors
        config: { statuses: [502], service: errors }
`, listen, app, errs, testenv.FreeAddr(t)))
	c := newClient()
	r := do(t, c, "GET", "http://"+listen+"/status/404?x=1", "app.example.com", "Accept: text/html")
	if r.Status != 404 {
		t.Fatalf("status %d, want the original 404", r.Status)
	}
	e := r.echo(t)
	if e.Backend != "errors" || e.Headers["X-Code"][0] != "404" || e.Headers["X-Original-Uri"][0] != "/status/404?x=1" ||
		e.Headers["X-Format"][0] != "text/html" || e.Headers["X-Namespace"][0] != "shop" {
		t.Fatalf("page from %s with headers %v", e.Backend, e.Headers)
	}
	if r := do(t, c, "GET", "http://"+listen+"/status/500", "app.example.com"); r.Status != 500 || r.echo(t).Backend != "app" {
		t.Fatalf("unlisted status replaced: %d from %s", r.Status, r.echo(t).Backend)
	}
	// The error service is down: the original answer goes out.
	if r := do(t, c, "GET", "http://"+listen+"/status/404", "down.example.com"); r.Status != 404 || r.echo(t).Backend != "app" {
		t.Fatalf("with the error service down: %d from %s", r.Status, r.echo(t).Backend)
	}
	if r := do(t, c, "GET", "http://"+listen+"/ok", "app.example.com"); r.Status != 200 || r.echo(t).Backend != "app" {
		t.Fatalf("success replaced: %d", r.Status)
	}
	// Pylon's own answer when the upstream cannot be reached gets the page too.
	if r := do(t, c, "GET", "http://"+listen+"/", "unreachable.example.com"); r.Status != 502 || r.echo(t).Backend != "errors" || r.echo(t).Headers["X-Code"][0] != "502" {
		t.Fatalf("gateway 502: %d %q", r.Status, r.Body)
	}
}
