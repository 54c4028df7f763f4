package compile

import (
	"fmt"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

func TestApplyServesRoutes(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(
		svc("echo", "127.0.0.1:9001", "127.0.0.1:9002"),
		route("api", "echo.example.com", "/api", "echo"),
		route("root", "echo.example.com", "/", "echo"),
		route("wild", "*.example.org", "/", "echo"),
		route("any", "", "/", "echo"),
	)))
	for _, tc := range []struct{ host, path, want string }{
		{"echo.example.com", "/api/x", "api"},
		{"ECHO.example.com:8080", "/other", "root"},
		{"a.example.org", "/", "wild"},
		{"unknown.test", "/", "any"},
	} {
		if got := f.match(tc.host, tc.path); got != tc.want {
			t.Errorf("%s%s: got route %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
	r, _ := f.router.Match([]byte("echo.example.com"), []byte("/"), req{"GET"})
	if len(r.Backends) != 1 || r.Backends[0].Pool == nil || r.Backends[0].Pool != f.pools.Get("echo") {
		t.Fatalf("route not wired to the echo pool: %+v", r.Backends)
	}
}

// TestChangeTouchesOnlyItsHost asserts DESIGN invariant 2: changing one route
// among many rebuilds that route's host table and leaves every other host's
// table the very same object.
func TestChangeTouchesOnlyItsHost(t *testing.T) {
	f := newFixture(t)
	const n = 2000
	mustAccept(t, f.c.Apply(manyRoutes(n)))
	before := map[string]any{}
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("h%d.example.com", i)
		before[h] = f.router.Table(h)
	}
	changed := route("r7", "h7.example.com", "/v2", "echo")
	mustAccept(t, f.c.Apply(upserts(changed)))
	if got := f.c.Stats().HostsTouched; got != 1 {
		t.Fatalf("hosts touched = %d, want 1", got)
	}
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("h%d.example.com", i)
		same := any(f.router.Table(h)) == before[h]
		if i == 7 && same {
			t.Fatalf("%s: table not replaced", h)
		}
		if i != 7 && !same {
			t.Fatalf("%s: table replaced by an unrelated change", h)
		}
	}
	if f.match("h7.example.com", "/") != "" || f.match("h7.example.com", "/v2/x") != "r7" {
		t.Fatal("changed route not live")
	}
	// Moving a route to another host touches exactly the old and the new host.
	moved := route("r8", "new.example.com", "/", "echo")
	mustAccept(t, f.c.Apply(upserts(moved)))
	if got := f.c.Stats().HostsTouched; got != 2 {
		t.Fatalf("hosts touched by a move = %d, want 2", got)
	}
	if f.router.Table("h8.example.com") != nil || f.match("new.example.com", "/") != "r8" {
		t.Fatal("moved route not served from its new host only")
	}
}

func TestUnchangedObjectCostsNothing(t *testing.T) {
	f := newFixture(t)
	ch := manyRoutes(10)
	mustAccept(t, f.c.Apply(ch))
	mustAccept(t, f.c.Apply(ch))
	if got := f.c.Stats().HostsTouched; got != 0 {
		t.Fatalf("re-sending unchanged objects touched %d hosts", got)
	}
}

// TestBadObjectIsRejectedAlone covers invariant 4: the bad route is reported,
// its last good version keeps serving, and the rest of the change applies.
func TestBadObjectIsRejectedAlone(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/", "echo"), route("b", "b.test", "/", "echo"))))

	badRegex := route("a", "a.test", "", "echo")
	badRegex.Match.Path = &ir.PathMatch{Regex: "/(unclosed"}
	res := f.c.Apply(upserts(badRegex, route("b", "b.test", "/new", "echo"), route("c", "c.test", "/", "missing")))
	if err := res.Rejected[key(ir.KindRoute, "a")]; err == nil || !strings.Contains(err.Error(), "match.path.regex") {
		t.Fatalf("bad regex not rejected with its field: %v", err)
	}
	if err := res.Rejected[key(ir.KindRoute, "c")]; err == nil || !strings.Contains(err.Error(), `backends[0].service: unknown service "missing"`) {
		t.Fatalf("unknown service not rejected with its field: %v", err)
	}
	if _, ok := res.Rejected[key(ir.KindRoute, "b")]; ok || len(res.Rejected) != 2 {
		t.Fatalf("unexpected rejections: %v", res.Rejected)
	}
	if f.match("a.test", "/x") != "a" {
		t.Fatal("last good version of a no longer serves")
	}
	if f.match("b.test", "/new") != "b" || f.match("b.test", "/") != "" {
		t.Fatal("good change to b not applied")
	}
	if f.match("c.test", "/") != "" {
		t.Fatal("rejected route c serves")
	}
	if len(f.c.Rejected()) != 2 {
		t.Fatalf("Rejected() = %v", f.c.Rejected())
	}
	// Fixing the object clears its rejection.
	mustAccept(t, f.c.Apply(upserts(route("a", "a.test", "/fixed", "echo"))))
	if _, still := f.c.Rejected()[key(ir.KindRoute, "a")]; still {
		t.Fatal("fixed route still listed as rejected")
	}
}

func TestConflictingRoutes(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("first", "x.test", "/", "echo"))))
	res := f.c.Apply(upserts(route("second", "x.test", "/", "echo")))
	err := res.Rejected[key(ir.KindRoute, "second")]
	if err == nil || !strings.Contains(err.Error(), `conflicts with route "first" on host "x.test"`) {
		t.Fatalf("conflict not reported: %v", err)
	}
	if f.match("x.test", "/") != "first" {
		t.Fatal("live route lost its match to a conflicting newcomer")
	}
	// Within one change the smaller key keeps the match, deterministically.
	res = f.c.Apply(upserts(route("zeta", "y.test", "/", "echo"), route("alpha", "y.test", "/", "echo")))
	if _, ok := res.Rejected[key(ir.KindRoute, "zeta")]; !ok || f.match("y.test", "/") != "alpha" {
		t.Fatalf("batch conflict not resolved by key: %v", res.Rejected)
	}
	// A different priority is not a conflict.
	p := route("prio", "x.test", "/", "echo")
	p.Priority = 5
	mustAccept(t, f.c.Apply(upserts(p)))
}

func TestServiceDeleteRefusedWhileReferenced(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/", "echo"))))
	sk := key(ir.KindService, "echo")
	res := f.c.Apply(ir.Change{Deletes: []ir.Key{sk}})
	if err := res.Rejected[sk]; err == nil || !strings.Contains(err.Error(), `still referenced by route "a"`) {
		t.Fatalf("delete of a used service not refused: %v", err)
	}
	if f.pools.Get("echo") == nil {
		t.Fatal("pool released although the delete was refused")
	}
	// Deleting the route and the service together works.
	mustAccept(t, f.c.Apply(ir.Change{Deletes: []ir.Key{sk, key(ir.KindRoute, "a")}}))
	if f.pools.Get("echo") != nil || f.match("a.test", "/") != "" {
		t.Fatal("route and service not removed")
	}
}

// TestServiceUpdateKeepsPool: a service change updates its pool in place, so
// endpoints keep their identity (and health) and routes need no recompile.
func TestServiceUpdateKeepsPool(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1", "127.0.0.1:2"), route("a", "a.test", "/", "echo"))))
	pool := f.pools.Get("echo")
	ep := pool.Endpoints()[0]
	table := f.router.Table("a.test")
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1", "127.0.0.1:3"))))
	if f.pools.Get("echo") != pool {
		t.Fatal("service update replaced the pool")
	}
	if pool.Endpoints()[0] != ep {
		t.Fatal("unchanged endpoint lost its identity")
	}
	if f.router.Table("a.test") != table || f.c.Stats().HostsTouched != 0 {
		t.Fatal("service update recompiled routes")
	}
}

func TestChecker(t *testing.T) {
	c := New(Deps{})
	res := c.Check(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/", "echo"), route("b", "a.test", "/", "echo"), route("c", "c.test", "/", "nope")))
	if len(res.Rejected) != 2 {
		t.Fatalf("checker rejections = %v, want b (conflict) and c (unknown service)", res.Rejected)
	}
}

// TestBigChangeCompilesEveryHost loads enough routes for the host tables to
// be compiled on several cores, and checks that every host serves its own
// route, then that a change afterwards still touches one host.
func TestBigChangeCompilesEveryHost(t *testing.T) {
	f := newFixture(t)
	const n = 5 * hostsPerWorker
	mustAccept(t, f.c.Apply(manyRoutes(n)))
	if got := f.c.Stats().HostsTouched; got != n {
		t.Fatalf("hosts touched = %d, want %d", got, n)
	}
	for i := 0; i < n; i++ {
		if got, want := f.match(fmt.Sprintf("h%d.example.com", i), "/x"), fmt.Sprintf("r%d", i); got != want {
			t.Fatalf("h%d.example.com serves %q, want %q", i, got, want)
		}
	}
	mustAccept(t, f.c.Apply(upserts(route("r9", "h9.example.com", "/v2", "echo"))))
	if got := f.c.Stats().HostsTouched; got != 1 {
		t.Fatalf("hosts touched by one route = %d, want 1", got)
	}
	if f.match("h9.example.com", "/v2/x") != "r9" || f.match("h9.example.com", "/x") != "" {
		t.Fatal("changed route not live")
	}
}
