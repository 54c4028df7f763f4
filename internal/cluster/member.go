package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Member is this node's registration. It keeps its lease alive, refreshes
// its record every TTL/3, and registers again by itself after an etcd
// outage longer than the TTL cost it the lease.
type Member struct {
	cli    *clientv3.Client
	prefix string
	ttl    time.Duration

	mu    sync.Mutex
	node  Node
	lease clientv3.LeaseID
	live  int

	changed chan struct{} // capacity 1: Live changed
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  sync.Once
}

// Register writes node under <prefix>/nodes/<name> with a lease of ttl
// (DefaultTTL when zero) and keeps it there until Close. It fails when the
// first registration fails.
func Register(ctx context.Context, cli *clientv3.Client, prefix string, node Node, ttl time.Duration) (*Member, error) {
	if node.Name == "" || strings.Contains(node.Name, "/") {
		return nil, fmt.Errorf("cluster: node name %q must be non-empty without '/'", node.Name)
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	m := &Member{cli: cli, prefix: prefix, ttl: ttl, node: node, changed: make(chan struct{}, 1)}
	if err := m.register(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Go(func() { m.keep(bg) })
	m.wg.Go(func() { m.watch(bg) })
	return m, nil
}

func (m *Member) key() string { return nodesPrefix(m.prefix) + m.node.Name }

// register grants a new lease and writes the record with it.
func (m *Member) register(ctx context.Context) error {
	secs := int64((m.ttl + time.Second - 1) / time.Second)
	lease, err := m.cli.Grant(ctx, secs)
	if err != nil {
		return fmt.Errorf("cluster: node %s: grant lease: %w", m.node.Name, err)
	}
	m.mu.Lock()
	m.lease = lease.ID
	m.mu.Unlock()
	return m.put(ctx)
}

// put writes the record with the current lease and a fresh heartbeat.
func (m *Member) put(ctx context.Context) error {
	m.mu.Lock()
	m.node.Heartbeat = time.Now().UTC()
	b, err := json.Marshal(m.node)
	lease := m.lease
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cluster: node %s: %w", m.node.Name, err)
	}
	// Write only a record that is absent or ours: two nodes with one name
	// (two hosts with the same host name, say) would otherwise take turns
	// owning it, and the fleet would count one node.
	key := m.key()
	resp, err := m.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return fmt.Errorf("cluster: node %s: write record: %w", m.node.Name, err)
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 && clientv3.LeaseID(kvs[0].Lease) != lease {
		return fmt.Errorf("cluster: node name %q is already registered by another node (set --node-name)", m.node.Name)
	}
	if _, err := m.cli.Put(ctx, key, string(b), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("cluster: node %s: write record: %w", m.node.Name, err)
	}
	return nil
}

// Update records the store revision this node has applied; it is written
// with the next refresh.
func (m *Member) Update(revision int64) {
	m.mu.Lock()
	m.node.Revision = revision
	m.mu.Unlock()
}

// List returns the registered nodes, by name.
func (m *Member) List(ctx context.Context) ([]Node, error) { return List(ctx, m.cli, m.prefix) }

// Live returns how many nodes are registered, this one included, as last
// seen by a watch on the nodes (at least 1).
func (m *Member) Live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(m.live, 1)
}

// Changed is signalled (coalesced) whenever Live changes.
func (m *Member) Changed() <-chan struct{} { return m.changed }

// Close stops refreshing and revokes the lease, so the node disappears at
// once.
func (m *Member) Close() error {
	var err error
	m.closed.Do(func() {
		m.cancel()
		m.wg.Wait()
		m.mu.Lock()
		lease := m.lease
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, rerr := m.cli.Revoke(ctx, lease); rerr != nil {
			err = fmt.Errorf("cluster: node %s: revoke lease: %w", m.node.Name, rerr)
		}
	})
	return err
}

// abandon stops the member without revoking its lease, as a killed process
// would: the record stays until the lease expires. For tests.
func (m *Member) abandon() {
	m.closed.Do(func() {
		m.cancel()
		m.wg.Wait()
	})
}

// keep keeps the lease alive and the record fresh, registering again when
// the lease is lost.
func (m *Member) keep(ctx context.Context) {
	tick := time.NewTicker(m.ttl / 3)
	defer tick.Stop()
	var ka <-chan *clientv3.LeaseKeepAliveResponse
	lost := false
	for ctx.Err() == nil {
		if lost {
			c, cancel := context.WithTimeout(ctx, m.ttl)
			err := m.register(c)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					slog.Warn("cluster: register again failed; retrying", "node", m.node.Name, "err", err)
				}
				sleep(ctx, m.ttl/3)
				continue
			}
			slog.Info("cluster: registered again after losing the lease", "node", m.node.Name)
			lost, ka = false, nil
		}
		if ka == nil {
			m.mu.Lock()
			lease := m.lease
			m.mu.Unlock()
			var err error
			if ka, err = m.cli.KeepAlive(ctx, lease); err != nil {
				lost = true
				continue
			}
		}
		select {
		case <-ctx.Done():
		case _, ok := <-ka:
			lost = !ok // closed: the lease expired or etcd was away too long
		case <-tick.C:
			c, cancel := context.WithTimeout(ctx, m.ttl/3)
			err := m.put(c)
			cancel()
			if err != nil && ctx.Err() == nil {
				slog.Warn("cluster: refresh failed", "node", m.node.Name, "err", err)
				lost = errors.Is(err, rpctypes.ErrLeaseNotFound)
			}
		}
	}
}

// watch keeps Live current: it counts the nodes, then recounts on every
// change under the nodes prefix, and rewatches after errors.
func (m *Member) watch(ctx context.Context) {
	for ctx.Err() == nil {
		n, rev, err := count(ctx, m.cli, m.prefix)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		m.setLive(n)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range m.cli.Watch(wctx, nodesPrefix(m.prefix), clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if resp.Err() != nil {
				break
			}
			if len(resp.Events) > 0 {
				if n, _, err := count(ctx, m.cli, m.prefix); err == nil {
					m.setLive(n)
				}
			}
		}
		cancel()
		sleep(ctx, 200*time.Millisecond)
	}
}

func (m *Member) setLive(n int) {
	m.mu.Lock()
	changed := m.live != n
	m.live = n
	m.mu.Unlock()
	if changed {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
