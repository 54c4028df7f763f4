package compile

import (
	"testing"

	"pylon.io/pylon/internal/ir"
)

type tlsReq struct{ req }

func (tlsReq) TLS() bool { return true }

// An http-to-https redirect for plain HTTP only shares its host and match
// with the route that serves the same requests over TLS: the two do not
// conflict, and each gets its own requests.
func TestOnlyPlainHTTPRedirectBesideItsSite(t *testing.T) {
	f := newFixture(t)
	site := route("site", "shop.test", "/", "echo")
	toHTTPS := &ir.Route{Name: "to-https", Hosts: []string{"shop.test"},
		Redirect: &ir.Redirect{Scheme: "https", Code: 308, OnlyPlainHTTP: true}}
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), site, toHTTPS)))
	if got := f.match("shop.test", "/cart"); got != "to-https" {
		t.Fatalf("plain HTTP served by %q, want to-https", got)
	}
	r, ok := f.router.Match([]byte("shop.test"), []byte("/cart"), tlsReq{req{"GET"}})
	if !ok || r.Name != "site" {
		t.Fatalf("TLS served by %v, want site", r)
	}
	// Without onlyPlainHTTP the redirect takes every request of the
	// match, so it conflicts with the site.
	both := &ir.Route{Name: "always", Hosts: []string{"shop.test"}, Redirect: &ir.Redirect{Scheme: "https"}}
	if res := f.c.Apply(upserts(both)); res.Rejected[key(ir.KindRoute, "always")] == nil {
		t.Fatal("a redirect with the site's match was accepted beside it")
	}
}
