package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
)

// startServerHeaderBackend starts an upstream that names itself in Server,
// as most web servers do.
func startServerHeaderBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		w.Header().Set("X-Powered-By", "php/8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

// The headers plugin's README example, `response.remove: [Server]`, leaves
// no Server header on any engine: not the upstream's, not one of the
// gateway's own (for its local answers too). Without the plugin the
// upstream's Server header passes through unchanged, on every engine.
func TestHeadersRemoveServer(t *testing.T) {
	t.Parallel()
	named := startServerHeaderBackend(t)
	plain := backends.StartHTTP(t, "plain")
	remove := "    plugins:\n      - name: headers\n        config: { response: { remove: [Server, X-Powered-By] } }\n"
	env := startEnginesGateway(t, []string{"*.example.com"}, fmt.Sprintf(`
services:
  - name: named
    endpoints: [%q]
  - name: plain
    endpoints: [%q]
routes:
  - name: named-removed
    hosts: [named.example.com]
    backends: [{ service: named }]
%s  - name: plain-removed
    hosts: [plain.example.com]
    backends: [{ service: plain }]
%s  - name: local-removed
    hosts: [local.example.com]
    directResponse: { status: 200, body: "local\n" }
%s  - name: kept
    hosts: [kept.example.com]
    backends: [{ service: named }]
`, named, plain, remove, remove, remove))
	for _, c := range env.clients {
		t.Run(c.name, func(t *testing.T) {
			for _, host := range []string{"named.example.com", "plain.example.com", "local.example.com"} {
				r := c.do(t, "GET", host, "/", "")
				if r.Status != 200 {
					t.Fatalf("%s: status %d", host, r.Status)
				}
				if v, ok := r.Header["Server"]; ok {
					t.Errorf("%s: Server %q is still there after the plugin removed it", host, v)
				}
				if v := r.Header.Get("X-Powered-By"); v != "" {
					t.Errorf("%s: X-Powered-By %q is still there", host, v)
				}
			}
			if r := c.do(t, "GET", "kept.example.com", "/", ""); r.Header.Get("Server") != "backend/1.0" {
				t.Errorf("without the plugin: Server %q, want the upstream's backend/1.0", r.Header.Values("Server"))
			}
		})
	}
}
