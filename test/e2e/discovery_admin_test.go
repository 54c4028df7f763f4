package e2e

import (
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestDiscoveryProviderAdminAPI: discovery providers are objects of the
// admin API as of the files. A provider and a service naming it, written
// through the API, serve what the registry (a real dnsmasq) answers; a
// provider its package refuses is a 400 naming the field; a new version
// of the provider moves its services to the new server without a restart;
// deleting a provider a service still names is refused, and deleting the
// service first lets it go.
func TestDiscoveryProviderAdminAPI(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	backendAt(t, "d1", "127.0.0.91", port)
	backendAt(t, "d2", "127.0.0.92", port)
	dns1 := testenv.StartDnsmasq(t, "127.0.0.91 api.service.test\n")
	dns2 := testenv.StartDnsmasq(t, "127.0.0.92 api.service.test\n")
	n := startNode(t, "solo", backends.StartHTTP(t, "file"), "", "")
	api := n.api(t)
	provider := func(d *testenv.Dnsmasq) map[string]any {
		return map[string]any{"name": "reg", "dns": map[string]any{"servers": []any{d.Addr()}, "minTTL": "1s", "maxTTL": "1s"}}
	}

	r := api.must(201, "POST", "/api/v1/discoveryproviders", provider(dns1))
	if e := r.envelope(t); e.Kind != "discoveryprovider" {
		t.Fatalf("create answer: %s", r.Body)
	}
	api.must(201, "POST", "/api/v1/services", map[string]any{"name": "api",
		"discovery": map[string]any{"provider": "reg", "name": "api.service.test", "port": port}})
	api.must(201, "POST", "/api/v1/routes", routeJSON("api", "api.test", "api"))
	waitServed(t, n.listen, "api.test", "d1", 10*time.Second)
	if g := api.must(200, "GET", "/api/v1/discoveryproviders/reg", nil); !strings.Contains(string(g.Body), dns1.Addr()) {
		t.Errorf("GET: %s", g.Body)
	}

	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "bad", "dns": map[string]any{"servers": []any{"nope"}}}, "dns.servers[0]"},
		{map[string]any{"name": "bad", "dns": map[string]any{"servers": []any{"127.0.0.1:53"}, "sever": 1}}, "dns"},
		{map[string]any{"name": "bad"}, ""},
	} {
		r := api.call("POST", "/api/v1/discoveryproviders", c.body)
		if r.Status != 400 || !r.apiError(t).hasProblem("", c.field) {
			t.Errorf("%v: %d, want 400 naming field %q\n%s", c.body, r.Status, c.field, r.Body)
		}
	}
	if r := api.call("POST", "/api/v1/services", map[string]any{"name": "nop",
		"discovery": map[string]any{"provider": "nope", "name": "a.test", "port": port}}); r.Status != 400 || !r.apiError(t).hasProblem("", "discovery.provider") {
		t.Errorf("a service naming no provider: %d %s", r.Status, r.Body)
	}

	api.must(200, "PUT", "/api/v1/discoveryproviders/reg", provider(dns2))
	waitServed(t, n.listen, "api.test", "d2", 10*time.Second)

	if r := api.call("DELETE", "/api/v1/discoveryproviders/reg", nil); r.Status != 400 || !strings.Contains(string(r.Body), `still used by service \"api\"`) {
		t.Errorf("deleting a provider in use: %d %s", r.Status, r.Body)
	}
	waitServed(t, n.listen, "api.test", "d2", time.Second)
	api.must(200, "DELETE", "/api/v1/routes/api", nil)
	api.must(200, "DELETE", "/api/v1/services/api", nil)
	api.must(200, "DELETE", "/api/v1/discoveryproviders/reg", nil)
	if r := api.call("GET", "/api/v1/discoveryproviders/reg", nil); r.Status != 404 {
		t.Errorf("GET after delete: %d", r.Status)
	}
}
