package kubernetes

import (
	"net"
	"slices"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// endpoints lists the addresses of the Service port r from its
// EndpointSlices: endpoints that are ready, or serving and not terminating
// (a Pod shutting down keeps serving its in-flight requests elsewhere, but
// gets no new ones unless nothing else is left serving). Sorted, so an
// unchanged set hashes the same.
func (w *watcher) endpoints(r svcRef) []ir.Endpoint {
	objs, err := w.in.slices.GetIndexer().ByIndex(sliceByServiceIndex, r.ns+"/"+r.name)
	if err != nil {
		return nil
	}
	var out []ir.Endpoint
	seen := map[string]bool{}
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port := int32(0)
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil && r.portName == "" || p.Name != nil && *p.Name == r.portName) {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 || !usable(e.Conditions) {
				continue
			}
			addr := net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port)))
			if !seen[addr] {
				seen[addr] = true
				out = append(out, placed(ir.Endpoint{Address: addr}, e))
			}
		}
	}
	slices.SortFunc(out, func(a, b ir.Endpoint) int { return strings.Compare(a.Address, b.Address) })
	return out
}

// placed adds where the endpoint runs: its zone and node, and the hints
// the EndpointSlice controller wrote for the Service's trafficDistribution
// (or topology-mode annotation). The gateway's data plane decides with
// them, against its own zone and node.
func placed(ep ir.Endpoint, e discoveryv1.Endpoint) ir.Endpoint {
	if e.Zone != nil {
		ep.Zone = *e.Zone
	}
	if e.NodeName != nil {
		ep.Node = *e.NodeName
	}
	if h := e.Hints; h != nil {
		for _, z := range h.ForZones {
			ep.ForZones = append(ep.ForZones, z.Name)
		}
		for _, n := range h.ForNodes {
			ep.ForNodes = append(ep.ForNodes, n.Name)
		}
	}
	return ep
}

// poolEndpoints converts IR endpoints to pool endpoints, and irEndpoints
// back: discovered endpoints travel both ways (to the local pools, and
// published with their service).
func poolEndpoints(eps []ir.Endpoint) []upstream.EndpointConfig {
	out := make([]upstream.EndpointConfig, len(eps))
	for i, e := range eps {
		out[i] = upstream.EndpointConfig{Address: e.Address, Weight: e.Weight, Zone: e.Zone, Node: e.Node, ForZones: e.ForZones, ForNodes: e.ForNodes}
	}
	return out
}

func irEndpoints(eps []upstream.EndpointConfig) []ir.Endpoint {
	out := make([]ir.Endpoint, len(eps))
	for i, e := range eps {
		out[i] = ir.Endpoint{Address: e.Address, Weight: e.Weight, Zone: e.Zone, Node: e.Node, ForZones: e.ForZones, ForNodes: e.ForNodes}
	}
	return out
}

// usable says whether an endpoint takes new requests: ready (an unset
// condition counts as ready, as the API says), or serving and not
// terminating.
func usable(c discoveryv1.EndpointConditions) bool {
	if c.Ready == nil || *c.Ready {
		return true
	}
	serving := c.Serving != nil && *c.Serving
	terminating := c.Terminating != nil && *c.Terminating
	return serving && !terminating
}

// refreshEndpoints sets the endpoints of every IR service fed by the
// Service nn directly on their pools: no translation, no route compile.
// Services sent in this batch (fresh) already carry them.
func (w *watcher) refreshEndpoints(nn nsName, fresh map[ir.Key]struct{}) {
	byPort := map[string][]upstream.EndpointConfig{} // one computation per Service port
	for k := range w.svcObjs[nn] {
		so := w.shared[k]
		if so == nil || so.svc == nil {
			continue
		}
		if _, ok := fresh[k]; ok {
			continue
		}
		cfg, ok := byPort[so.svc.portName]
		if !ok {
			cfg = poolEndpoints(w.endpoints(*so.svc))
			byPort[so.svc.portName] = cfg
		}
		if err := w.s.pools.SetEndpoints(k.DisplayName(), cfg); err != nil {
			// The service is not live (rejected, or not applied yet): it
			// gets the current endpoints when it is sent.
			w.s.log.Debug("kubernetes: endpoints not set", "service", k.String(), "error", err.Error())
		}
	}
}
