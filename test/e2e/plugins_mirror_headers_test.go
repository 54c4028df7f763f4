package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
)

// startHeaderRecorder starts a mirror target that reports the headers of
// every request it gets.
func startHeaderRecorder(t *testing.T) (addr string, got chan http.Header) {
	t.Helper()
	got = make(chan http.Header, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String(), got
}

// A mirror copy carries the request as it goes upstream: the forwarding
// headers the gateway sets (X-Forwarded-For extended with the client's
// address, X-Forwarded-Proto, X-Forwarded-Host) and the request's
// X-Request-Id, with the same values the upstream got, on every engine;
// the gateway-owned headers a client forged are not in it.
func TestMirrorCarriesForwardingHeaders(t *testing.T) {
	t.Parallel()
	echo := backends.StartHTTP(t, "echo")
	target, got := startHeaderRecorder(t)
	env := startEnginesGateway(t, []string{"*.example.com"}, fmt.Sprintf(`
services:
  - name: echo
    endpoints: [%q]
  - name: shadow
    endpoints: [%q]
routes:
  - name: mirrored
    hosts: [shop.example.com]
    backends: [{ service: echo }]
    plugins: [{ name: mirror, config: { service: shadow } }]
`, echo, target))
	for _, c := range env.clients {
		t.Run(c.name, func(t *testing.T) {
			r := c.do(t, "GET", "shop.example.com", "/cart", "",
				"X-Forwarded-For: 192.0.2.7", "X-Forwarded-Proto: gopher", "X-Client-Verify: SUCCESS", "X-Consumer: mallory")
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			up := r.echo(t).Headers
			var copied http.Header
			select {
			case copied = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("no copy reached the mirror target")
			}
			proto := "http"
			if c.scheme == "https" {
				proto = "https"
			}
			for name, want := range map[string]string{
				"X-Forwarded-For":   "192.0.2.7, 127.0.0.1",
				"X-Forwarded-Proto": proto,
				"X-Forwarded-Host":  "shop.example.com",
				"X-Request-Id":      first(up["X-Request-Id"]),
			} {
				if v := first(up[name]); v != want {
					t.Errorf("upstream %s = %q, want %q", name, v, want)
				}
				if v := copied.Values(name); len(v) != 1 || v[0] != want {
					t.Errorf("copy %s = %q, want %q as upstream got it", name, v, want)
				}
			}
			if first(up["X-Request-Id"]) == "" {
				t.Error("upstream got no X-Request-Id")
			}
			for _, name := range []string{"X-Client-Verify", "X-Consumer"} {
				if v := copied.Values(name); len(v) > 0 {
					t.Errorf("copy carries the client's forged %s %q", name, v)
				}
			}
			if v := copied.Get("X-Pylon-Mirror"); v != "1" {
				t.Errorf("copy mark %q", v)
			}
		})
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
