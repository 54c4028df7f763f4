package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// TestDiscoveryListReload: SIGHUP applies an edited discovery list without
// a restart. A provider pointed at another server moves its services'
// traffic there; a provider added in the same edit as the service that
// names it serves at once; a provider removed with its service is gone;
// a bad provider is rejected and a provider still in use is not removed,
// and the service keeps serving.
func TestDiscoveryListReload(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	for i, ip := range []string{"127.0.0.81", "127.0.0.82", "127.0.0.83"} {
		backendAt(t, fmt.Sprintf("h%d", i+1), ip, port)
	}
	dns1 := testenv.StartDnsmasq(t, "127.0.0.81 api.service.test\n")
	dns2 := testenv.StartDnsmasq(t, "127.0.0.82 api.service.test\n127.0.0.83 billing.service.test\n")
	listen := testenv.FreeAddr(t)
	config := func(discovery, services, routes string) string {
		return fmt.Sprintf("discovery:\n%slisteners:\n  - name: web\n    address: %s\n    protocol: http\nservices:\n%sroutes:\n%s", discovery, listen, services, routes)
	}
	provider := func(name string, d *testenv.Dnsmasq) string {
		return fmt.Sprintf("  - name: %s\n    dns: { servers: [%q], minTTL: 1s, maxTTL: 1s }\n", name, d.Addr())
	}
	service := func(name, provider, host string) string {
		return fmt.Sprintf("  - name: %s\n    discovery: { provider: %s, name: %s, port: %d }\n", name, provider, host, port)
	}
	api := service("api", "one", "api.service.test")
	gw := startGateway(t, config(provider("one", dns1), api, route("api", "api.test", "api")))
	waitServed(t, listen, "api.test", "h1", 10*time.Second)
	hup := func() {
		t.Helper()
		if err := gw.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// Provider "one" now asks the second server.
	writeFile(t, gw.config, config(provider("one", dns2), api, route("api", "api.test", "api")))
	hup()
	waitServed(t, listen, "api.test", "h2", 10*time.Second)

	// A provider and the service that names it, in one edit.
	writeFile(t, gw.config, config(provider("one", dns2)+provider("two", dns2), api+service("billing", "two", "billing.service.test"),
		route("api", "api.test", "api")+route("billing", "billing.test", "billing")))
	hup()
	waitServed(t, listen, "billing.test", "h3", 10*time.Second)

	// Provider "one" and its service gone, in one edit.
	writeFile(t, gw.config, config(provider("two", dns2), service("billing", "two", "billing.service.test"), route("billing", "billing.test", "billing")))
	hup()
	eventually(t, 10*time.Second, "api.test gone with its provider", func() (bool, string) {
		_, st, err := servedBy(newClient(), listen, "api.test")
		return err == nil && st == http.StatusNotFound, fmt.Sprint(st, err)
	})

	// A bad provider, and the removal of one a service still names: the
	// first is rejected with its field, the second refused, and the
	// service keeps serving over the provider it has.
	writeFile(t, gw.config, config("  - name: three\n    nacos: { servers: [\"no-port\"] }\n", service("billing", "two", "billing.service.test"), route("billing", "billing.test", "billing")))
	hup()
	eventually(t, 10*time.Second, "the bad provider and the refused removal reported", func() (bool, string) {
		log := gw.proc.Log()
		return strings.Contains(log, `discoveryprovider \"three\": nacos.servers[0]`) && strings.Contains(log, `still used by service \"billing\"`), ""
	})
	if got, st, err := servedBy(newClient(), listen, "billing.test"); err != nil || st != http.StatusOK || got != "h3" {
		t.Errorf("after a bad list, billing.test: %q %d %v", got, st, err)
	}
}
