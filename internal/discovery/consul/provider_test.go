package consul

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/test/testenv"
)

// logBuf collects a provider's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newProvider(t *testing.T, c Config) (discovery.Provider, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if c.Timeout == 0 {
		c.Timeout = ir.Duration(2 * time.Second)
	}
	p, err := New(c, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, logs
}

func TestWatch(t *testing.T) {
	c := testenv.StartConsul(t)
	p, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	w := discoverytest.StartWatch(t, p, discovery.Query{Name: "orders"})
	w.Next(t, 5*time.Second) // an unknown service is an empty set, sent at once

	c.RegisterService(map[string]any{"ID": "o1", "Name": "orders", "Address": "127.0.0.2", "Port": 8080,
		"Tags": []string{"gray", "v2"}, "Meta": map[string]string{"zone": "az1", "version": "2"},
		"Weights": map[string]int{"Passing": 7, "Warning": 1}})
	set := w.Next(t, 5*time.Second, "127.0.0.2:8080")
	in := set.Instances[0]
	if !in.Healthy || in.Weight != 7 || in.Zone != "az1" || strings.Join(in.Tags, ",") != "gray,v2" || in.Metadata["version"] != "2" {
		t.Fatalf("instance = %+v", in)
	}

	// Scale up; an instance without an address takes the node's.
	c.Register("o2", "orders", "127.0.0.3", 8080, nil, nil)
	c.Register("o3", "orders", "", 9090, nil, nil)
	w.Next(t, 5*time.Second, "127.0.0.1:9090", "127.0.0.2:8080", "127.0.0.3:8080")

	// A check going critical takes the instance out; passing brings it back.
	c.SetHealth("o2", false)
	w.Next(t, 5*time.Second, "127.0.0.1:9090", "127.0.0.2:8080")
	c.SetHealth("o2", true)
	w.Next(t, 5*time.Second, "127.0.0.1:9090", "127.0.0.2:8080", "127.0.0.3:8080")

	// Deregister one, then all: the empty set is sent.
	c.Deregister("o3")
	w.Next(t, 5*time.Second, "127.0.0.2:8080", "127.0.0.3:8080")
	c.Deregister("o1")
	c.Deregister("o2")
	w.Next(t, 5*time.Second)

	got, err := p.Resolve(context.Background(), discovery.Query{Name: "orders"})
	if err != nil || len(got.Instances) != 0 {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
}

func TestNotPassing(t *testing.T) {
	c := testenv.StartConsul(t)
	all := false
	p, _ := newProvider(t, Config{Servers: []string{c.Addr()}, PassingOnly: &all})
	c.RegisterService(map[string]any{"ID": "w", "Name": "orders", "Address": "127.0.0.2", "Port": 80, "Weights": map[string]int{"Passing": 5, "Warning": 2}})
	c.RegisterService(map[string]any{"ID": "w0", "Name": "orders", "Address": "127.0.0.3", "Port": 80, "Weights": map[string]int{"Passing": 5, "Warning": 0}})
	c.Register("crit", "orders", "127.0.0.4", 80, nil, nil)
	c.Register("maint", "orders", "127.0.0.5", 80, nil, nil)
	c.SetCheck("w", "warning")
	c.SetCheck("w0", "warning")
	c.SetHealth("crit", false)
	if err := c.Call("PUT", "/v1/agent/service/maintenance/maint?enable=true&reason=test", nil, nil); err != nil {
		t.Fatal(err)
	}
	var set discovery.Set
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		set, err = p.Resolve(context.Background(), discovery.Query{Name: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Instances) == 4 && !set.Instances[3].Healthy || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []struct {
		addr    string
		healthy bool
		weight  int
	}{{"127.0.0.2:80", true, 2}, {"127.0.0.3:80", false, 1}, {"127.0.0.4:80", false, 1}, {"127.0.0.5:80", false, 1}}
	if len(set.Instances) != len(want) {
		t.Fatalf("set = %+v", set.Instances)
	}
	for i, w := range want {
		if in := set.Instances[i]; in.Address != w.addr || in.Healthy != w.healthy || in.Weight != w.weight {
			t.Errorf("instance %d = %+v; want %+v", i, in, w)
		}
	}

	// With passingOnly (the default) only the passing ones are listed.
	p2, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	c.Register("ok", "orders", "127.0.0.6", 80, nil, nil)
	got, err := p2.Resolve(context.Background(), discovery.Query{Name: "orders"})
	if err != nil || addrs(got) != "127.0.0.6:80" {
		t.Fatalf("passing only: %+v, %v", got, err)
	}
}

func TestTagsAndPort(t *testing.T) {
	c := testenv.StartConsul(t)
	p, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	c.Register("ab", "orders", "127.0.0.2", 80, []string{"a", "b"}, nil)
	c.Register("a", "orders", "127.0.0.3", 80, []string{"a"}, nil)
	c.Register("b", "orders", "127.0.0.4", 80, []string{"b", "c"}, nil)
	c.Register("noport", "orders", "127.0.0.5", 0, []string{"np"}, nil)
	for _, tc := range []struct {
		q    discovery.Query
		want string
	}{
		{discovery.Query{Name: "orders", Tags: []string{"a", "b"}}, "127.0.0.2:80"},
		{discovery.Query{Name: "orders", Tags: []string{"a"}}, "127.0.0.2:80,127.0.0.3:80"},
		{discovery.Query{Name: "orders", Tags: []string{"b"}}, "127.0.0.2:80,127.0.0.4:80"},
		{discovery.Query{Name: "orders", Tags: []string{"x"}}, ""},
		{discovery.Query{Name: "orders", Tags: []string{"np"}}, ""},                           // no port at all: left out
		{discovery.Query{Name: "orders", Tags: []string{"np"}, Port: 7000}, "127.0.0.5:7000"}, // the query's port
		{discovery.Query{Name: "orders", Tags: []string{"a"}, Port: 7000}, "127.0.0.2:80,127.0.0.3:80"},
	} {
		set, err := p.Resolve(context.Background(), tc.q)
		if err != nil || addrs(set) != tc.want {
			t.Errorf("Resolve(%+v) = [%s], %v; want [%s]", tc.q, addrs(set), err, tc.want)
		}
	}
	w := discoverytest.StartWatch(t, p, discovery.Query{Name: "orders", Tags: []string{"a", "b"}})
	w.Next(t, 5*time.Second, "127.0.0.2:80")
	c.Register("b2", "orders", "127.0.0.6", 80, []string{"b"}, nil)
	c.Register("ab2", "orders", "127.0.0.7", 80, []string{"b", "x", "a"}, nil)
	w.Next(t, 5*time.Second, "127.0.0.2:80", "127.0.0.7:80")
}

// counter is an HTTP proxy in front of the agent that counts the health
// queries it passes on. With zeroIndex set it answers X-Consul-Index 0,
// as Consul versions with a bug did.
type counter struct {
	url       string
	queries   atomic.Int64
	zeroIndex atomic.Bool
}

func countQueries(t *testing.T, agent string) *counter {
	t.Helper()
	c := &counter{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: agent})
	rp.FlushInterval = -1
	rp.ModifyResponse = func(r *http.Response) error {
		if c.zeroIndex.Load() && r.Header.Get("X-Consul-Index") != "" {
			r.Header.Set("X-Consul-Index", "0")
		}
		return nil
	}
	addr := testenv.FreeAddr(t)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/health/service/") {
			c.queries.Add(1)
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	c.url = addr
	return c
}

// A watch blocks on the agent: it hears a change at once, and asks nothing
// while nothing changes.
func TestBlockingQuery(t *testing.T) {
	c := testenv.StartConsul(t)
	proxy := countQueries(t, c.Addr())
	p, _ := newProvider(t, Config{Servers: []string{proxy.url}})
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	w := discoverytest.StartWatch(t, p, discovery.Query{Name: "orders"})
	w.Next(t, 5*time.Second, "127.0.0.2:80")
	time.Sleep(300 * time.Millisecond) // the watch is in its blocking query now

	before := proxy.queries.Load()
	w.Quiet(t, 2*time.Second)
	if n := proxy.queries.Load() - before; n > 1 {
		t.Fatalf("%d health queries in 2s with nothing changing; a blocking watch makes at most one", n)
	}

	for i := range 3 {
		start := time.Now()
		c.Register(fmt.Sprintf("o%d", i+2), "orders", fmt.Sprintf("127.0.0.%d", i+3), 80, nil, nil)
		want := []string{}
		for j := range i + 2 {
			want = append(want, fmt.Sprintf("127.0.0.%d:80", j+2))
		}
		w.Next(t, 5*time.Second, want...)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("change %d heard after %s; want well under a second", i, d)
		} else {
			t.Logf("change %d heard after %s", i, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// An index that never moves makes every query return at once; the watch
// must not turn that into a loop of queries.
func TestIndexThatDoesNotMove(t *testing.T) {
	c := testenv.StartConsul(t)
	proxy := countQueries(t, c.Addr())
	proxy.zeroIndex.Store(true)
	p, _ := newProvider(t, Config{Servers: []string{proxy.url}})
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	w := discoverytest.StartWatch(t, p, discovery.Query{Name: "orders"})
	w.Next(t, 5*time.Second, "127.0.0.2:80")
	before := proxy.queries.Load()
	time.Sleep(time.Second)
	n := proxy.queries.Load() - before
	if n > 11 { // one per minGap (100ms), and one in flight
		t.Fatalf("%d health queries in 1s with an index stuck at 0; want at most 11", n)
	}
	t.Logf("%d queries in 1s", n)
	c.Register("o2", "orders", "127.0.0.3", 80, nil, nil)
	w.Next(t, 5*time.Second, "127.0.0.2:80", "127.0.0.3:80")
}

func TestACL(t *testing.T) {
	c := testenv.StartConsul(t, testenv.ConsulACL())
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	q := discovery.Query{Name: "orders"}

	good, _ := newProvider(t, Config{Servers: []string{c.Addr()}, Token: c.Token()})
	if set, err := good.Resolve(context.Background(), q); err != nil || addrs(set) != "127.0.0.2:80" {
		t.Fatalf("with the management token: %+v, %v", set, err)
	}

	const wrong = "0badc0de-0000-4000-8000-5ec7e7000000"
	p, logs := newProvider(t, Config{Servers: []string{c.Addr()}, Token: wrong})
	_, err := p.Resolve(context.Background(), q)
	if err == nil {
		t.Fatal("Resolve with a wrong token succeeded")
	}
	for _, want := range []string{c.Addr(), `service "orders"`, "permission denied (403 ACL not found)", "ACL token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	w := discoverytest.StartWatch(t, p, q)
	w.Quiet(t, time.Second)
	if !strings.Contains(logs.String(), "ACL not found") {
		t.Errorf("the watch did not log the refusal: %s", logs)
	}
	if strings.Contains(err.Error()+logs.String(), wrong) {
		t.Errorf("the token is in an error or a log line: %v\n%s", err, logs)
	}

	// No token: with default_policy deny, Consul answers an empty list and
	// does not say it filtered it (it tells only requests with a token).
	anon, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	if set, err := anon.Resolve(context.Background(), q); err != nil || len(set.Instances) != 0 {
		t.Errorf("Resolve without a token = %+v, %v; want an empty set", set, err)
	}

	// A token the agent knows but that may not read the nodes: Consul
	// filters the answer, which must not pass for an empty service.
	var policy, token struct{ ID, SecretID string }
	if err := c.Call("PUT", "/v1/acl/policy", map[string]any{"Name": "services-only", "Rules": `service_prefix "" { policy = "read" }`}, &policy); err != nil {
		t.Fatal(err)
	}
	if err := c.Call("PUT", "/v1/acl/token", map[string]any{"Policies": []map[string]string{{"ID": policy.ID}}}, &token); err != nil {
		t.Fatal(err)
	}
	limited, logs := newProvider(t, Config{Servers: []string{c.Addr()}, Token: token.SecretID})
	_, err = limited.Resolve(context.Background(), q)
	if err == nil || !strings.Contains(err.Error(), "Consul filtered the answer") || !strings.Contains(err.Error(), "node:read") {
		t.Fatalf("Resolve with a token that may not read nodes = %v", err)
	}
	if strings.Contains(err.Error()+logs.String(), token.SecretID) {
		t.Errorf("the token is in an error or a log line: %v", err)
	}
}

// Queries the agent refuses come back as errors that say why.
func TestUnknownDatacenterAndEnterprise(t *testing.T) {
	c := testenv.StartConsul(t)
	p, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	_, err := p.Resolve(context.Background(), discovery.Query{Name: "orders", Datacenter: "nowhere"})
	if err == nil {
		t.Fatal("Resolve in an unknown datacenter succeeded")
	}
	for _, want := range []string{c.Addr(), `service "orders" in datacenter "nowhere"`, "No path to datacenter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The provider's default datacenter is the same, and the query's wins.
	p2, _ := newProvider(t, Config{Servers: []string{c.Addr()}, Datacenter: "nowhere"})
	if _, err := p2.Resolve(context.Background(), discovery.Query{Name: "orders"}); err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
		t.Errorf("Resolve with datacenter nowhere from the config = %v", err)
	}
	if _, err := p2.Resolve(context.Background(), discovery.Query{Name: "orders", Datacenter: "dc1"}); err != nil {
		t.Errorf("Resolve in dc1 over the config's datacenter = %v", err)
	}

	// Namespaces and partitions are passed on as Consul's ns and partition
	// parameters; an agent without Enterprise refuses them, and says why.
	p3, _ := newProvider(t, Config{Servers: []string{c.Addr()}, Partition: "eu"})
	for _, tc := range []struct {
		p    discovery.Provider
		q    discovery.Query
		want string
	}{
		{p, discovery.Query{Name: "orders", Namespace: "team"}, `status 400: Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature`},
		{p3, discovery.Query{Name: "orders"}, `status 400: Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature`},
	} {
		if _, err := tc.p.Resolve(context.Background(), tc.q); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%+v) = %v; want %q", tc.q, err, tc.want)
		}
	}
}

// The agent is killed and comes back on the same port: the running watch
// carries on by itself, on the new agent's index history.
func TestAgentRestart(t *testing.T) {
	c := testenv.StartConsul(t)
	p, logs := newProvider(t, Config{Servers: []string{c.Addr()}})
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	w := discoverytest.StartWatch(t, p, discovery.Query{Name: "orders"})
	w.Next(t, 5*time.Second, "127.0.0.2:80")
	// Move the service's index well past where the restarted agent's new
	// history will be, so a watch that kept its old index would block
	// through the rest of the test.
	for range 25 {
		c.SetHealth("o1", false)
		c.SetHealth("o1", true)
	}
	c.SetHealth("o1", false)
	w.Next(t, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // the watch is at the last index now

	c.Stop()
	if _, err := p.Resolve(context.Background(), discovery.Query{Name: "orders"}); err == nil {
		t.Fatal("Resolve with the agent down succeeded")
	}
	time.Sleep(time.Second)
	c.Start()
	// The agent brings its services back from its data dir; their TTL
	// checks start critical until the application reports again.
	c.SetHealth("o1", true)
	c.Register("o2", "orders", "127.0.0.3", 80, nil, nil)
	w.Next(t, 20*time.Second, "127.0.0.2:80", "127.0.0.3:80")
	c.Deregister("o1")
	w.Next(t, 5*time.Second, "127.0.0.3:80")
	if !strings.Contains(logs.String(), "consul: watch failed; retrying") {
		t.Errorf("the outage was not logged: %s", logs)
	}
}

func TestUnreachable(t *testing.T) {
	dead := testenv.FreeAddr(t)
	p, _ := newProvider(t, Config{Servers: []string{dead}, Timeout: ir.Duration(time.Second)})
	_, err := p.Resolve(context.Background(), discovery.Query{Name: "orders"})
	if err == nil || !strings.Contains(err.Error(), "consul: "+dead+`: service "orders": `) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Resolve with no agent = %v; want it to name %s", err, dead)
	}

	// A dead server first: Resolve and Watch go on to the next one.
	c := testenv.StartConsul(t)
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	p2, _ := newProvider(t, Config{Servers: []string{dead, c.Addr()}})
	w := discoverytest.StartWatch(t, p2, discovery.Query{Name: "orders"})
	w.Next(t, 5*time.Second, "127.0.0.2:80")
	set, err := p2.Resolve(context.Background(), discovery.Query{Name: "orders"})
	if err != nil || addrs(set) != "127.0.0.2:80" {
		t.Fatalf("Resolve past a dead server = %+v, %v", set, err)
	}
}

func TestCloseEndsWatch(t *testing.T) {
	c := testenv.StartConsul(t)
	p, _ := newProvider(t, Config{Servers: []string{c.Addr()}})
	done := make(chan error, 1)
	sets := make(chan discovery.Set, 8)
	go func() {
		done <- p.Watch(context.Background(), discovery.Query{Name: "orders"}, func(s discovery.Set) { sets <- s })
	}()
	<-sets // in its blocking query from here
	time.Sleep(100 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if err != errClosed {
			t.Fatalf("Watch ended by Close returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocking watch")
	}
}

// addrs is a set's addresses joined with commas.
func addrs(s discovery.Set) string { return strings.Join(discoverytest.Addrs(s), ",") }
