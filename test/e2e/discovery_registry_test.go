package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery/eureka/eurekatest"
	"pylon.io/pylon/internal/discovery/nacos/nacostest"
	"pylon.io/pylon/test/testenv"
)

// call sends one request to a registry's HTTP API, as its clients do, and
// fails the test on anything but a 2xx.
func call(t *testing.T, method, u, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
}

// registry is one provider under the lifecycle test: how pylon is pointed
// at it, and how an application registers with it.
type registry struct {
	// block is the provider's entry in the discovery list (after
	// "name: reg"); query the service's discovery block (after
	// "provider: reg, ").
	block, query string
	// register and deregister an instance at ip:port, as applications do.
	register, deregister func(ip string)
	// down makes the registry unreachable; up brings it back as a restart
	// does (it may come back empty: the test registers again what it
	// wants served).
	down, up func()
	// noRace runs pylon built without the race detector, for a provider
	// whose client library has a known race of its own.
	noRace bool
}

// registries are the providers under the lifecycle test, by name; each
// starts its server for a test whose instances listen on port.
var registries = map[string]func(t *testing.T, port int) *registry{
	"dns": func(t *testing.T, port int) *registry {
		ips := map[string]bool{}
		d := testenv.StartDnsmasq(t, "")
		set := func() {
			var hosts strings.Builder
			for _, ip := range slices.Sorted(maps.Keys(ips)) {
				fmt.Fprintf(&hosts, "%s orders.service.test\n", ip)
			}
			d.SetHosts(hosts.String())
		}
		return &registry{
			block:      fmt.Sprintf("dns: { servers: [%q], minTTL: 1s, maxTTL: 1s, timeout: 300ms }", d.Addr()),
			query:      fmt.Sprintf("name: orders.service.test, port: %d", port),
			register:   func(ip string) { ips[ip] = true; set() },
			deregister: func(ip string) { delete(ips, ip); set() },
			down:       d.Kill,
			up:         d.Start,
		}
	},
	"consul": func(t *testing.T, port int) *registry {
		c := testenv.StartConsul(t)
		return &registry{
			block:      fmt.Sprintf("consul: { servers: [%q], waitTime: 5s, timeout: 1s }", c.Addr()),
			query:      "name: orders",
			register:   func(ip string) { c.Register(ip, "orders", ip, port, nil, nil) },
			deregister: c.Deregister,
			down:       c.Stop,
			up:         c.Start,
		}
	},
	"zookeeper-dubbo":   func(t *testing.T, port int) *registry { return zkRegistry(t, port, "dubbo") },
	"zookeeper-curator": func(t *testing.T, port int) *registry { return zkRegistry(t, port, "curator") },
	"nacos":             func(t *testing.T, port int) *registry { return nacosRegistry(t, port, "v1") },
	"nacos-v2":          func(t *testing.T, port int) *registry { return nacosRegistry(t, port, "v2") },
	"eureka": func(t *testing.T, port int) *registry {
		s, err := eurekatest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return &registry{
			block: fmt.Sprintf("eureka: { servers: [%q], pollInterval: 200ms, timeout: 300ms }", s.URL()),
			query: "app: orders",
			register: func(ip string) {
				b, _ := json.Marshal(map[string]any{"instance": map[string]any{
					"instanceId": ip, "hostName": ip, "app": "ORDERS", "ipAddr": ip, "status": "UP",
					"port": map[string]any{"$": port, "@enabled": "true"}, "securePort": map[string]any{"$": 443, "@enabled": "false"},
					"dataCenterInfo": map[string]any{"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
				}})
				call(t, http.MethodPost, s.URL()+"/apps/ORDERS", "application/json", b)
			},
			deregister: func(ip string) { call(t, http.MethodDelete, s.URL()+"/apps/ORDERS/"+ip, "", nil) },
			down:       s.Stop,
			up: func() {
				if err := s.Restart(); err != nil {
					t.Fatal(err)
				}
			},
		}
	},
}

// zkRegistry is a real ZooKeeper holding instances as Apache Dubbo or
// Spring Cloud Zookeeper (Curator) registers them: ephemeral nodes of the
// registering application's session. A restart ends that session (the
// application registers again in a new one).
func zkRegistry(t *testing.T, port int, layout string) *registry {
	z := testenv.StartZooKeeper(t)
	nodes := map[string]string{} // ip -> node path
	query, iface := "path: orders, layout: curator", "orders"
	if layout == "dubbo" {
		query, iface = "path: org.example.Orders, layout: dubbo", "org.example.Orders"
	}
	return &registry{
		block: fmt.Sprintf("zookeeper: { servers: [%q], sessionTimeout: 4s }", z.Addr()),
		query: query,
		register: func(ip string) {
			if nodes[ip] != "" {
				return
			}
			if layout == "dubbo" {
				nodes[ip] = z.RegisterDubbo(iface, ip, port, nil)
			} else {
				nodes[ip] = z.RegisterCurator(iface, ip, ip, port, nil)
			}
		},
		deregister: func(ip string) { z.Deregister(nodes[ip]); delete(nodes, ip) },
		down:       z.Stop,
		up: func() {
			z.Start()
			// The registering session may have outlived the outage:
			// end it, and wait until the server has dropped its nodes
			// (at most its 4 s timeout after the restart).
			z.ExpireSession()
			c := z.Client()
			defer c.Close()
			eventually(t, 30*time.Second, "the old session's nodes gone", func() (bool, string) {
				for ip, path := range nodes {
					if c.Exists(path) {
						return false, ip
					}
				}
				return true, ""
			})
			clear(nodes)
		},
	}
}

// nacosRegistry is the Nacos test server, read by pylon over api (v1 HTTP
// polls or v2 gRPC pushes); applications register over v1 HTTP, one
// registry with v2.
func nacosRegistry(t *testing.T, port int, api string) *registry {
	s, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	inst := func(method, ip string) {
		v := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "ip": {ip}, "port": {strconv.Itoa(port)}}
		call(t, method, "http://"+s.Addr()+"/nacos/v1/ns/instance?"+v.Encode(), "", nil)
	}
	return &registry{
		block:      fmt.Sprintf("nacos: { servers: [%q], api: %s, pollInterval: 200ms, timeout: 300ms }", s.Addr(), api),
		query:      "name: orders, group: shop",
		register:   func(ip string) { inst(http.MethodPost, ip) },
		deregister: func(ip string) { inst(http.MethodDelete, ip) },
		down:       s.Stop,
		up: func() {
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
		},
		// nacos-sdk-go v2.3.2's RpcClient races with itself when it
		// reconnects (rpc_client.go, currentConnection): a pylon built
		// with the race detector would stop on it.
		noRace: api == "v2",
	}
}

// outage is how long each registry stays unreachable in the lifecycle test.
const outage = 30 * time.Second

// TestDiscoveryLifecycle runs every provider through the same life, with a
// request every 5 ms throughout and not one of them failing: one instance
// registered, scaled to three, the first deregistered, then the others
// one by one until none is left (keepLastKnown serves the last set), a new one registered, the registry
// unreachable for 30 s (the last set serves), then restarted empty and
// instances registered again. Each provider runs in parallel against its
// real server (dnsmasq) or the in-repo server of its documented API.
func TestDiscoveryLifecycle(t *testing.T) {
	t.Parallel()
	names := slices.Sorted(maps.Keys(registries))
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := testenv.FreePort(t)
			ips := make([]string, 4)
			for j := range ips {
				ips[j] = fmt.Sprintf("127.0.%d.%d", 60+i, j+1)
				backendAt(t, fmt.Sprintf("b%d", j+1), ips[j], port)
			}
			reg := registries[name](t, port)
			reg.register(ips[0])
			listen := testenv.FreeAddr(t)
			start := startGateway
			if reg.noRace {
				start = startTimedGateway
			}
			gw := start(t, fmt.Sprintf(`
discovery:
  - name: reg
    %s
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: orders
    discovery: { provider: reg, %s }
routes:
%s`, reg.block, listen, reg.query, route("orders", "orders.test", "orders")))
			waitServed(t, listen, "orders.test", "b1", 10*time.Second)

			l := startLoop(listen, "orders.test")
			var failed []string
			// servedOnly waits until the loop's requests over a whole
			// second reached exactly the backends named.
			servedOnly := func(phase string, want ...string) {
				t.Helper()
				l.reset()
				eventually(t, 15*time.Second, phase+": served by "+strings.Join(want, ","), func() (bool, string) {
					time.Sleep(time.Second)
					seen, f := l.reset()
					failed = append(failed, f...)
					return slices.Equal(slices.Sorted(maps.Keys(seen)), want), fmt.Sprint(seen)
				})
			}

			reg.register(ips[1])
			reg.register(ips[2])
			servedOnly("scaled up", "b1", "b2", "b3")
			reg.deregister(ips[0])
			servedOnly("b1 deregistered", "b2", "b3")
			reg.deregister(ips[1])
			servedOnly("b2 deregistered", "b3")
			reg.deregister(ips[2])
			time.Sleep(2 * time.Second)
			servedOnly("all deregistered (keepLastKnown)", "b3")
			eventually(t, 5*time.Second, "the kept empty set counted", func() (bool, string) {
				m := gw.get("/metrics")
				return metricValue(t, m, `pylon_discovery_empty_sets_kept_total{provider="reg",service="orders"}`) >= 1, grepLines(m, "pylon_discovery_")
			})
			reg.register(ips[3])
			servedOnly("b4 registered", "b4")

			reg.down()
			time.Sleep(outage)
			seen, f := l.reset()
			failed = append(failed, f...)
			if len(seen) != 1 || seen["b4"] == 0 {
				t.Errorf("with the registry unreachable for %v, requests reached %v, want b4 alone", outage, seen)
			}
			reg.up()
			reg.register(ips[3])
			reg.register(ips[0])
			servedOnly("restarted, b1 and b4 registered", "b1", "b4")
			l.end()
			if len(failed) > 0 {
				t.Errorf("%d of %d requests failed: %v", len(failed), l.n.Load(), failed[:min(len(failed), 5)])
			}
			t.Logf("%d requests, none failed", l.n.Load())
		})
	}
}
