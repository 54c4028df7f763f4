package kubernetes

import (
	"fmt"
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/internal/ir"
)

var httpName = "http"

func testSlice(name, version string, port int32, ready bool, ips ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: version},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &httpName, Port: &port}}}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

func addrsOf(eps []ir.Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Address
	}
	return out
}

// TestSliceCache: the merged endpoints of a Service's slices are sorted and
// unique (an endpoint in two slices once), a slice is read again only when
// its version changes, a slice that is gone leaves the set, and not-ready
// endpoints stay out.
func TestSliceCache(t *testing.T) {
	c := sliceCache{}
	r := svcRef{ns: "ns", name: "svc", portName: "http"}
	a := testSlice("a", "1", 80, true, "10.0.0.3", "10.0.0.1")
	b := testSlice("b", "1", 80, true, "10.0.0.2", "10.0.0.3", "10.0.0.9")
	got := addrsOf(c.endpoints(r, []*discoveryv1.EndpointSlice{b, a}, nil))
	if want := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.9:80"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// The same version is not read again: a changed object under an
	// unchanged version (which the apiserver never sends) proves it.
	a.Endpoints = a.Endpoints[:1]
	if got := addrsOf(c.endpoints(r, []*discoveryv1.EndpointSlice{a, b}, nil)); len(got) != 4 {
		t.Errorf("an unchanged version was read again: %v", got)
	}
	a2 := testSlice("a", "2", 80, true, "10.0.0.4")
	if got := addrsOf(c.endpoints(r, []*discoveryv1.EndpointSlice{a2, b}, nil)); !slices.Equal(got, []string{"10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.9:80"}) {
		t.Errorf("after a's new version: %v", got)
	}
	b2 := testSlice("b", "2", 80, false, "10.0.0.2")
	if got := addrsOf(c.endpoints(r, []*discoveryv1.EndpointSlice{a2, b2}, nil)); !slices.Equal(got, []string{"10.0.0.4:80"}) {
		t.Errorf("with b's endpoint not ready: %v", got)
	}
	if got := c.endpoints(r, []*discoveryv1.EndpointSlice{a2}, nil); len(c[nsName{"ns", "svc"}]["http"]) != 1 || len(got) != 1 {
		t.Errorf("slice b gone: cached %v, got %v", c[nsName{"ns", "svc"}]["http"], addrsOf(got))
	}
	if c.endpoints(r, nil, nil); len(c) != 0 {
		t.Errorf("no slices left, the cache still holds %v", c)
	}
}

func TestMergeEndpointsMatchesASort(t *testing.T) {
	var lists [][]ir.Endpoint
	var all []string
	for l := range 20 {
		var eps []ir.Endpoint
		for i := range 100 {
			a := fmt.Sprintf("10.%d.%d.%d:8080", (l*7+i)%3, l, (i*37)%250)
			eps = append(eps, ir.Endpoint{Address: a})
			all = append(all, a)
		}
		slices.SortFunc(eps, byAddress)
		eps = slices.CompactFunc(eps, func(a, b ir.Endpoint) bool { return a.Address == b.Address })
		lists = append(lists, eps)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if got := addrsOf(mergeEndpoints(lists)); !slices.Equal(got, all) {
		t.Fatalf("merge differs from a sort: %d vs %d addresses", len(got), len(all))
	}
}
