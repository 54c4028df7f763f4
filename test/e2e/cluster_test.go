package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// cluster is an etcd and pylon nodes sharing it. Every node's file config
// has its own listener and a service "backend" pointing at the backend
// named "file"; apiBackend is a second backend ("api") for services
// written through the API.
type cluster struct {
	etcd       *testenv.Etcd
	nodes      []*node
	apiBackend string
}

// startCluster starts one etcd (each test its own: the binary's key
// prefix is fixed) and n nodes named n1…nN on it.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{etcd: testenv.StartEtcd(t), apiBackend: backends.StartHTTP(t, "api")}
	fileBackend := backends.StartHTTP(t, "file")
	for i := range n {
		c.nodes = append(c.nodes, startNode(t, fmt.Sprintf("n%d", i+1), fileBackend, "etcd://"+strings.TrimPrefix(c.etcd.Endpoint(), "http://"), ""))
	}
	return c
}

// nodeInfo is one entry of /api/v1/nodes.
type nodeInfo struct {
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	Version   string    `json:"version"`
	Revision  int64     `json:"revision"`
	Heartbeat time.Time `json:"heartbeat"`
}

func listNodes(t testing.TB, n *node) ([]nodeInfo, int, string) {
	t.Helper()
	r := n.api(t).call("GET", "/api/v1/nodes", nil)
	var body struct {
		Items []nodeInfo `json:"items"`
	}
	if r.Status == 200 {
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("/api/v1/nodes: %v\n%s", err, r.Body)
		}
	}
	return body.Items, r.Status, string(r.Body)
}

func nodeNames(items []nodeInfo) []string {
	var names []string
	for _, i := range items {
		names = append(names, i.Name)
	}
	return names
}

// statusBody is the part of /api/v1/status these tests read.
type statusBody struct {
	Node  string `json:"node"`
	Store struct {
		Synced   bool   `json:"synced"`
		Revision int64  `json:"revision"`
		Error    string `json:"error"`
	} `json:"store"`
}

func storeStatus(t testing.TB, n *node) statusBody {
	t.Helper()
	r := n.api(t).must(200, "GET", "/api/v1/status", nil)
	var st statusBody
	if err := json.Unmarshal(r.Body, &st); err != nil {
		t.Fatalf("/api/v1/status: %v\n%s", err, r.Body)
	}
	return st
}

// softEventually is eventually with two bounds: past soft the test fails
// but keeps waiting, so what follows still runs; past hard it stops. It
// returns how long cond took.
func softEventually(t testing.TB, soft, hard time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, hard, what, cond)
	if took := time.Since(start); took > soft {
		t.Errorf("%s: took %v, want within %v", what, took, soft)
	}
	return time.Since(start)
}

// TestClusterPropagationAndMembership: a write through one node is served
// by the others; /api/v1/nodes lists every node; a killed node leaves the
// list when its lease expires and a stopped one at once.
func TestClusterPropagationAndMembership(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	api := a.api(t)

	// A service and, right after it, a route using it, both through A; and
	// a route through A using the file service every node has.
	api.must(201, "POST", "/api/v1/services", serviceJSON("apisvc", c.apiBackend))
	api.must(201, "POST", "/api/v1/routes", routeJSON("apiroute", "api.example.com", "apisvc"))
	api.must(201, "POST", "/api/v1/routes", routeJSON("fileroute", "file.example.com", "backend"))
	for _, n := range []*node{cn, b, a} {
		took := waitServed(t, n.listen, "api.example.com", "api", 2*time.Second)
		waitServed(t, n.listen, "file.example.com", "file", 2*time.Second)
		t.Logf("%s serves the write through n1 after %v", n.name, took)
	}
	// Every node reads the same object, at the same version.
	want := api.must(200, "GET", "/api/v1/routes/apiroute", nil).envelope(t)
	if got := cn.api(t).must(200, "GET", "/api/v1/routes/apiroute", nil).envelope(t); got.Version != want.Version {
		t.Errorf("n3 reads version %d, n1 %d", got.Version, want.Version)
	}

	t.Run("a route right after its service is accepted", func(t *testing.T) {
		// The admin API dry-runs a write against this node's live config,
		// which trails the store; a write must not answer before its change
		// is live here, or the next write that uses it is refused.
		api := a.api(t)
		var refused []string
		for i := range 30 {
			svc, rt := fmt.Sprintf("dep-svc-%d", i), fmt.Sprintf("dep-route-%d", i)
			api.must(201, "POST", "/api/v1/services", serviceJSON(svc, c.apiBackend))
			if r := api.call("POST", "/api/v1/routes", routeJSON(rt, rt+".example.com", svc)); r.Status != 201 {
				refused = append(refused, fmt.Sprintf("%s: %d %s", rt, r.Status, r.Body))
			}
		}
		if len(refused) > 0 {
			t.Errorf("%d of 30 routes written right after their service were refused, e.g. %s", len(refused), refused[0])
		}
	})

	t.Run("nodes lists every node", func(t *testing.T) {
		// Records refresh every TTL/3; wait until each carries a revision.
		eventually(t, 6*time.Second, "three nodes with a revision", func() (bool, string) {
			items, st, body := listNodes(t, b)
			if st != 200 || len(items) != 3 {
				return false, body
			}
			for _, it := range items {
				if it.Revision <= 0 {
					return false, body
				}
			}
			return true, ""
		})
		items, _, body := listNodes(t, cn)
		if got := nodeNames(items); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
			t.Fatalf("nodes %v: %s", got, body)
		}
		for i, it := range items {
			if it.Address != c.nodes[i].admin {
				t.Errorf("%s: address %q, want %q", it.Name, it.Address, c.nodes[i].admin)
			}
			if it.Version == "" {
				t.Errorf("%s: no version", it.Name)
			}
			if age := time.Since(it.Heartbeat); it.Heartbeat.IsZero() || age > 15*time.Second || age < -time.Second {
				t.Errorf("%s: heartbeat %v (%v ago)", it.Name, it.Heartbeat, age)
			}
		}
	})

	t.Run("a killed node leaves at lease expiry, a stopped one at once", func(t *testing.T) {
		if err := b.proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = b.proc.Wait()
		killed := time.Now()
		stopped := time.Now()
		if err := cn.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "n3 gone from /api/v1/nodes after SIGTERM", func() (bool, string) {
			items, st, body := listNodes(t, a)
			return st == 200 && !slices.Contains(nodeNames(items), "n3"), body
		})
		t.Logf("n3 (SIGTERM) left after %v", time.Since(stopped))
		if items, _, body := listNodes(t, a); !slices.Contains(nodeNames(items), "n2") {
			t.Logf("n2 (SIGKILL) already gone after %v: %s", time.Since(killed), body)
		}
		eventually(t, 15*time.Second, "n2 gone from /api/v1/nodes after SIGKILL", func() (bool, string) {
			items, st, body := listNodes(t, a)
			return st == 200 && slices.Equal(nodeNames(items), []string{"n1"}), body
		})
		t.Logf("n2 (SIGKILL) left after %v", time.Since(killed))
		if err := cn.proc.Wait(); err != nil {
			t.Errorf("n3 exit after SIGTERM: %v", err)
		}
	})
}

// loadResult counts what steady clients saw.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	first      []string // the first few failures
}

// runLoad sends GETs for host to every listener from workers goroutines,
// each with its own keep-alive client, until stop is closed (or a minute
// passes), pausing 2 ms between requests.
func runLoad(listeners []string, host string, workers int, stop <-chan struct{}) (*loadResult, *sync.WaitGroup) {
	res := &loadResult{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Minute)
	for w := range workers {
		wg.Go(func() {
			c := newClient()
			c.Timeout = 5 * time.Second
			for i := w; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				l := listeners[i%len(listeners)]
				got, st, err := servedBy(c, l, host)
				if err == nil && st == 200 && got == "file" {
					res.ok.Add(1)
				} else {
					res.failed.Add(1)
					res.mu.Lock()
					if len(res.first) < 5 {
						res.first = append(res.first, fmt.Sprintf("%s: %d %q %v", l, st, got, err))
					}
					res.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return res, &wg
}

// TestClusterEtcdOutage: with etcd killed, every node keeps serving its
// last config without a single failed request, reports the store as not
// synced and refuses writes with a 5xx; once etcd is back, the nodes sync
// again and changes from before the kill and after the restart reach them.
func TestClusterEtcdOutage(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	a := c.nodes[0]
	api := a.api(t)
	api.must(201, "POST", "/api/v1/routes", routeJSON("load", "load.example.com", "backend"))
	var listeners []string
	for _, n := range c.nodes {
		listeners = append(listeners, n.listen)
		waitServed(t, n.listen, "load.example.com", "file", 2*time.Second)
	}

	stop := make(chan struct{})
	load, wg := runLoad(listeners, "load.example.com", 4, stop)
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)
	time.Sleep(300 * time.Millisecond)

	// A write acknowledged just before etcd dies: it may not have reached
	// the other nodes' watches yet; it must once etcd is back.
	pre := api.must(201, "POST", "/api/v1/routes", routeJSON("prekill", "prekill.example.com", "backend")).envelope(t)
	c.etcd.Kill()
	killed := time.Now()

	for _, n := range c.nodes {
		eventually(t, 5*time.Second, n.name+" reports the store not synced", func() (bool, string) {
			st := storeStatus(t, n)
			return !st.Store.Synced && st.Store.Error != "", fmt.Sprintf("%+v", st)
		})
	}
	t.Logf("all nodes report not synced %v after the kill", time.Since(killed))

	w := api.call("POST", "/api/v1/routes", routeJSON("duringoutage", "outage.example.com", "backend"))
	t.Logf("write during the outage: %d after %v: %s", w.Status, w.Took, w.Body)
	if w.Status < 500 {
		t.Errorf("write during the outage: %d, want 5xx\n%s", w.Status, w.Body)
	} else if e := w.apiError(t); !strings.Contains(e.Message, "unreachable") {
		t.Errorf("write error does not say etcd is unreachable: %s", w.Body)
	}
	if w.Took > 7*time.Second {
		t.Errorf("write during the outage took %v to fail; the etcd store promises about 5s", w.Took)
	}
	if _, st, _ := servedBy(newClient(), a.listen, "outage.example.com"); st != 404 {
		t.Errorf("outage.example.com: %d after a failed write, want 404", st)
	}
	downFailed, downOK := load.failed.Load(), load.ok.Load()

	c.etcd.Restart()
	restarted := time.Now()
	// The store checks etcd every second and retries its watch at most
	// five seconds apart: every node is back in step a few seconds after etcd.
	softEventually(t, 6*time.Second, 30*time.Second, "every node reports the store synced again", func() (bool, string) {
		for _, n := range c.nodes {
			if st := storeStatus(t, n); !st.Store.Synced {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
	t.Logf("all nodes synced %v after the restart (etcd down %v)", time.Since(restarted), restarted.Sub(killed))

	api.must(201, "POST", "/api/v1/routes", routeJSON("postrestart", "post.example.com", "backend"))
	for _, n := range c.nodes {
		took := waitServed(t, n.listen, "post.example.com", "file", 2*time.Second)
		waitServed(t, n.listen, "prekill.example.com", "file", time.Second)
		t.Logf("%s serves the post-restart write after %v", n.name, took)
	}
	if got := c.nodes[2].api(t).must(200, "GET", "/api/v1/routes/prekill", nil).envelope(t); got.Version != pre.Version {
		t.Errorf("prekill: version %d on n3, written as %d", got.Version, pre.Version)
	}
	c.nodes[1].api(t).must(404, "GET", "/api/v1/routes/duringoutage", nil)
	time.Sleep(200 * time.Millisecond)
	stopLoad()

	t.Logf("load: %d ok, %d failed (during the outage: %d ok, %d failed)", load.ok.Load(), load.failed.Load(), downOK, downFailed)
	if load.failed.Load() != 0 {
		t.Errorf("%d requests failed across the outage, e.g. %v", load.failed.Load(), load.first)
	}
	if downOK < 100 {
		t.Errorf("only %d requests during the outage: the load did not run", downOK)
	}
	// etcd kept its history: the nodes resume their watches, they do not
	// reread everything.
	for _, n := range c.nodes {
		if strings.Contains(n.proc.Log(), "reading all objects") {
			t.Errorf("%s reread every object after the outage instead of resuming its watch", n.name)
		}
	}
}

// TestClusterResume: a node stopped while changes are written through
// another catches up when it starts again on the same data dir.
func TestClusterResume(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	a, cn := c.nodes[0], c.nodes[2]
	api := a.api(t)
	api.must(201, "POST", "/api/v1/services", serviceJSON("apisvc", c.apiBackend))
	api.must(201, "POST", "/api/v1/routes", routeJSON("old", "old.example.com", "apisvc"))
	api.must(201, "POST", "/api/v1/routes", routeJSON("changed", "changed.example.com", "apisvc"))
	waitServed(t, cn.listen, "old.example.com", "api", 2*time.Second)
	waitServed(t, cn.listen, "changed.example.com", "api", 2*time.Second)

	if err := cn.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cn.proc.Wait(); err != nil {
		t.Fatalf("n3 exit after SIGTERM: %v", err)
	}

	// While n3 is away: new routes, one changed to another service, one deleted.
	api.must(201, "POST", "/api/v1/routes", routeJSON("new1", "new1.example.com", "apisvc"))
	api.must(201, "POST", "/api/v1/routes", routeJSON("new2", "new2.example.com", "apisvc"))
	api.must(200, "PUT", "/api/v1/routes/changed", routeJSON("changed", "changed.example.com", "backend"))
	api.must(200, "DELETE", "/api/v1/routes/old", nil)
	// A route using the file service every node has (see
	// TestAdminDurability: at startup it races the file source).
	api.must(201, "POST", "/api/v1/routes", routeJSON("newfile", "newfile.example.com", "backend"))
	waitServed(t, a.listen, "new2.example.com", "api", 2*time.Second)

	cn.restart(t)
	waitServed(t, cn.listen, "new1.example.com", "api", 2*time.Second)
	waitServed(t, cn.listen, "new2.example.com", "api", 2*time.Second)
	waitServed(t, cn.listen, "changed.example.com", "file", 2*time.Second)
	waitNotServed(t, cn.listen, "old.example.com", 2*time.Second)
	t.Run("route to a file service", func(t *testing.T) {
		waitServed(t, cn.listen, "newfile.example.com", "file", 2*time.Second)
	})
	// And it follows new writes again.
	api.must(201, "POST", "/api/v1/routes", routeJSON("after", "after.example.com", "apisvc"))
	waitServed(t, cn.listen, "after.example.com", "api", 2*time.Second)
	eventually(t, 6*time.Second, "n3 listed again", func() (bool, string) {
		items, st, body := listNodes(t, a)
		return st == 200 && slices.Equal(nodeNames(items), []string{"n1", "n2", "n3"}), body
	})
	// etcd kept its history, so n3 must not need a full reset; when it
	// resumes from its local copy the log says so.
	log := cn.proc.Log()
	if strings.Contains(log, "store history lost") || strings.Contains(log, "reading all objects") {
		t.Errorf("n3 reset to the store's full state instead of resuming its watch")
	}
	t.Logf("n3 resumed from its local copy: %v", strings.Contains(log, "resuming from the local copy"))
}
