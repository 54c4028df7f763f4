package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
)

// docsExample returns the YAML example of docs/configuration.md that holds
// marker, with each example endpoint ("10.0.0.N:PORT") replaced by
// backend(it): a real one on loopback.
func docsExample(t *testing.T, marker string, backend func(example string) string) string {
	t.Helper()
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		if strings.Contains(m[1], marker) {
			return regexp.MustCompile(`10\.0\.0\.[0-9]+:[0-9]+`).ReplaceAllStringFunc(m[1], backend)
		}
	}
	t.Fatalf("docs/configuration.md has no YAML example with %q", marker)
	return ""
}

// The documented http-to-https redirect route, run as written: a plain
// request (HTTP/1.1 or h2c) is sent to HTTPS, and the request it is sent
// to, over TLS (HTTP/1.1 or HTTP/2), is served, not redirected to itself.
func TestDocsRedirectToHTTPS(t *testing.T) {
	t.Parallel()
	// The example's web service is the first endpoint; each other gets a
	// backend of its own (a service may not list one address twice).
	web := ""
	cfg := docsExample(t, "name: to-https", func(string) string {
		if web == "" {
			web = backends.StartHTTP(t, "web")
			return web
		}
		return backends.StartHTTP(t, "other")
	})
	env := startEnginesGateway(t, []string{"*.example.com"}, cfg)
	if st := env.gw.debugConfig(); len(st.Rejected) > 0 {
		t.Fatalf("the documented example is rejected: %v", st.Rejected)
	}
	for _, c := range env.clients {
		t.Run(c.name, func(t *testing.T) {
			r := c.do(t, "GET", "shop.example.com", "/cart?id=7", "")
			if c.scheme == "http" {
				if want := "https://shop.example.com/cart?id=7"; r.Status != 308 || r.Header.Get("Location") != want {
					t.Fatalf("plain HTTP: %d to %q, want 308 to %s", r.Status, r.Header.Get("Location"), want)
				}
				return
			}
			if r.Status != 200 || r.Header.Get("X-Backend") != "web" {
				t.Fatalf("over TLS: %d (Location %q, backend %q), want 200 from web", r.Status, r.Header.Get("Location"), r.Header.Get("X-Backend"))
			}
		})
	}
}
