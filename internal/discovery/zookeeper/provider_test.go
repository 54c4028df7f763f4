package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/test/testenv"
)

const demo = "org.apache.dubbo.demo.DemoService"

// logBuffer collects a provider's log lines for the test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newProvider opens a provider on servers. Its poll backstop is an hour,
// so every change a test sees came through a watch.
func newProvider(t *testing.T, c Config) (discovery.Provider, *logBuffer) {
	t.Helper()
	if c.SessionTimeout == 0 {
		c.SessionTimeout = ir.Duration(4 * time.Second)
	}
	if c.PollInterval == 0 {
		c.PollInterval = ir.Duration(time.Hour)
	}
	logs := &logBuffer{}
	p, err := New(c, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("provider log:\n%s", logs)
		}
	})
	return p, logs
}

func instance(t *testing.T, s discovery.Set, addr string) discovery.Instance {
	t.Helper()
	for _, in := range s.Instances {
		if in.Address == addr {
			return in
		}
	}
	t.Fatalf("no %s in %v", addr, discoverytest.Addrs(s))
	return discovery.Instance{}
}

// The watch is set before the interface has ever been registered; it
// follows providers coming, being disabled, going, and all going.
func TestDubboWatch(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p, _ := newProvider(t, Config{Servers: []string{z.Addr()}})
	w := discoverytest.StartWatch(t, p, discovery.Query{Path: demo, Layout: LayoutDubbo})
	w.Next(t, 15*time.Second) // no node yet: an empty set, not an error

	start := time.Now()
	p1 := z.RegisterDubbo(demo, "127.0.0.2", 20880, map[string]string{"weight": "200", "dubbo.tag": "gray", "zone": "az1"})
	set := w.Next(t, 15*time.Second, "127.0.0.2:20880")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the registration took %v to arrive", d)
	} else {
		t.Logf("registration to set: %v", d)
	}
	in := set.Instances[0]
	if !in.Healthy || in.Weight != 200 || in.Zone != "az1" || !slices.Equal(in.Tags, []string{"gray"}) ||
		in.Metadata["application"] != "demo-provider" || in.Metadata["interface"] != demo {
		t.Fatalf("instance = %+v", in)
	}

	// Scale up, with one provider disabled by its operator and an IPv6 one.
	z.RegisterDubbo(demo, "127.0.0.3", 20880, nil)
	z.RegisterDubbo(demo, "127.0.0.4", 20880, map[string]string{"disabled": "true"})
	p6 := z.RegisterDubbo(demo, "::1", 20881, nil)
	set = w.Next(t, 15*time.Second, "127.0.0.2:20880", "127.0.0.3:20880", "127.0.0.4:20880", "[::1]:20881")
	if in := instance(t, set, "127.0.0.3:20880"); !in.Healthy || in.Weight != 100 {
		t.Errorf("default provider = %+v", in)
	}
	if in := instance(t, set, "127.0.0.4:20880"); in.Healthy {
		t.Errorf("disabled provider is healthy: %+v", in)
	}

	z.Deregister(p6)
	w.Next(t, 15*time.Second, "127.0.0.2:20880", "127.0.0.3:20880", "127.0.0.4:20880")
	z.Deregister(p1)
	w.Next(t, 15*time.Second, "127.0.0.3:20880", "127.0.0.4:20880")

	// The application dies: its session ends and its nodes vanish.
	z.ExpireSession()
	w.Next(t, 15*time.Second)
	z.RegisterDubbo(demo, "127.0.0.5", 20880, nil)
	w.Next(t, 15*time.Second, "127.0.0.5:20880")

	got, err := p.Resolve(context.Background(), discovery.Query{Path: demo, Layout: LayoutDubbo})
	if err != nil || !slices.Equal(discoverytest.Addrs(got), []string{"127.0.0.5:20880"}) {
		t.Fatalf("Resolve = %v, %v", discoverytest.Addrs(got), err)
	}
}

// Curator's parents are container nodes: once the last instance is gone
// the server deletes /services/orders itself, and the watch must see it
// come back.
func TestCuratorWatch(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p, _ := newProvider(t, Config{Servers: []string{z.Addr()}})
	q := discovery.Query{Path: "orders", Layout: LayoutCurator}
	w := discoverytest.StartWatch(t, p, q)
	w.Next(t, 15*time.Second)

	app := z.Client()
	start := time.Now()
	app.RegisterCurator("orders", "a", "127.0.0.2", 8080, map[string]string{"instance_status": "UP", "tags": "gray, v2", "zone": "z1", "weight": "3"})
	set := w.Next(t, 15*time.Second, "127.0.0.2:8080")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the registration took %v to arrive", d)
	}
	if in := set.Instances[0]; !in.Healthy || in.Weight != 3 || in.Zone != "z1" || !slices.Equal(in.Tags, []string{"gray", "v2"}) {
		t.Fatalf("instance = %+v", in)
	}

	// A data change on an instance (Curator's updateService) is a change.
	app.UpdateCurator("orders", "a", "127.0.0.2", 8080, map[string]string{"instance_status": "UP", "weight": "9"})
	set = w.Until(t, 15*time.Second, "the weight change", func(s discovery.Set) bool {
		return len(s.Instances) == 1 && s.Instances[0].Weight == 9
	})

	b := app.RegisterCurator("orders", "b", "127.0.0.3", 8080, map[string]string{"instance_status": "OUT_OF_SERVICE"})
	set = w.Next(t, 15*time.Second, "127.0.0.2:8080", "127.0.0.3:8080")
	if in := instance(t, set, "127.0.0.3:8080"); in.Healthy {
		t.Errorf("OUT_OF_SERVICE instance is healthy: %+v", in)
	}
	app.Deregister(b)
	w.Next(t, 15*time.Second, "127.0.0.2:8080")

	// The application dies; the server then sweeps the empty container.
	app.Close()
	w.Next(t, 15*time.Second)
	probe := z.Client()
	gone := time.Now().Add(15 * time.Second)
	for probe.Exists("/services/orders") {
		if time.Now().After(gone) {
			t.Fatal("the empty container /services/orders was not deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	z.RegisterCurator("orders", "c", "127.0.0.4", 8080, nil)
	if in := w.Next(t, 15*time.Second, "127.0.0.4:8080").Instances[0]; !in.Healthy || in.Weight != 1 {
		t.Fatalf("instance without metadata = %+v", in)
	}
}

// Killed and started again on the same port, ZooKeeper keeps its data and
// sessions: the same Watch call resumes and sees changes made after.
func TestRestart(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p, _ := newProvider(t, Config{Servers: []string{z.Addr()}})
	dq := discovery.Query{Path: demo, Layout: LayoutDubbo}
	cq := discovery.Query{Path: "orders", Layout: LayoutCurator}
	dw, cw := discoverytest.StartWatch(t, p, dq), discoverytest.StartWatch(t, p, cq)
	dw.Next(t, 15*time.Second)
	cw.Next(t, 15*time.Second)
	z.RegisterDubbo(demo, "127.0.0.2", 20880, nil)
	z.RegisterCurator("orders", "a", "127.0.0.2", 8080, nil)
	dw.Next(t, 15*time.Second, "127.0.0.2:20880")
	cw.Next(t, 15*time.Second, "127.0.0.2:8080")

	z.Stop()
	_, err := p.Resolve(context.Background(), dq)
	if err == nil || !strings.Contains(err.Error(), z.Addr()) {
		t.Fatalf("Resolve with ZooKeeper down = %v; want an error naming %s", err, z.Addr())
	}
	dw.Quiet(t, time.Second) // down is not empty: nothing is sent
	z.Start()

	z.RegisterDubbo(demo, "127.0.0.3", 20880, nil)
	z.RegisterCurator("orders", "b", "127.0.0.3", 8080, nil)
	dw.Next(t, 15*time.Second, "127.0.0.2:20880", "127.0.0.3:20880")
	cw.Next(t, 15*time.Second, "127.0.0.2:8080", "127.0.0.3:8080")
	z.ExpireSession()
	dw.Next(t, 15*time.Second)
	cw.Next(t, 15*time.Second)
}

// A provider opened while ZooKeeper is down fails Resolve with the servers
// named, and its watch starts once ZooKeeper is up.
func TestUnreachable(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	z.Stop()
	other := testenv.FreeAddr(t)
	p, logs := newProvider(t, Config{Servers: []string{z.Addr(), other}})
	q := discovery.Query{Path: "orders", Layout: LayoutCurator}
	start := time.Now()
	_, err := p.Resolve(context.Background(), q)
	if err == nil || !strings.Contains(err.Error(), z.Addr()) || !strings.Contains(err.Error(), other) {
		t.Fatalf("Resolve = %v; want an error naming %s and %s", err, z.Addr(), other)
	}
	if d := time.Since(start); d > connectWait+2*time.Second {
		t.Errorf("Resolve took %v to fail", d)
	}
	t.Logf("Resolve: %v", err)
	w := discoverytest.StartWatch(t, p, q)
	w.Quiet(t, 500*time.Millisecond)

	z.Start()
	w.Next(t, 15*time.Second)
	z.RegisterCurator("orders", "a", "127.0.0.2", 8080, nil)
	w.Next(t, 15*time.Second, "127.0.0.2:8080")
	// The client library's lines go to the provider's logger.
	if !strings.Contains(logs.String(), "zookeeper: client") || !strings.Contains(logs.String(), "failed to connect to") {
		t.Errorf("no client library lines in the provider log:\n%s", logs)
	}
}

func TestCloseEndsWatch(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p, _ := newProvider(t, Config{Servers: []string{z.Addr()}})
	done := make(chan error, 1)
	go func() {
		done <- p.Watch(context.Background(), discovery.Query{Path: "orders", Layout: LayoutCurator}, func(discovery.Set) {})
	}()
	time.Sleep(200 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, errClosed) {
			t.Fatalf("Watch ended by Close returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the watch")
	}
	if err := p.Watch(context.Background(), discovery.Query{Path: "x", Layout: "dubbo", App: "y"}, func(discovery.Set) {}); err == nil || errors.Is(err, errClosed) {
		t.Fatalf("Watch with an Eureka field = %v; want the query refused", err)
	}
}

// The poll backstop: when a re-read disagrees with the view the watches
// built (a watch was lost), the view is read and watched again.
func TestPollBackstop(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	z.RegisterDubbo(demo, "127.0.0.2", 20880, nil)
	z.RegisterDubbo(demo, "127.0.0.3", 20880, nil)
	p, logs := newProvider(t, Config{Servers: []string{z.Addr()}})
	pr := p.(*provider)
	if err := pr.waitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := pr.newWatcher(discovery.Query{Path: demo, Layout: LayoutDubbo})
	if set, _, err := w.refresh(); err != nil || len(set.Instances) != 2 {
		t.Fatalf("refresh = %v, %v", discoverytest.Addrs(set), err)
	}
	w.names = w.names[:1] // as if the event of the second child had been lost
	stale, _, err := w.refresh()
	if err != nil || len(stale.Instances) != 1 {
		t.Fatalf("stale refresh = %v, %v", discoverytest.Addrs(stale), err)
	}
	w.verify(&stale)
	set, _, err := w.refresh()
	if err != nil || len(set.Instances) != 2 {
		t.Fatalf("refresh after the backstop = %v, %v", discoverytest.Addrs(set), err)
	}
	if !strings.Contains(logs.String(), "a re-read found a change no watch reported") {
		t.Errorf("the backstop did not log:\n%s", logs)
	}
	// Agreeing views cost a read and nothing else.
	w.verify(&set)
	if !w.listed {
		t.Error("verify dropped a view that was up to date")
	}
}
