package proxy

import (
	"slices"
	"testing"
)

// A route copied from a finished one (the compile stage does this for a
// host whose plugin chain differs) and finished again must not write its
// services into the first route's: host A's Ctx.Services would list host
// B's service.
func TestFinishedCopyKeepsItsOwnServices(t *testing.T) {
	a := &Route{Backends: []Backend{{Service: "svc-a", Weight: 1}}}
	a.Finish()
	b := *a
	b.Backends = []Backend{{Service: "svc-b", Weight: 1}}
	b.Finish()
	var ca, cb Ctx
	ca.route, cb.route = a, &b
	if got := ca.Services(); !slices.Equal(got, []string{"svc-a"}) {
		t.Fatalf("route a's services after finishing its copy: %q, want [svc-a]", got)
	}
	if got := cb.Services(); !slices.Equal(got, []string{"svc-b"}) {
		t.Fatalf("the copy's services: %q, want [svc-b]", got)
	}
}
