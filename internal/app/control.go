package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pylon.io/pylon/internal/admin"
	"pylon.io/pylon/internal/cluster"
	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/plugin"
	kubesource "pylon.io/pylon/internal/source/kubernetes"
	storesource "pylon.io/pylon/internal/source/store"
	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/bolt"
	"pylon.io/pylon/internal/store/etcd"
	"pylon.io/pylon/internal/telemetry"
)

// ControlOptions are the admin API, store and cluster settings of `pylon run`.
type ControlOptions struct {
	DataDir      string // bbolt file and the admin key's hash
	Store        string // "" (bbolt in DataDir) or etcd://host:port[,host:port]
	AdminAddress string // "" or "off" disables the admin API
	AdminKeyFile string
	AdminKeyEnv  string // PYLON_ADMIN_KEY
	AdminTLSCert string
	AdminTLSKey  string
	NodeName     string
	Version      string
}

// controlDeps are what the control plane works with, from the data plane
// and from the decision which sources this process reads.
type controlDeps struct {
	compiler *compile.Compiler // the sink of the store sources, and the admin API's checker
	metrics  *telemetry.Metrics
	// members is told the cluster membership once the node has joined, for
	// cluster-aware plugins (limits divided by the live node count).
	members *plugin.Members
	log     *slog.Logger
	// skipPublished: this process serves Kubernetes in-process, so it does
	// not read what a controller published to etcd.
	skipPublished bool
}

// control is the admin API, its store and the node's cluster membership.
type control struct {
	o      ControlOptions
	d      controlDeps
	store  store.Store
	cache  *storesource.Cache
	source *storesource.Source
	admin  *admin.Server

	// With an etcd store, what a Kubernetes controller publishes
	// (--kubernetes-publish) is read too, into objects of source
	// "kubernetes", with a local copy of its own.
	published      *storesource.Source
	publishedStore store.Store
	publishedCache *storesource.Cache
}

// etcdPrefix is where a fleet keeps its objects and membership in etcd.
const etcdPrefix = "/pylon"

// openControl opens the store and, unless disabled, prepares the admin API.
// It returns nil when neither an admin API nor a store is configured. If a
// step fails, what the earlier steps opened is closed again: a failed start
// must not leave the data dir's files locked or etcd clients running.
func openControl(ctx context.Context, o ControlOptions, d controlDeps) (_ *control, err error) {
	disabled := o.AdminAddress == "" || o.AdminAddress == "off"
	if disabled && o.Store == "" {
		return nil, nil
	}
	c := &control{o: o, d: d}
	log := d.log
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if err := c.openStore(ctx); err != nil {
		return nil, err
	}
	c.source = storesource.New(c.store, log)
	if c.cache != nil {
		c.source.WithCache(c.cache)
	}
	if !disabled {
		if c.admin, err = c.newAdmin(); err != nil {
			return nil, err
		}
	}
	d.metrics.WatchStore(func() (bool, int64) { return c.store.Status().Synced, c.source.Revision() })
	return c, nil
}

// openStore opens the store o names, with a local copy for etcd. What it
// opens is set on c as soon as it is, so c.close finds it.
func (c *control) openStore(ctx context.Context) error {
	o, log := c.o, c.d.log
	var err error
	switch {
	case strings.HasPrefix(o.Store, "etcd://"):
		eps := strings.Split(strings.TrimPrefix(o.Store, "etcd://"), ",")
		// A node keeps a local copy of what it applied: with one, it starts
		// (and serves that copy) even while etcd is away.
		if err = os.MkdirAll(o.DataDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if c.cache, err = storesource.OpenCache(filepath.Join(o.DataDir, "etcd-cache.db"), log); err != nil {
			return err
		}
		var opts []etcd.Option
		if c.cache.Revision() > 0 {
			opts = append(opts, etcd.WithoutFirstContact())
		}
		st, err := etcd.Open(ctx, eps, etcdPrefix, opts...)
		if err != nil {
			return err
		}
		c.store = st
		if !c.d.skipPublished {
			return c.openPublished(ctx, eps)
		}
		return nil
	case o.Store == "":
		if err = os.MkdirAll(o.DataDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		st, err := bolt.Open(filepath.Join(o.DataDir, "pylon.db"))
		if err != nil {
			return err
		}
		c.store = st
		return nil
	default:
		return fmt.Errorf("--store: want etcd://host:port[,host:port] (got %q)", o.Store)
	}
}

// newAdmin prepares the admin API over c's store, with the key the options
// name (or one generated and stored hashed in the data dir).
func (c *control) newAdmin() (*admin.Server, error) {
	o, comp := c.o, c.d.compiler
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	hash, err := admin.LoadOrCreateKey(admin.KeyOptions{File: o.AdminKeyFile, Env: o.AdminKeyEnv, DataDir: o.DataDir, Terminal: admin.OpenTerminal})
	if err != nil {
		return nil, err
	}
	deps := admin.Deps{
		Store: c.store, Checker: comp, Live: comp, Log: c.d.log, WaitApplied: c.source.WaitRevision,
		Status: func() admin.Status {
			st := comp.Stats()
			return admin.Status{
				ConfigVersion: st.Version, Objects: comp.Counts(), Rejected: len(comp.Rejected()),
				LastPropagation: st.LastPropagate, LastApplied: st.LastApplied, Store: c.store.Status(), Node: o.NodeName,
			}
		},
	}
	if es, ok := c.store.(*etcd.Store); ok {
		deps.Nodes = func(ctx context.Context) ([]admin.NodeInfo, error) {
			nodes, err := cluster.List(ctx, es.Client(), etcdPrefix)
			if err != nil {
				return nil, err
			}
			out := make([]admin.NodeInfo, len(nodes))
			for i, n := range nodes {
				out[i] = admin.NodeInfo{Name: n.Name, Address: n.Address, Version: n.Version, Revision: n.Revision, Heartbeat: n.Heartbeat}
			}
			return out, nil
		}
	}
	return admin.New(deps, admin.Options{Address: o.AdminAddress, KeyHash: hash, TLSCert: o.AdminTLSCert, TLSKey: o.AdminTLSKey, Version: o.Version}), nil
}

// openPublished opens what Kubernetes controllers publish to the fleet's
// etcd, with its own local copy so the node serves it while etcd is away.
func (c *control) openPublished(ctx context.Context, eps []string) error {
	log := c.d.log
	cache, err := storesource.OpenCache(filepath.Join(c.o.DataDir, "etcd-kubernetes-cache.db"), log)
	if err != nil {
		return err
	}
	c.publishedCache = cache
	st, err := etcd.Open(ctx, eps, kubernetesPrefix, etcd.WithoutFirstContact())
	if err != nil {
		return err
	}
	c.publishedStore = st
	c.published = storesource.New(st, log).As(kubesource.SourceName).WithCache(cache)
	return nil
}

// ready lists what must be applied before the node reports ready.
func (c *control) ready() []<-chan struct{} {
	out := []<-chan struct{}{c.source.Ready()}
	if c.published != nil {
		out = append(out, c.published.Ready())
	}
	return out
}

// runners lists the long-running parts of the admin API and its store.
// The store sources feed the compile stage through gate, which applies
// every source's first load as one change.
func (c *control) runners(gate *startGate) []Runner {
	store := gate.join("store", c.source.Ready())
	rs := []Runner{{Name: "store-source", Start: func(ctx context.Context) error { return c.source.Run(ctx, store) }}}
	if c.published != nil {
		published := gate.join("published-kubernetes", c.published.Ready())
		rs = append(rs, Runner{Name: "published-kubernetes-source", Start: func(ctx context.Context) error { return c.published.Run(ctx, published) }})
	}
	if c.admin != nil {
		rs = append(rs, Runner{Name: "admin", Start: c.admin.Start})
	}
	if es, ok := c.store.(*etcd.Store); ok {
		rs = append(rs, Runner{Name: "cluster", Start: func(ctx context.Context) error {
			return c.joinCluster(ctx, es)
		}})
	}
	return rs
}

// joinCluster registers this node under a lease and keeps its record
// current until ctx ends; a clean stop removes it at once.
func (c *control) joinCluster(ctx context.Context, es *etcd.Store) error {
	o, log := c.o, c.d.log
	addr := o.AdminAddress
	if c.admin != nil && c.admin.Addr() != nil {
		addr = c.admin.Addr().String()
	}
	var m *cluster.Member
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		m, err = cluster.Register(ctx, es.Client(), etcdPrefix, cluster.Node{Name: o.NodeName, Address: addr, Version: o.Version}, 0)
		if err == nil {
			break
		}
		// Serving does not need membership: keep trying while etcd is away.
		log.Warn("cluster registration failed; retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	defer m.Close()
	if c.d.members != nil {
		c.d.members.Set(m)
		defer c.d.members.Set(nil)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.Update(c.source.Revision())
		}
	}
}

func (c *control) close() {
	if c == nil {
		return
	}
	if c.cache != nil {
		c.cache.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
	if c.publishedCache != nil {
		c.publishedCache.Close()
	}
	if c.publishedStore != nil {
		c.publishedStore.Close()
	}
}
