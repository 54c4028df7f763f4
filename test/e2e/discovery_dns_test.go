package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// backendAt starts an echo backend named name on ip:port.
func backendAt(t *testing.T, name, ip string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
	if err != nil {
		t.Fatalf("backend %s: %v", name, err)
	}
	srv := httptest.NewUnstartedServer(backends.EchoHandler(name))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
}

func discoveryConfig(listen, dns, static, other string, apiExtra ...string) string {
	return fmt.Sprintf(`
discovery:
  - name: local-dns
    dns: { servers: [%q], minTTL: 1s, maxTTL: 1s }
  - name: down-dns
    dns: { servers: [%q], timeout: 200ms }
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: api
    discovery: { provider: local-dns, name: api.service.test, port: %d }%s
  - name: api-srv
    discovery: { provider: local-dns, srv: _http._tcp.api.service.test }
  - name: drop
    discovery: { provider: local-dns, name: drop.service.test, port: %d, keepLastKnown: false }
  - name: ghost
    discovery: { provider: down-dns, name: ghost.service.test, port: 80 }
  - name: static
    endpoints: [%q]
routes:
%s%s%s%s`, dns, downDNS, listen, discoveryPort, strings.Join(apiExtra, ""), discoveryPort, static,
		route("api", "api.test", "api"), route("srv", "srv.test", "api-srv"), route("drop", "drop.test", "drop"), other)
}

var (
	discoveryPort int
	downDNS       string // a DNS server that is not there
)

// loop sends requests to host at a steady pace and counts what answered
// and what failed.
type loop struct {
	mu     sync.Mutex
	seen   map[string]int
	failed []string
	n      atomic.Int64
	stop   chan struct{}
	done   chan struct{}
}

func startLoop(listen, host string) *loop {
	l := &loop{seen: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		c := newClient()
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			got, st, err := servedBy(c, listen, host)
			l.n.Add(1)
			l.mu.Lock()
			switch {
			case err != nil:
				l.failed = append(l.failed, err.Error())
			case st != http.StatusOK:
				l.failed = append(l.failed, fmt.Sprintf("status %d", st))
			default:
				l.seen[got]++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// reset returns what was seen since the last reset.
func (l *loop) reset() (map[string]int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, f := l.seen, l.failed
	l.seen, l.failed = map[string]int{}, nil
	return s, f
}

func (l *loop) end() { close(l.stop); <-l.done }

// TestDNSDiscovery: services whose endpoints come from a real dnsmasq
// follow its records with no failed request while instances come and go
// and through config changes, SRV answers serve, a provider down from the
// start is named in /readyz, and a service without keepLastKnown empties
// when its records go. TestDiscoveryLifecycle runs DNS through outages.
func TestDNSDiscovery(t *testing.T) {
	discoveryPort = testenv.FreePort(t)
	downDNS = testenv.FreeAddr(t)
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		backendAt(t, fmt.Sprintf("b%d", i+1), ip, discoveryPort)
	}
	static := backends.StartHTTP(t, "static")
	hosts := func(api ...string) string {
		s := "127.0.0.5 srv1.service.test\n127.0.0.6 drop.service.test\n"
		for _, ip := range api {
			s += ip + " api.service.test\n"
		}
		return s
	}
	dns := testenv.StartDnsmasq(t, hosts("127.0.0.2"), fmt.Sprintf("_http._tcp.api.service.test,srv1.service.test,%d,10,5", discoveryPort))
	listen := testenv.FreeAddr(t)
	gw := startGateway(t, discoveryConfig(listen, dns.Addr(), static, route("other", "other.test", "static")))
	waitServed(t, listen, "api.test", "b1", 5*time.Second)
	waitServed(t, listen, "srv.test", "b4", 5*time.Second)
	waitServed(t, listen, "drop.test", "b5", 5*time.Second)
	// A provider unreachable from the start: pylon serves what it knows,
	// stays ready, and /readyz says which provider fails and why.
	eventually(t, 10*time.Second, "/readyz naming the unreachable provider", func() (bool, string) {
		code, body := readyz(gw.metrics)
		return code == http.StatusOK && strings.Contains(body, `service "ghost": provider "down-dns" unreachable`), fmt.Sprint(code, " ", body)
	})

	l := startLoop(listen, "api.test")
	defer l.end()
	check := func(phase string) map[string]int {
		t.Helper()
		seen, failed := l.reset()
		if len(failed) > 0 {
			t.Errorf("%s: %d failed requests: %v", phase, len(failed), failed[:min(len(failed), 5)])
		}
		return seen
	}

	dns.SetHosts(hosts("127.0.0.2", "127.0.0.3", "127.0.0.4"))
	eventually(t, 10*time.Second, "requests reach all three instances", func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.seen["b1"] > 0 && l.seen["b2"] > 0 && l.seen["b3"] > 0, fmt.Sprint(l.seen)
	})
	check("scale up")

	dns.SetHosts(hosts("127.0.0.3"))
	time.Sleep(3 * time.Second) // TTL 1 s: the new set is in by now
	check("scale down")
	time.Sleep(time.Second)
	if seen := check("after scale down"); seen["b1"] > 0 || seen["b3"] > 0 || seen["b2"] == 0 {
		t.Errorf("after scaling down to b2, requests reached %v", seen)
	}

	// A config change while discovered endpoints are live: a file edit of
	// an unrelated route, then SIGHUP.
	writeFile(t, gw.config, discoveryConfig(listen, dns.Addr(), static, route("other", "other2.test", "static")))
	waitServed(t, listen, "other2.test", "static", 5*time.Second)
	if err := gw.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	// And an edit of the discovered service itself.
	writeFile(t, gw.config, discoveryConfig(listen, dns.Addr(), static, route("other", "other3.test", "static"), "\n    connectTimeout: 3s"))
	waitServed(t, listen, "other3.test", "static", 5*time.Second)
	time.Sleep(time.Second)
	if seen := check("config change"); seen["b2"] == 0 {
		t.Errorf("after the config change, requests reached %v", seen)
	}

	// Deregister every instance: api keeps the last known (default), drop
	// (keepLastKnown false) empties.
	dns.SetHosts("127.0.0.5 srv1.service.test\n")
	time.Sleep(3 * time.Second)
	if seen := check("deregistered"); seen["b2"] == 0 {
		t.Errorf("with api deregistered (keepLastKnown), requests reached %v", seen)
	}
	eventually(t, 5*time.Second, "drop answers 503 once deregistered", func() (bool, string) {
		_, st, err := servedBy(newClient(), listen, "drop.test")
		return err == nil && st == http.StatusServiceUnavailable, fmt.Sprint(st, err)
	})
	t.Logf("%d requests in the loop", l.n.Load())

	m := gw.get("/metrics")
	if !strings.Contains(m, "pylon_discovery_sets_applied_total") {
		t.Errorf("/metrics has no pylon_discovery_* series")
	}
}
