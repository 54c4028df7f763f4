package app

import (
	"context"
	"log/slog"

	kubesource "pylon.io/pylon/internal/source/kubernetes"
	"pylon.io/pylon/internal/upstream"
)

// LocalityOptions say where this gateway runs, for services that prefer
// the endpoints near it (trafficDistribution, zoneAware).
type LocalityOptions struct {
	// Zone is this gateway's availability zone (--zone, else $PYLON_ZONE).
	// Empty: the zone label of Node, when Node is set.
	Zone string
	// Node is the Kubernetes Node this gateway runs on (--kubernetes-node,
	// else $NODE_NAME, which the downward API sets from spec.nodeName), for
	// PreferSameNode and, without Zone, for the zone.
	Node string
}

// localityRunners tells the pools where this gateway runs. With a Node
// and no zone given, it reads the Node's zone label once now, so the
// first requests already prefer the zone, and returns the runner that
// follows it. The cluster is found as for --kubernetes (kubeconfig). A
// zone that cannot be read is no reason not to serve: the pools then
// prefer nothing of the zone until it can.
func localityRunners(ctx context.Context, o LocalityOptions, kubeconfig string, pools *upstream.Registry, log *slog.Logger) []Runner {
	loc := upstream.Locality{Zone: o.Zone, Node: o.Node}
	pools.SetLocality(loc)
	if o.Zone != "" || o.Node == "" {
		return nil
	}
	client, err := kubesource.NewClient(kubeconfig, log)
	if err != nil {
		log.Warn("zone unknown: cannot reach the cluster to read this gateway's Node; pass --zone", "node", o.Node, "error", err.Error())
		return nil
	}
	nz := kubesource.NewNodeZone(client, o.Node, func(zone string) {
		pools.SetLocality(upstream.Locality{Zone: zone, Node: o.Node})
	}, log)
	if zone, err := nz.Read(ctx); err != nil {
		log.Warn("zone unknown for now: cannot read this gateway's Node (it is watched on)", "node", o.Node, "error", err.Error())
	} else if zone == "" {
		log.Warn("zone unknown: this gateway's Node has no "+kubesource.ZoneLabel+" label", "node", o.Node)
	}
	return []Runner{{Name: "kubernetes-node-zone", Start: nz.Run}}
}
