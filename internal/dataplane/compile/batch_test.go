package compile

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

// TestKeyListedTwiceInOneChange pins what a change that lists one key twice
// means: the later upsert replaces the earlier one, whatever the checks made
// of the earlier. The live result and the reported rejections agree.
func TestKeyListedTwiceInOneChange(t *testing.T) {
	badRegex := func() *ir.Route {
		r := route("a", "a.test", "", "echo")
		r.Match.Path = &ir.PathMatch{Regex: "/(unclosed"}
		return r
	}
	for _, tc := range []struct {
		name     string
		change   []ir.Resource
		rejected string // "" = accepted
		serves   string // path of a.test that route a serves afterwards
		notServe string
	}{
		{"later valid replaces earlier valid", []ir.Resource{route("a", "a.test", "/one", "echo"), route("a", "a.test", "/two", "echo")}, "", "/two", "/one"},
		{"later valid replaces earlier invalid", []ir.Resource{badRegex(), route("a", "a.test", "/two", "echo")}, "", "/two", "/v0"},
		{"later invalid keeps the last good version", []ir.Resource{route("a", "a.test", "/one", "echo"), badRegex()}, "match.path.regex", "/v0", "/one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/v0", "echo"))))
			res := f.c.Apply(upserts(tc.change...))
			err := res.Rejected[key(ir.KindRoute, "a")]
			switch {
			case tc.rejected == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.rejected != "" && (err == nil || !strings.Contains(err.Error(), tc.rejected)):
				t.Fatalf("got rejection %v, want one naming %s", err, tc.rejected)
			}
			if got := f.match("a.test", tc.serves); got != "a" {
				t.Errorf("a.test%s: served by %q, want route a", tc.serves, got)
			}
			if got := f.match("a.test", tc.notServe); got != "" {
				t.Errorf("a.test%s: served by %q, want nothing", tc.notServe, got)
			}
			_, listed := f.c.Rejected()[key(ir.KindRoute, "a")]
			if listed != (tc.rejected != "") {
				t.Errorf("Rejected() lists route a: %v, want %v", listed, tc.rejected != "")
			}
		})
	}
}

// TestRefusedServiceKeepsItsPool: a service config the pool would refuse is
// rejected the same by Check and Apply, before any pool sees it. A live
// service keeps its last good pool; a route on a refused new service is
// rejected with it.
func TestRefusedServiceKeepsItsPool(t *testing.T) {
	badCA := func(name string, eps ...string) *ir.Service {
		s := svc(name, eps...)
		s.TLS = &ir.UpstreamTLS{CA: "not a certificate"}
		return s
	}
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/", "echo"))))
	ch := upserts(badCA("echo", "127.0.0.1:2"), badCA("fresh", "127.0.0.1:3"), route("b", "b.test", "/", "fresh"))
	for _, tc := range []struct {
		name string
		run  func(ir.Change) ir.Result
	}{{"check", f.c.Check}, {"apply", f.c.Apply}} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.run(ch)
			for _, name := range []string{"echo", "fresh"} {
				if err := res.Rejected[key(ir.KindService, name)]; err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
					t.Errorf("service %s: got %v, want the pool's tls error", name, err)
				}
			}
			if err := res.Rejected[key(ir.KindRoute, "b")]; err == nil || !strings.Contains(err.Error(), `unknown service "fresh"`) {
				t.Errorf("route b: got %v, want unknown service", err)
			}
			if eps := f.pools.Get("echo").Endpoints(); len(eps) != 1 || eps[0].Address() != "127.0.0.1:1" {
				t.Errorf("pool echo: endpoints %v, want its last good 127.0.0.1:1", eps)
			}
			if f.pools.Get("fresh") != nil {
				t.Error("a pool was made for the refused service fresh")
			}
		})
	}
}
