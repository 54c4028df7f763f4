// Package discovery finds the endpoints of services outside Kubernetes (DNS,
// Consul, Nacos, Eureka, ZooKeeper) and feeds them straight into the
// long-lived upstream pools: an endpoint change never recompiles a route.
//
// A Provider knows how to talk to one registry. The Manager runs one watch
// per discovered service, versions each endpoint set it hears, guards
// against empty sets (keepLastKnown), falls back to polling when a watch
// stalls, and hands the sets to the pools.
package discovery

import (
	"context"
	"time"
)

// Instance is one endpoint a provider found.
type Instance struct {
	Address  string            // host:port; an IPv6 host is bracketed
	Weight   int               // relative share of traffic; 0 means 1
	Healthy  bool              // false: registered but not passing; kept out of the pool
	Tags     []string          // gray tags and the like (Consul tags, a metadata "tags" value)
	Metadata map[string]string // the registry's instance metadata, valid UTF-8
	Zone     string            // availability zone, when the registry knows it
}

// Set is the endpoint set of a query at one moment. Version grows by one
// with each set the Manager accepts for a service; a provider leaves it 0.
type Set struct {
	Instances []Instance
	Version   uint64
}

// Query is what one service asks of its provider, in the provider's terms;
// each provider reads the fields it knows and rejects the ones it does not.
type Query struct {
	Name       string   // DNS name (A/AAAA), or the registry's service name
	SRV        string   // DNS SRV name, instead of Name and Port
	Port       int      // the port for A/AAAA answers or registries without one
	Tags       []string // Consul: instances must carry all of them
	Namespace  string   // Consul, Nacos
	Partition  string   // Consul
	Datacenter string   // Consul
	Group      string   // Nacos
	Clusters   []string // Nacos
	App        string   // Eureka application
	Path       string   // ZooKeeper: the service's node
	Layout     string   // ZooKeeper: "dubbo" or "curator"
}

// Provider is a connection to one registry.
type Provider interface {
	// Watch sends q's endpoint set to update at once (as soon as it is
	// known) and again each time it changes, until ctx ends; then it
	// returns ctx.Err(). It reconnects by itself and returns another error
	// only when q can never be answered (a field the provider does not
	// know). update is never called concurrently for one Watch.
	Watch(ctx context.Context, q Query, update func(Set)) error
	// Resolve answers q once; the Manager polls with it when a watch stalls.
	Resolve(ctx context.Context, q Query) (Set, error)
	// Close ends every watch and releases the connection.
	Close() error
}

// PollEvery is how often the Manager resolves a query whose watch has sent
// nothing for a while, so a stalled watch never leaves a pool stale.
const PollEvery = 30 * time.Second

// MaxInstances bounds one set: an answer with more is cut to this many (and
// the Manager says so), so a registry that returns 10,000 records cannot
// make a pool of them.
const MaxInstances = 4096
