package kubernetes

import (
	"container/heap"
	"net"
	"slices"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"

	"pylon.io/pylon/internal/ir"
)

// sliceCache keeps, per Service and port name, each EndpointSlice's usable
// endpoints as of the slice's resourceVersion, sorted by address, each
// with the tag its Pod had in the Pod cache when the slice was read
// (podtags.go invalidates the slices naming a Pod whose tag changes: the
// slice's version does not). A Service of 2,000 endpoints in 20 slices then costs one slice's parse and
// a merge per slice write, not 2,000 addresses built, deduplicated and
// sorted again: a rolling update writes its slices dozens of times a
// second. Only the watcher's goroutine uses it.
type sliceCache map[nsName]map[string]map[string]sliceEndpoints // Service → port name → slice name

type sliceEndpoints struct {
	version string
	eps     []ir.Endpoint
}

// endpoints returns the merged endpoints of r over ss (its current
// EndpointSlices), refreshing the cached lists of those that changed and
// forgetting slices that are gone. tagOf gives the tag of a Pod an
// endpoint names ("" for none); nil tags nothing.
func (c sliceCache) endpoints(r svcRef, ss []*discoveryv1.EndpointSlice, tagOf func(ns, name string) string) []ir.Endpoint {
	nn := nsName{r.ns, r.name}
	if len(ss) == 0 {
		delete(c[nn], r.portName)
		if len(c[nn]) == 0 {
			delete(c, nn)
		}
		return nil
	}
	old := c[nn][r.portName]
	next := make(map[string]sliceEndpoints, len(ss))
	lists := make([][]ir.Endpoint, 0, len(ss))
	for _, s := range ss {
		e, ok := old[s.Name]
		if !ok || e.version != s.ResourceVersion || s.ResourceVersion == "" {
			e = sliceEndpoints{version: s.ResourceVersion, eps: sliceEndpointsOf(s, r.portName, tagOf)}
		}
		next[s.Name] = e
		if len(e.eps) > 0 {
			lists = append(lists, e.eps)
		}
	}
	if c[nn] == nil {
		c[nn] = map[string]map[string]sliceEndpoints{}
	}
	c[nn][r.portName] = next
	return mergeEndpoints(lists)
}

// forget drops what is cached of the Service nn.
func (c sliceCache) forget(nn nsName) { delete(c, nn) }

// invalidate drops what is cached of the Service nn's slice named slice,
// for every port, so the next read parses it again: a Pod it names has
// another tag now, though the slice's version did not change.
func (c sliceCache) invalidate(nn nsName, slice string) {
	for _, bySlice := range c[nn] {
		delete(bySlice, slice)
	}
}

// sliceEndpointsOf lists the usable endpoints of one slice for a port
// name (see usable), sorted by address, without duplicates, tagged by
// tagOf (may be nil).
func sliceEndpointsOf(s *discoveryv1.EndpointSlice, portName string, tagOf func(ns, name string) string) []ir.Endpoint {
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	port := int32(0)
	for _, p := range s.Ports {
		if p.Port != nil && (p.Name == nil && portName == "" || p.Name != nil && *p.Name == portName) {
			port = *p.Port
			break
		}
	}
	if port == 0 {
		return nil
	}
	ps := strconv.Itoa(int(port))
	out := make([]ir.Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		if len(e.Addresses) == 0 || !usable(e.Conditions) {
			continue
		}
		ep := placed(ir.Endpoint{Address: net.JoinHostPort(e.Addresses[0], ps)}, e)
		if ref := e.TargetRef; ref != nil && ref.Kind == "Pod" && tagOf != nil {
			ns := ref.Namespace
			if ns == "" {
				ns = s.Namespace
			}
			if t := tagOf(ns, ref.Name); t != "" {
				ep.Tags = []string{t}
			}
		}
		out = append(out, ep)
	}
	slices.SortStableFunc(out, byAddress)
	return slices.CompactFunc(out, func(a, b ir.Endpoint) bool { return a.Address == b.Address })
}

func byAddress(a, b ir.Endpoint) int { return strings.Compare(a.Address, b.Address) }

// mergeEndpoints merges sorted lists into one sorted list; an address in
// several lists (an endpoint the controller is moving between slices)
// appears once.
func mergeEndpoints(lists [][]ir.Endpoint) []ir.Endpoint {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return slices.Clone(lists[0])
	}
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]ir.Endpoint, 0, n)
	h := make(heads, 0, len(lists))
	for _, l := range lists {
		h = append(h, l)
	}
	heap.Init(&h)
	for len(h) > 0 {
		e := h[0][0]
		if len(out) == 0 || out[len(out)-1].Address != e.Address {
			out = append(out, e)
		}
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return out
}

// heads is a heap of sorted lists by their first address.
type heads [][]ir.Endpoint

func (h heads) Len() int           { return len(h) }
func (h heads) Less(i, j int) bool { return h[i][0].Address < h[j][0].Address }
func (h heads) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)        { *h = append(*h, x.([]ir.Endpoint)) }
func (h *heads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
