package nacos

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
	"pylon.io/pylon/internal/discovery/nacos/nacostest"
	"pylon.io/pylon/internal/ir"
)

// register talks to the test server over the documented v1 HTTP API, as a
// Nacos client would.
func register(t *testing.T, s *nacostest.Server, method string, v url.Values) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.Addr()+"/nacos/v1/ns/instance?"+v.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%s instance: %d %s", method, resp.StatusCode, body)
	}
}

func inst(ip, port string, extra ...string) url.Values {
	v := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "ip": {ip}, "port": {port}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func newProvider(t *testing.T, s *nacostest.Server) discovery.Provider {
	p, err := New(Config{Servers: []string{s.Addr()}, PollInterval: ir.Duration(50 * time.Millisecond), Timeout: ir.Duration(time.Second)},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestWatchV1(t *testing.T) {
	s, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	p := newProvider(t, s)
	q := discovery.Query{Name: "orders", Group: "shop"}
	w := discoverytest.StartWatch(t, p, q)
	w.Next(t, 10*time.Second) // empty at first, delivered as a set

	register(t, s, "POST", inst("127.0.0.2", "8080", "weight", "2.5", "metadata", `{"tags":"gray, v2","zone":"az1"}`))
	set := w.Next(t, 10*time.Second, "127.0.0.2:8080")
	in := set.Instances[0]
	if !in.Healthy || in.Weight != 250 || in.Zone != "az1" || strings.Join(in.Tags, "|") != "gray|v2" {
		t.Fatalf("instance = %+v", in)
	}

	// Scale out; a disabled instance stays listed but not healthy.
	register(t, s, "POST", inst("127.0.0.3", "8080", "enabled", "false"))
	register(t, s, "POST", inst("::1", "9090", "clusterName", "east"))
	set = w.Next(t, 10*time.Second, "127.0.0.2:8080", "127.0.0.3:8080", "[::1]:9090")
	if set.Instances[1].Healthy || set.Instances[2].Zone != "east" {
		t.Fatalf("set = %+v", set.Instances)
	}

	// Deregister one, then all: the empty set is an update.
	register(t, s, "DELETE", inst("127.0.0.3", "8080"))
	w.Next(t, 10*time.Second, "127.0.0.2:8080", "[::1]:9090")
	register(t, s, "DELETE", inst("127.0.0.2", "8080"))
	register(t, s, "DELETE", inst("::1", "9090", "clusterName", "east"))
	w.Next(t, 10*time.Second)

	// Unreachable for a while, changed meanwhile, then back.
	register(t, s, "POST", inst("127.0.0.4", "8080"))
	w.Next(t, 10*time.Second, "127.0.0.4:8080")
	s.Stop()
	if _, err := p.Resolve(context.Background(), q); err == nil {
		t.Fatal("Resolve with the server down succeeded")
	}
	time.Sleep(200 * time.Millisecond)
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	register(t, s, "POST", inst("127.0.0.5", "8080"))
	w.Next(t, 10*time.Second, "127.0.0.4:8080", "127.0.0.5:8080")

	// Restarted with an empty registry; clients register again.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	w.Next(t, 10*time.Second)
	register(t, s, "POST", inst("127.0.0.6", "8080"))
	w.Next(t, 10*time.Second, "127.0.0.6:8080")

	got, err := p.Resolve(context.Background(), q)
	if err != nil || len(got.Instances) != 1 || got.Instances[0].Address != "127.0.0.6:8080" {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
}

func TestClustersAndNamespace(t *testing.T) {
	s, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	p := newProvider(t, s)
	register(t, s, "POST", inst("127.0.0.2", "80", "clusterName", "a"))
	register(t, s, "POST", inst("127.0.0.3", "80", "clusterName", "b"))
	register(t, s, "POST", inst("127.0.0.4", "80", "namespaceId", "dev"))
	for _, tc := range []struct {
		q    discovery.Query
		want string
	}{
		{discovery.Query{Name: "orders", Group: "shop", Clusters: []string{"b"}}, "127.0.0.3:80"},
		{discovery.Query{Name: "orders", Group: "shop", Namespace: "dev"}, "127.0.0.4:80"},
	} {
		set, err := p.Resolve(context.Background(), tc.q)
		if err != nil || len(set.Instances) != 1 || set.Instances[0].Address != tc.want {
			t.Errorf("Resolve(%+v) = %+v, %v; want %s", tc.q, set, err, tc.want)
		}
	}
}

func TestRejects(t *testing.T) {
	err := Config{Servers: []string{"nohost", "h:0"}, API: "v3"}.Validate("discovery[2].nacos")
	for _, want := range []string{"discovery[2].nacos.servers[0]", "discovery[2].nacos.servers[1]", "discovery[2].nacos.api"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %v does not name %s", err, want)
		}
	}
	p, err := New(Config{Servers: []string{"127.0.0.1:1"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Watch(context.Background(), discovery.Query{Name: "x", App: "y"}, func(discovery.Set) {}); err == nil {
		t.Error("Watch accepted an Eureka field")
	}
}

func TestValidateAPI(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" for valid
	}{
		{Config{Servers: []string{"127.0.0.1:8848"}}, ""},
		{Config{Servers: []string{"127.0.0.1:8848"}, API: "v1"}, ""},
		{Config{Servers: []string{"127.0.0.1:8848", "[::1]:8848"}, API: "v2"}, ""},
		{Config{Servers: []string{"127.0.0.1:8848"}, API: "V2"}, `discovery[2].nacos.api: "V2" is not one of v1, v2`},
		{Config{Servers: []string{"127.0.0.1:8848"}, API: "grpc"}, `discovery[2].nacos.api: "grpc" is not one of v1, v2`},
		{Config{Servers: []string{"127.0.0.1:8848", "h:65000"}, API: "v2"}, `discovery[2].nacos.servers[1]: "h:65000": api v2 reaches gRPC on port+1000, above 65535`},
		{Config{Servers: []string{"h:65000"}}, ""}, // v1 stays on the HTTP port
		{Config{Servers: []string{"127.0.0.1:8848"}, API: "v2", Namespace: "../x"}, `discovery[2].nacos.namespace: "../x" must be 1-128 letters`},
	} {
		err := tc.c.Validate("discovery[2].nacos")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want valid", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Validate(%+v) = %v, want %s", tc.c, err, tc.want)
		}
	}
	if err := Check(discovery.Query{Name: "orders", Namespace: "a/b"}); err == nil || !strings.Contains(err.Error(), `namespace "a/b"`) {
		t.Errorf("Check with namespace a/b = %v", err)
	}
	p, err := New(Config{Servers: []string{"127.0.0.1:1"}, API: "v2"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.(*grpcProvider); !ok {
		t.Fatalf("api v2 opened a %T", p)
	}
	if err := p.Watch(context.Background(), discovery.Query{Name: "x", App: "y"}, func(discovery.Set) {}); err == nil {
		t.Error("v2 Watch accepted an Eureka field")
	}
}

func TestDecodeDropsBadUTF8(t *testing.T) {
	body := []byte("{\"hosts\":[{\"ip\":\"10.0.0.1\",\"port\":80,\"weight\":1,\"healthy\":true,\"enabled\":true,\"metadata\":{\"ok\":\"yes\",\"bad\":\"\xff\"}}]}")
	_, set, dropped, err := decodeList(body, Config{}.withDefaults())
	if err != nil || dropped != 1 || len(set.Instances) != 1 || set.Instances[0].Metadata["ok"] != "yes" || len(set.Instances[0].Metadata) != 1 {
		t.Fatalf("decode = %+v, %d, %v", set, dropped, err)
	}
}

func TestCloseEndsWatch(t *testing.T) {
	s, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	p := newProvider(t, s)
	done := make(chan error, 1)
	go func() { done <- p.Watch(context.Background(), discovery.Query{Name: "orders"}, func(discovery.Set) {}) }()
	time.Sleep(100 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Watch ended by Close returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the watch")
	}
}
