// Package cluster keeps track of the gateway nodes that share one etcd:
// each node holds a record under <prefix>/nodes/<name> bound to an etcd
// lease, so a node that stops cleanly disappears at once (its lease is
// revoked) and a node that dies disappears when its lease expires.
// Cluster-aware limits divide by the number of live nodes.
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultTTL is the lease TTL when Register is given none: how long a dead
// node stays listed.
const DefaultTTL = 10 * time.Second

// Node is one gateway node's record.
type Node struct {
	Name      string    `json:"name"`
	Address   string    `json:"address,omitempty"`
	Version   string    `json:"version,omitempty"`
	Revision  int64     `json:"revision"`  // store revision the node has applied
	Heartbeat time.Time `json:"heartbeat"` // when the node last wrote its record
}

func nodesPrefix(prefix string) string { return strings.TrimRight(prefix, "/") + "/nodes/" }

// List returns the nodes registered under prefix, by name.
func List(ctx context.Context, cli *clientv3.Client, prefix string) ([]Node, error) {
	resp, err := cli.Get(ctx, nodesPrefix(prefix), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("cluster: list nodes under %s: %w", prefix, err)
	}
	nodes := make([]Node, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("cluster: node record %s: %w", kv.Key, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// count returns how many nodes are registered under prefix and the
// revision read at.
func count(ctx context.Context, cli *clientv3.Client, prefix string) (int, int64, error) {
	resp, err := cli.Get(ctx, nodesPrefix(prefix), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: count nodes under %s: %w", prefix, err)
	}
	return int(resp.Count), resp.Header.Revision, nil
}
