package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"pylon.io/pylon/test/testenv"
)

const ttl = 2 * time.Second

func client(t *testing.T, e *testenv.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func register(t *testing.T, cli *clientv3.Client, name string) *Member {
	t.Helper()
	m, err := Register(context.Background(), cli, "/pylon", Node{Name: name, Address: "127.0.0.1:1", Version: "test"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func names(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	nodes, err := List(context.Background(), cli, "/pylon")
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, node := range nodes {
		n = append(n, node.Name)
	}
	return n
}

// eventually polls cond every 50 ms for up to within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMembership(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	cli := client(t, e)
	a := register(t, cli, "a")
	b := register(t, client(t, e), "b")
	if got := names(t, cli); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("nodes %v, want [a b]", got)
	}
	eventually(t, 5*time.Second, "both members see 2 live nodes", func() bool { return a.Live() == 2 && b.Live() == 2 })

	a.Update(42)
	eventually(t, 3*ttl, "revision 42 in a's record", func() bool {
		nodes, _ := a.List(context.Background())
		return len(nodes) == 2 && nodes[0].Revision == 42 && time.Since(nodes[0].Heartbeat) < ttl
	})

	// A clean stop removes the node at once.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, cli); len(got) != 1 || got[0] != "a" {
		t.Fatalf("after b closed: %v", got)
	}
	eventually(t, 2*time.Second, "a sees 1 live node", func() bool { return a.Live() == 1 })

	// A member whose process is gone disappears when its lease expires.
	c := register(t, client(t, e), "c")
	eventually(t, 2*time.Second, "a sees c", func() bool { return a.Live() == 2 })
	start := time.Now()
	c.abandon()
	eventually(t, ttl+2*time.Second, "c expires", func() bool { return len(names(t, cli)) == 1 })
	t.Logf("abandoned member gone after %v (TTL %v)", time.Since(start).Round(10*time.Millisecond), ttl)
	select {
	case <-a.Changed():
	default:
		t.Error("no change signalled")
	}
}

// A lost lease (expired while etcd was away, here revoked by hand) makes
// the member register again by itself.
func TestRegisterAgainAfterLostLease(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	cli := client(t, e)
	m := register(t, cli, "a")
	m.mu.Lock()
	lease := m.lease
	m.mu.Unlock()
	if _, err := cli.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*ttl, "a registered again with a new lease", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.lease != lease && len(names(t, cli)) == 1
	})
}

// Across an etcd crash and restart the member keeps (or regains) its record.
func TestSurvivesEtcdRestart(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	cli := client(t, e)
	register(t, cli, "a")
	e.Kill()
	time.Sleep(ttl + 500*time.Millisecond)
	e.Restart()
	eventually(t, 3*ttl, "a's record refreshed after the restart", func() bool {
		nodes, err := List(context.Background(), cli, "/pylon")
		return err == nil && len(nodes) == 1 && time.Since(nodes[0].Heartbeat) < ttl
	})
}

// TestDuplicateNameRefused: a second node with a registered node's name is
// refused rather than taking the record over.
func TestDuplicateNameRefused(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := client(t, e)
	first := register(t, cli, "same")
	_, err := Register(context.Background(), cli, "/pylon", Node{Name: "same", Address: "127.0.0.1:2"}, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second node with the same name: %v", err)
	}
	first.Close()
	if _, err := Register(context.Background(), cli, "/pylon", Node{Name: "same", Address: "127.0.0.1:2"}, 2*time.Second); err != nil {
		t.Fatalf("name not free after the first node left: %v", err)
	}
}
