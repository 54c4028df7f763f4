package nacostest

import (
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	sdklogger "github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// The test server checked against the Nacos Go SDK's NamingClient, as
// applications use it: given only the HTTP port, the SDK finds the gRPC
// API at port+1000, registers over gRPC (ephemeral) or HTTP (persistent),
// selects instances, and hears pushes through Subscribe.

type nopLogger struct{}

func (nopLogger) Info(...any)           {}
func (nopLogger) Warn(...any)           {}
func (nopLogger) Error(...any)          {}
func (nopLogger) Debug(...any)          {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Debugf(string, ...any) {}

// sdkClient opens an SDK NamingClient on s's HTTP address.
func sdkClient(t *testing.T, s *Server, ns string) naming_client.INamingClient {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	dir := t.TempDir()
	c, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{NamespaceId: ns, TimeoutMs: 3000, NotLoadCacheAtStart: true,
			UpdateCacheWhenEmpty: true, LogDir: dir, CacheDir: dir, LogLevel: "error",
			TLSCfg: constant.TLSConfig{Appointed: true}},
		ServerConfigs: []constant.ServerConfig{{IpAddr: host, Port: uint64(n)}},
	})
	// NewNamingClient points the SDK's process-wide logger at a file in
	// LogDir; a temp dir is gone after the test, so silence it.
	sdklogger.SetLogger(nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseClient)
	return c
}

func addrs(hosts []model.Instance) string {
	var out []string
	for _, h := range hosts {
		out = append(out, net.JoinHostPort(h.Ip, strconv.FormatUint(h.Port, 10)))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// eventually polls f for up to 5s.
func eventually(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if ok, last = f(); ok {
			return
		}
	}
	t.Fatalf("%s: still %s after 5s", what, last)
}

func TestSDKNamingClient(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	app := sdkClient(t, s, "")
	watcher := sdkClient(t, s, "")

	pushed := make(chan []model.Instance, 64)
	if err := watcher.Subscribe(&vo.SubscribeParam{ServiceName: "orders", GroupName: "shop",
		SubscribeCallback: func(in []model.Instance, _ error) { pushed <- in }}); err != nil {
		t.Fatal(err)
	}
	waitPush := func(want string) []model.Instance {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case in := <-pushed:
				if addrs(in) == want {
					return in
				}
			case <-deadline:
				t.Fatalf("no push of [%s] within 5s", want)
			}
		}
	}

	// Ephemeral: over gRPC.
	if ok, err := app.RegisterInstance(vo.RegisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.2",
		Port: 8080, Weight: 2, Enable: true, Healthy: true, Ephemeral: true, ClusterName: "east",
		Metadata: map[string]string{"zone": "az1"}}); !ok || err != nil {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	in := waitPush("127.0.0.2:8080")[0]
	if in.Weight != 2 || !in.Enable || !in.Healthy || in.ClusterName != "east" || in.Metadata["zone"] != "az1" {
		t.Fatalf("pushed instance = %+v", in)
	}
	got, err := app.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "orders", GroupName: "shop"})
	if err != nil || addrs(got) != "127.0.0.2:8080" {
		t.Fatalf("SelectAllInstances = %v, %v", got, err)
	}
	// Clusters select on the server's side.
	got, err = watcher.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "orders", GroupName: "shop", Clusters: []string{"west"}})
	if err != nil || len(got) != 0 {
		t.Fatalf("SelectAllInstances(west) = %v, %v", got, err)
	}

	// Persistent: over the v1 HTTP API, into the same registry.
	if ok, err := app.RegisterInstance(vo.RegisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.3",
		Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: false}); !ok || err != nil {
		t.Fatalf("RegisterInstance (persistent) = %v, %v", ok, err)
	}
	waitPush("127.0.0.2:8080,127.0.0.3:8080")

	// A connection publishes one instance of a service: a second one
	// replaces the first.
	if ok, err := app.RegisterInstance(vo.RegisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.4",
		Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); !ok || err != nil {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	waitPush("127.0.0.3:8080,127.0.0.4:8080")

	if ok, err := app.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.4",
		Port: 8080, Ephemeral: true}); !ok || err != nil {
		t.Fatalf("DeregisterInstance = %v, %v", ok, err)
	}
	waitPush("127.0.0.3:8080")
	if ok, err := app.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.3",
		Port: 8080, Ephemeral: false}); !ok || err != nil {
		t.Fatalf("DeregisterInstance (persistent) = %v, %v", ok, err)
	}
	waitPush("")

	// An application that goes away takes its ephemeral instance along.
	other := sdkClient(t, s, "")
	if ok, err := other.RegisterInstance(vo.RegisterInstanceParam{ServiceName: "orders", GroupName: "shop", Ip: "127.0.0.5",
		Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); !ok || err != nil {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	waitPush("127.0.0.5:8080")
	other.CloseClient()
	waitPush("")

	eventually(t, "every push acknowledged", func() (bool, string) {
		sent, acked := s.Pushes()
		return sent > 0 && sent == acked, strconv.Itoa(acked) + " of " + strconv.Itoa(sent)
	})
}

func TestSDKNamespaceAndV1List(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dev := sdkClient(t, s, "dev")
	if ok, err := dev.RegisterInstance(vo.RegisterInstanceParam{ServiceName: "orders", Ip: "127.0.0.2", Port: 80,
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); !ok || err != nil {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	// The v1 list shows what was registered over gRPC, per namespace.
	list := func(ns string) string {
		v := url.Values{"serviceName": {"orders"}, "namespaceId": {ns}}
		resp, err := http.Get("http://" + s.Addr() + "/nacos/v1/ns/instance/list?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return b.String()
	}
	if got := list("dev"); !strings.Contains(got, `"ip":"127.0.0.2"`) {
		t.Fatalf("v1 list in dev = %s", got)
	}
	if got := list(""); strings.Contains(got, `"ip":"127.0.0.2"`) {
		t.Fatalf("v1 list in public = %s", got)
	}
	public := sdkClient(t, s, "")
	got, err := public.SelectInstances(vo.SelectInstancesParam{ServiceName: "orders", HealthyOnly: true})
	if err == nil && len(got) > 0 {
		t.Fatalf("public SelectInstances = %v", got)
	}
	got, err = dev.SelectInstances(vo.SelectInstancesParam{ServiceName: "orders", HealthyOnly: true})
	if err != nil || addrs(got) != "127.0.0.2:80" {
		t.Fatalf("dev SelectInstances = %v, %v", got, err)
	}
}
