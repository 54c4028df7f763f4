package compile

import (
	"fmt"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

func apiObj(r ir.Resource) ir.Object { return ir.NewObject("api", "default", r) }

// TestSourcesShareNamesNotObjects: an API route may use a file service, but
// the same name from two sources is a collision, not an override.
func TestSourcesShareNamesNotObjects(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("file-route", "f.test", "/", "echo"))))
	mustAccept(t, f.c.Apply(ir.Change{Upserts: []ir.Object{apiObj(route("api-route", "a.test", "/", "echo"))}}))
	if f.match("a.test", "/") != "api-route" {
		t.Fatal("API route using a file service does not serve")
	}
	res := f.c.Apply(ir.Change{Upserts: []ir.Object{apiObj(svc("echo", "127.0.0.1:2"))}})
	err := res.Rejected[ir.Key{Kind: ir.KindService, Source: "api", Namespace: "default", Name: "echo"}]
	if err == nil || !strings.Contains(err.Error(), `name collision`) || !strings.Contains(err.Error(), `source "file"`) {
		t.Fatalf("collision not reported: %v", res.Rejected)
	}
	// The file service is still the one in use, and still guarded against
	// deletion by the API route that uses it.
	res = f.c.Apply(ir.Change{Deletes: []ir.Key{key(ir.KindService, "echo")}})
	if err := res.Rejected[key(ir.KindService, "echo")]; err == nil || !strings.Contains(err.Error(), "still referenced") {
		t.Fatalf("delete of a service used across sources not refused: %v", res.Rejected)
	}
}

// TestCheckChangesNothing: the dry run reports what Apply would, and leaves
// routing, pools and the rejected list alone.
func TestCheckChangesNothing(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/", "echo"))))
	table := f.router.Table("a.test")
	ch := ir.Change{
		Upserts: []ir.Object{apiObj(svc("new", "127.0.0.1:9")), apiObj(route("b", "b.test", "/", "new")), apiObj(route("c", "c.test", "/", "missing"))},
		Deletes: []ir.Key{key(ir.KindService, "echo")},
	}
	res := f.c.Check(ch)
	if len(res.Rejected) != 2 {
		t.Fatalf("Check rejections = %v, want route c (unknown service) and the delete of echo (in use)", res.Rejected)
	}
	if f.pools.Get("new") != nil || f.match("b.test", "/") != "" || f.router.Table("a.test") != table || len(f.c.Rejected()) != 0 {
		t.Fatal("Check changed live state")
	}
	if f.c.Stats().Version != 1 {
		t.Fatal("Check counted as a config version")
	}
}

// TestRejectedObjectHealsWhenItsServiceArrives: sources start in any order;
// a route that came before its service is accepted when the service comes.
func TestRejectedObjectHealsWhenItsServiceArrives(t *testing.T) {
	f := newFixture(t)
	res := f.c.Apply(ir.Change{Upserts: []ir.Object{apiObj(route("early", "e.test", "/", "backend"))}})
	if len(res.Rejected) != 1 {
		t.Fatalf("route without its service accepted: %v", res.Rejected)
	}
	res = f.c.Apply(upserts(svc("backend", "127.0.0.1:1")))
	if len(res.Rejected) != 0 {
		t.Fatalf("the file change got the retried route's result: %v", res.Rejected)
	}
	if want := apiObj(route("early", "e.test", "/", "backend")).Key; len(res.Revived) != 1 || res.Revived[0] != want {
		t.Fatalf("revived %v, want the route %v: its source must learn it serves", res.Revived, want)
	}
	if f.match("e.test", "/") != "early" || len(f.c.Rejected()) != 0 {
		t.Fatalf("route not accepted once its service arrived; rejected: %v", f.c.Rejected())
	}
	// An object wrong on its own is not retried forever.
	bad := route("bad", "b.test", "", "backend")
	bad.Match.Path = &ir.PathMatch{Regex: "("}
	f.c.Apply(ir.Change{Upserts: []ir.Object{apiObj(bad)}})
	if len(f.c.pending) != 0 {
		t.Fatalf("an invalid object is waiting for a retry: %v", f.c.pending)
	}
}

// TestRetriesCostTheChange: objects waiting for something are retried only
// by a change that brings it, not by every change.
func TestRetriesCostTheChange(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"))))
	var waiting ir.Change
	for i := range 500 {
		waiting.Upserts = append(waiting.Upserts, apiObj(route(fmt.Sprintf("w%d", i), fmt.Sprintf("w%d.test", i), "/", "later")))
	}
	if res := f.c.Apply(waiting); len(res.Rejected) != 500 {
		t.Fatalf("rejected %d, want 500", len(res.Rejected))
	}
	unrelated := upserts(route("other", "other.test", "/", "echo"))
	if got := len(f.c.retries(unrelated)); got != 0 {
		t.Fatalf("an unrelated change retries %d waiting objects", got)
	}
	mustAccept(t, f.c.Apply(upserts(svc("later", "127.0.0.1:2"))))
	if len(f.c.pending) != 0 || f.match("w7.test", "/") != "w7" {
		t.Fatal("waiting routes not accepted when their service came")
	}
}
