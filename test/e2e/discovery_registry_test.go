package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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

// TestRegistryDiscovery: services whose endpoints come from Nacos (v1
// HTTP API, and v2 gRPC API with pushes) and Eureka (REST API with delta
// fetches) follow their registries through pylon's discovery list:
// registered instances get the traffic, a deregistered one stops getting
// it, and a registry outage keeps the last known set. The registries are
// the in-repo test servers of each documented API (Nacos and Eureka are
// Java servers).
func TestRegistryDiscovery(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	for i, ip := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"} {
		backendAt(t, fmt.Sprintf("r%d", i+1), ip, port)
	}
	nacos, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nacos.Close)
	eureka, err := eurekatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eureka.Stop)

	nacosInst := func(method, service, ip string) {
		v := url.Values{"serviceName": {service}, "groupName": {"shop"}, "ip": {ip}, "port": {strconv.Itoa(port)}}
		call(t, method, "http://"+nacos.Addr()+"/nacos/v1/ns/instance?"+v.Encode(), "", nil)
	}
	eurekaInst := func(id, ip string) {
		b, _ := json.Marshal(map[string]any{"instance": map[string]any{
			"instanceId": id, "hostName": id, "app": "BILLING", "ipAddr": ip, "status": "UP",
			"port": map[string]any{"$": port, "@enabled": "true"}, "securePort": map[string]any{"$": 443, "@enabled": "false"},
			"dataCenterInfo": map[string]any{"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
		}})
		call(t, http.MethodPost, eureka.URL()+"/apps/BILLING", "application/json", b)
	}
	nacosInst(http.MethodPost, "orders", "127.0.0.21")
	nacosInst(http.MethodPost, "stock", "127.0.0.22")
	eurekaInst("b1", "127.0.0.23")

	listen := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
discovery:
  - name: nacos
    nacos: { servers: [%q], pollInterval: 200ms, timeout: 1s }
  - name: nacos-grpc
    nacos: { servers: [%q], api: v2, timeout: 1s }
  - name: eureka
    eureka: { servers: [%q], pollInterval: 200ms, timeout: 1s }
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: orders
    discovery: { provider: nacos, name: orders, group: shop }
  - name: stock
    discovery: { provider: nacos-grpc, name: stock, group: shop }
  - name: billing
    discovery: { provider: eureka, app: billing }
routes:
%s%s%s`, nacos.Addr(), nacos.Addr(), eureka.URL(), listen, route("orders", "orders.test", "orders"),
		route("stock", "stock.test", "stock"), route("billing", "billing.test", "billing")))
	waitServed(t, listen, "orders.test", "r1", 10*time.Second)
	waitServed(t, listen, "stock.test", "r2", 10*time.Second)
	waitServed(t, listen, "billing.test", "r3", 10*time.Second)

	// A second instance in each registry, then the first one gone: the
	// traffic moves to the second.
	nacosInst(http.MethodPost, "orders", "127.0.0.22")
	nacosInst(http.MethodPost, "stock", "127.0.0.21")
	eurekaInst("b2", "127.0.0.24")
	nacosInst(http.MethodDelete, "orders", "127.0.0.21")
	nacosInst(http.MethodDelete, "stock", "127.0.0.22")
	call(t, http.MethodDelete, eureka.URL()+"/apps/BILLING/b1", "", nil)
	waitOnly(t, listen, "orders.test", "r2")
	waitOnly(t, listen, "stock.test", "r1")
	waitOnly(t, listen, "billing.test", "r4")

	// Both registries unreachable: the last known sets keep serving.
	nacos.Stop()
	eureka.Stop()
	time.Sleep(time.Second)
	for range 20 {
		for host, want := range map[string]string{"orders.test": "r2", "stock.test": "r1", "billing.test": "r4"} {
			if got, st, err := servedBy(newClient(), listen, host); err != nil || st != http.StatusOK || got != want {
				t.Fatalf("%s with its registry down: %q %d %v, want %s", host, got, st, err, want)
			}
		}
	}
}

// waitOnly waits until ten requests in a row to host all reach backend.
func waitOnly(t *testing.T, listen, host, backend string) {
	t.Helper()
	c := newClient()
	eventually(t, 10*time.Second, host+" served by "+backend+" alone", func() (bool, string) {
		for range 10 {
			got, st, err := servedBy(c, listen, host)
			if err != nil || st != http.StatusOK || got != backend {
				return false, fmt.Sprint(got, " ", st, " ", err)
			}
		}
		return true, ""
	})
}
