package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/test/testenv"
)

// link is a TCP relay between the provider and ZooKeeper that the test can
// cut, as a network partition would: while it is cut, connections are
// refused, and ZooKeeper, hearing nothing from the session, expires it.
type link struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	l     net.Listener
	conns []net.Conn
}

func newLink(t *testing.T, target string) *link {
	k := &link{t: t, addr: testenv.FreeAddr(t), target: target}
	k.heal()
	t.Cleanup(k.cut)
	return k
}

func (k *link) heal() {
	l, err := net.Listen("tcp", k.addr)
	if err != nil {
		k.t.Fatal(err)
	}
	k.mu.Lock()
	k.l = l
	k.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", k.target)
			if err != nil {
				c.Close()
				continue
			}
			k.mu.Lock()
			k.conns = append(k.conns, c, up)
			k.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (k *link) cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.l != nil {
		k.l.Close()
		k.l = nil
	}
	for _, c := range k.conns {
		c.Close()
	}
	k.conns = nil
}

// After a partition longer than the session timeout, the session has
// expired and every ZooKeeper watch with it: the same Watch call must set
// them again in a new session, so that changes made during the partition
// and after it arrive.
func TestSessionExpiry(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	k := newLink(t, z.Addr())
	p, logs := newProvider(t, Config{Servers: []string{k.addr}, SessionTimeout: ir.Duration(time.Second)})
	dw := discoverytest.StartWatch(t, p, discovery.Query{Path: demo, Layout: LayoutDubbo})
	cw := discoverytest.StartWatch(t, p, discovery.Query{Path: "orders", Layout: LayoutCurator})
	dw.Next(t, 15*time.Second)
	cw.Next(t, 15*time.Second)
	d1 := z.RegisterDubbo(demo, "127.0.0.2", 20880, nil)
	z.RegisterCurator("orders", "a", "127.0.0.2", 8080, nil)
	dw.Next(t, 15*time.Second, "127.0.0.2:20880")
	cw.Next(t, 15*time.Second, "127.0.0.2:8080")
	first := p.(*provider).conn.SessionID()

	k.cut()
	z.Deregister(d1)
	z.RegisterDubbo(demo, "127.0.0.3", 20880, nil)
	z.Client().RegisterCurator("orders", "b", "127.0.0.3", 8080, nil)
	time.Sleep(3 * time.Second) // three session timeouts: the server expires the session
	k.heal()

	dw.Next(t, 15*time.Second, "127.0.0.3:20880")
	cw.Next(t, 15*time.Second, "127.0.0.2:8080", "127.0.0.3:8080")
	if second := p.(*provider).conn.SessionID(); second == first || second == 0 {
		t.Fatalf("session %x after the partition, %x before: it did not expire", second, first)
	}
	if !strings.Contains(logs.String(), "session expired") {
		t.Errorf("no session expiry in the log:\n%s", logs)
	}
	// The watches of the new session report later changes too.
	z.RegisterDubbo(demo, "127.0.0.4", 20880, nil)
	z.RegisterCurator("orders", "c", "127.0.0.4", 8080, nil)
	dw.Next(t, 15*time.Second, "127.0.0.3:20880", "127.0.0.4:20880")
	cw.Next(t, 15*time.Second, "127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080")
	z.ExpireSession()
	dw.Next(t, 15*time.Second)
	cw.Next(t, 15*time.Second, "127.0.0.3:8080")
}

// Nodes with a digest ACL are read with the configured auth, which no
// error and no log line shows.
func TestDigestAuth(t *testing.T) {
	const password = "pa55-w0rd-xyz"
	z := testenv.StartZooKeeper(t)
	app := z.Client(testenv.WithDigest("pylon", password))
	app.RegisterCurator("orders", "a", "127.0.0.2", 8080, nil)
	app.RegisterDubbo(demo, "127.0.0.2", 20880, nil)
	q := discovery.Query{Path: "orders", Layout: LayoutCurator}

	anon, anonLogs := newProvider(t, Config{Servers: []string{z.Addr()}})
	if _, err := anon.Resolve(context.Background(), q); err == nil || !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("Resolve without auth = %v; want %v", err, zk.ErrNoAuth)
	}
	wrong, wrongLogs := newProvider(t, Config{Servers: []string{z.Addr()}, Auth: "pylon:" + password + "-not"})
	if _, err := wrong.Resolve(context.Background(), q); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("Resolve with a wrong password = %v", err)
	}

	p, logs := newProvider(t, Config{Servers: []string{z.Addr()}, Auth: "pylon:" + password})
	cw := discoverytest.StartWatch(t, p, q)
	dw := discoverytest.StartWatch(t, p, discovery.Query{Path: demo, Layout: LayoutDubbo})
	cw.Next(t, 15*time.Second, "127.0.0.2:8080")
	dw.Next(t, 15*time.Second, "127.0.0.2:20880")
	set, err := p.Resolve(context.Background(), q)
	if err != nil || len(set.Instances) != 1 {
		t.Fatalf("Resolve = %+v, %v", set, err)
	}
	// The auth outlives a reconnect (the client sends it again).
	z.Stop()
	z.Start()
	app.RegisterCurator("orders", "b", "127.0.0.3", 8080, nil)
	cw.Next(t, 15*time.Second, "127.0.0.2:8080", "127.0.0.3:8080")
	for _, l := range []*logBuffer{logs, anonLogs, wrongLogs} {
		if strings.Contains(l.String(), password) {
			t.Errorf("a log line shows the password:\n%s", l)
		}
	}
}

// A service node with more children than a set may hold is an explicit
// error, and one oversized node is left out without hurting the others.
func TestBounds(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	conn, _, err := zk.Connect([]string{z.Addr()}, 4*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acl := zk.WorldACL(zk.PermAll)
	for _, n := range []string{"/services", "/services/big", "/services/fat"} {
		if _, err := conn.Create(n, nil, 0, acl); err != nil {
			t.Fatal(err)
		}
	}
	var ops []any
	for i := range discovery.MaxInstances + 1 {
		ops = append(ops, &zk.CreateRequest{Path: fmt.Sprintf("/services/big/i%05d", i), Data: testenv.CuratorInstance("big", "i", "127.0.0.2", 1+i, nil), Acl: acl})
		if len(ops) == 500 || i == discovery.MaxInstances {
			if _, err := conn.Multi(ops...); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	for _, n := range []struct {
		name string
		data []byte
	}{
		{"ok", testenv.CuratorInstance("fat", "ok", "127.0.0.2", 8080, nil)},
		{"fat", testenv.CuratorInstance("fat", "fat", "127.0.0.3", 8080, map[string]string{"blob": strings.Repeat("x", maxNodeData)})},
	} {
		if _, err := conn.Create("/services/fat/"+n.name, n.data, 0, acl); err != nil {
			t.Fatal(err)
		}
	}

	p, logs := newProvider(t, Config{Servers: []string{z.Addr()}})
	big := discovery.Query{Path: "big", Layout: LayoutCurator}
	_, err = p.Resolve(context.Background(), big)
	if err == nil || !strings.Contains(err.Error(), "/services/big has 4097 children, more than the bound of 4096") {
		t.Fatalf("Resolve = %v", err)
	}
	w := discoverytest.StartWatch(t, p, big)
	w.Quiet(t, 2*time.Second)
	if !strings.Contains(logs.String(), "more than the bound") {
		t.Errorf("the watch did not log the bound:\n%s", logs)
	}
	// One instance fewer: the set is served.
	if err := conn.Delete("/services/big/i00000", -1); err != nil {
		t.Fatal(err)
	}
	set := w.Until(t, 60*time.Second, "a set once the service is back within the bound", func(discovery.Set) bool { return true })
	if len(set.Instances) != discovery.MaxInstances {
		t.Fatalf("%d instances", len(set.Instances))
	}

	fw := discoverytest.StartWatch(t, p, discovery.Query{Path: "fat", Layout: LayoutCurator})
	fw.Next(t, 15*time.Second, "127.0.0.2:8080")
	if !strings.Contains(logs.String(), "node=fat") || !strings.Contains(logs.String(), "over the bound") {
		t.Errorf("the oversized node was not named in the log:\n%s", logs)
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
