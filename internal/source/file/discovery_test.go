package file

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery/providers"
	"pylon.io/pylon/internal/ir"
)

const discoveryConfig = `
discovery:
  - name: local-dns
    dns: { servers: ["127.0.0.1:5353"] }
services:
  - name: api
    discovery: { provider: local-dns, name: api.service.test, port: 8080 }
  - name: api-srv
    discovery: { provider: local-dns, srv: _http._tcp.api.service.test, keepLastKnown: false }
routes:
  - name: r
    match: { path: { prefix: / } }
    backends: [{ service: api }]
`

// TestLoadDiscovery: the discovery list's entries are DiscoveryProvider
// objects, read as any other section.
func TestLoadDiscovery(t *testing.T) {
	p := writeFile(t, t.TempDir(), "pylon.yaml", discoveryConfig)
	entries, errs := Load(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := map[string]*ir.Service{}
	var dp *ir.DiscoveryProvider
	for _, e := range entries {
		switch r := e.Object.Resource.(type) {
		case *ir.Service:
			got[r.Name] = r
		case *ir.DiscoveryProvider:
			dp = r
			if e.Object.Key != objectKey(ir.KindDiscoveryProvider, "local-dns") || e.Line != 3 {
				t.Errorf("provider key %v line %d", e.Object.Key, e.Line)
			}
		}
	}
	if dp == nil || dp.Name != "local-dns" || dp.DNS == nil {
		t.Fatalf("provider = %+v", dp)
	}
	c, err := providers.FromObject(dp)
	if err != nil || c.DNS == nil || c.DNS.Servers[0] != "127.0.0.1:5353" {
		t.Fatalf("FromObject = %+v, %v", c, err)
	}
	if d := got["api"].Discovery; d == nil || d.Provider != "local-dns" || d.Name != "api.service.test" || d.Port != 8080 || !d.KeepsLastKnown() {
		t.Fatalf("api discovery = %+v", d)
	}
	if d := got["api-srv"].Discovery; d == nil || d.SRV != "_http._tcp.api.service.test" || d.KeepsLastKnown() {
		t.Fatalf("api-srv discovery = %+v", d)
	}
}

// TestDiscoveryProviderErrors: each problem of a discovery list names the
// provider and the field. What an entry shows on its own (its name, its one
// block, unknown keys, a duplicate) is an error of the file source; the
// block's fields are the provider package's, checked by
// providers.FromObject when the object compiles.
func TestDiscoveryProviderErrors(t *testing.T) {
	for _, tc := range []struct{ name, list, want string }{
		{"no block", `[{name: a}]`, `discoveryprovider "a": a provider block is required (one of dns, nacos, eureka, consul, zookeeper)`},
		{"two blocks", `[{name: a, dns: {servers: ["127.0.0.1:53"]}, consul: {servers: ["127.0.0.1:8500"]}}]`, `discoveryprovider "a": exactly one provider block is allowed (got dns, consul)`},
		{"unknown block", `[{name: a, dns: {servers: ["127.0.0.1:53"]}, consol: {}}]`, `discoveryprovider "a": consol: unknown field`},
		{"bad name", `[{name: A_b, dns: {servers: ["127.0.0.1:53"]}}]`, `discoveryprovider "A_b": name: must be 1-63 lowercase letters`},
		{"duplicate", `[{name: a, dns: {servers: ["127.0.0.1:53"]}}, {name: a, dns: {servers: ["127.0.0.1:53"]}}]`, `discoveryprovider "a": duplicate discoveryprovider name`},
		{"bad server", `[{name: a, dns: {servers: ["127.0.0.1:5353", "nope"]}}]`, `discoveryprovider "a": dns.servers[1]: must be ip:port (got "nope")`},
		{"empty block", `[{name: a, dns: {}}]`, `discoveryprovider "a": dns.servers: `},
		{"unknown field", `[{name: a, dns: {servers: ["127.0.0.1:53"], server: x}}]`, `discoveryprovider "a": dns: unknown field "server"`},
		{"wrong type", `[{name: a, dns: {servers: "127.0.0.1:53"}}]`, `discoveryprovider "a": dns.servers: must be []string, not string`},
		{"consul server", `[{name: a, consul: {servers: ["127.0.0.1:8500", "nohost"], timeout: 200ms}}]`, `discoveryprovider "a": consul.servers[1]: "nohost" is not host:port`},
		{"consul waitTime", `[{name: a, consul: {servers: ["127.0.0.1:8500"], waitTime: 200ms}}]`, `discoveryprovider "a": consul.waitTime: must be between 1s and 10m0s (got 200ms)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "pylon.yaml", "discovery: "+tc.list+"\n")
			entries, errs := Load(p)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			for _, e := range entries {
				if _, err := providers.FromObject(e.Object.Resource.(*ir.DiscoveryProvider)); err != nil {
					all = append(all, err.Error())
				}
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Fatalf("errors = %q; want one containing %q", all, tc.want)
			}
		})
	}
}

func TestServiceDiscoveryErrors(t *testing.T) {
	for _, tc := range []struct{ name, svc, want string }{
		{"both", `{name: a, endpoints: ["127.0.0.1:1"], discovery: {provider: d, name: a.test, port: 1}}`, `discovery: set either endpoints or discovery, not both`},
		{"neither name nor srv", `{name: a, discovery: {provider: d, port: 1}}`, `discovery: one of name or srv is required`},
		{"no provider", `{name: a, discovery: {name: a.test, port: 1}}`, `discovery.provider: is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "pylon.yaml", "services:\n  - "+tc.svc+"\n")
			_, errs := Load(p)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Fatalf("errors = %q; want one containing %q", all, tc.want)
			}
		})
	}
}

func TestLoadDiscoveryConsul(t *testing.T) {
	p := writeFile(t, t.TempDir(), "pylon.yaml", `
discovery:
  - name: consul
    consul: { servers: ["127.0.0.1:8500"], token: t0ken, datacenter: dc1, passingOnly: false, waitTime: 90s, timeout: 200ms }
`)
	entries, errs := Load(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	obj := entries[0].Object.Resource.(*ir.DiscoveryProvider)
	c0, err := providers.FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if c := c0.Consul; c == nil || c.Timeout.D().String() != "200ms" || c.WaitTime.D().String() != "1m30s" || *c.PassingOnly || c.Token != "t0ken" {
		t.Fatalf("consul = %+v", c0.Consul)
	}
	if err := providers.CheckQuery(obj, &ir.ServiceDiscovery{Provider: "consul", Name: "orders", Group: "shop"}); err == nil ||
		!strings.Contains(err.Error(), "consul: query \"orders\": only name, tags") {
		t.Fatalf("CheckQuery = %v", err)
	}
	if err := providers.CheckQuery(obj, &ir.ServiceDiscovery{Provider: "consul", Name: "orders", Tags: []string{"v2"}, Datacenter: "dc2", Port: 8080}); err != nil {
		t.Fatal(err)
	}
}
