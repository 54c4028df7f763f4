package kubernetes

import (
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// endpoints lists the addresses of the Service port r from its
// EndpointSlices: endpoints that are ready, or serving and not terminating
// (a Pod shutting down keeps serving its in-flight requests elsewhere, but
// gets no new ones unless nothing else is left serving). Sorted, so an
// unchanged set hashes the same. Each slice is read once per version (see
// sliceCache).
func (w *watcher) endpoints(r svcRef) []ir.Endpoint {
	objs, err := w.in.slices.GetIndexer().ByIndex(sliceByServiceIndex, r.ns+"/"+r.name)
	if err != nil {
		return nil
	}
	ss := make([]*discoveryv1.EndpointSlice, len(objs))
	for i, o := range objs {
		ss[i] = o.(*discoveryv1.EndpointSlice)
	}
	return w.slices.endpoints(r, ss, w.podTag)
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
// published with their service), with their tags and where they run.
func poolEndpoints(eps []ir.Endpoint) []upstream.EndpointConfig {
	out := make([]upstream.EndpointConfig, len(eps))
	for i, e := range eps {
		out[i] = upstream.EndpointConfig{Address: e.Address, Weight: e.Weight, Tags: e.Tags, Zone: e.Zone, Node: e.Node, ForZones: e.ForZones, ForNodes: e.ForNodes}
	}
	return out
}

func irEndpoints(eps []upstream.EndpointConfig) []ir.Endpoint {
	out := make([]ir.Endpoint, len(eps))
	for i, e := range eps {
		out[i] = ir.Endpoint{Address: e.Address, Weight: e.Weight, Tags: e.Tags, Zone: e.Zone, Node: e.Node, ForZones: e.ForZones, ForNodes: e.ForNodes}
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
	if len(w.svcObjs[nn]) == 0 {
		w.slices.forget(nn) // no pool reads it
		delete(w.refreshed, nn)
		return
	}
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

// endpointsEvery bounds how often one Service's endpoints are set from its
// EndpointSlices. A slice change after a quiet spell applies at once;
// changes that come faster (a rolling update writes a Service's slices
// dozens of times a second) are gathered and applied together, at most
// this long after the first. A Service change applies at once. kube-proxy
// bounds its own syncs the same way and as long (--iptables-min-sync-period,
// 1 s by default), and ingress-nginx syncs its backends once a second. At
// 2,000 endpoints one set costs about 2 ms of a loaded core (merging the
// slices, matching the pool, closing the removed endpoints' connections):
// at 4 sets a second that was 7% of the proxy's CPU at 2,000 requests a
// second during a rolling update (bench/rolling.sh), at 1 a second it is
// under 2%.
const endpointsEvery = time.Second

// holdEndpoints reports whether the slice changes of nn wait: they do when
// its endpoints were set less than endpointsEvery before now, and then a
// timer queues nn again for when they may be set.
func (w *watcher) holdEndpoints(nn nsName, now time.Time) bool {
	last, ok := w.refreshed[nn]
	if !ok || now.Sub(last) >= endpointsEvery {
		w.refreshed[nn] = now
		delete(w.held, nn)
		return false
	}
	if !w.held[nn] {
		w.held[nn] = true
		time.AfterFunc(last.Add(endpointsEvery).Sub(now), func() { w.q.add(qkey{kind: kSlice, ns: nn.ns, name: nn.name}) })
	}
	return true
}
