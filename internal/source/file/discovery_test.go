package file

import (
	"os"
	"path/filepath"
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

func TestLoadDiscovery(t *testing.T) {
	p := writeFile(t, t.TempDir(), "pylon.yaml", discoveryConfig)
	list, err := LoadDiscovery(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "local-dns" || list[0].DNS == nil || list[0].DNS.Servers[0] != "127.0.0.1:5353" {
		t.Fatalf("list = %+v", list)
	}
	entries, errs := Load(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := map[string]*ir.Service{}
	for _, e := range entries {
		if s, ok := e.Object.Resource.(*ir.Service); ok {
			got[s.Name] = s
		}
	}
	if d := got["api"].Discovery; d == nil || d.Provider != "local-dns" || d.Name != "api.service.test" || d.Port != 8080 || !d.KeepsLastKnown() {
		t.Fatalf("api discovery = %+v", d)
	}
	if d := got["api-srv"].Discovery; d == nil || d.SRV != "_http._tcp.api.service.test" || d.KeepsLastKnown() {
		t.Fatalf("api-srv discovery = %+v", d)
	}
}

func TestLoadDiscoveryErrors(t *testing.T) {
	for _, tc := range []struct{ name, list, want string }{
		{"bad server", `[{name: a, dns: {servers: ["127.0.0.1:5353", "nope"]}}]`, `discovery[0].dns.servers[1]: must be ip:port (got "nope")`},
		{"no block", `[{name: a}]`, `discovery[0]: a provider block is required (one of dns, nacos, eureka, consul, zookeeper)`},
		{"unknown field", `[{name: a, dns: {servers: ["127.0.0.1:53"]}, consol: {}}]`, `discovery: unknown field "consol"`},
		{"consul server", `[{name: a, consul: {servers: ["127.0.0.1:8500", "nohost"], timeout: 200ms}}]`, `discovery[0].consul.servers[1]: "nohost" is not host:port`},
		{"consul waitTime", `[{name: a, consul: {servers: ["127.0.0.1:8500"], waitTime: 200ms}}]`, `discovery[0].consul.waitTime: must be between 1s and 10m0s (got 200ms)`},
		{"duplicate", `[{name: a, dns: {servers: ["127.0.0.1:53"]}}, {name: a, dns: {servers: ["127.0.0.1:53"]}}]`, `discovery[1].name: "a" is also discovery[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "pylon.yaml", "discovery: "+tc.list+"\n")
			_, err := LoadDiscovery(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

// A problem in the list is reported at its field's line; a second list,
// in the same file or another, names the first.
func TestLoadDiscoveryErrorLines(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "pylon.yaml", "routes: []\ndiscovery:\n  - name: a\n    dns:\n      servers:\n        - 127.0.0.1:53\n        - nope\n")
	_, err := LoadDiscovery(p)
	if want := p + ":7: discovery[0].dns.servers[1]"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v; want it to start %q", err, want)
	}
	good := "discovery:\n  - name: a\n    dns: {servers: [\"127.0.0.1:53\"]}\n"
	writeFile(t, dir, "pylon.yaml", good)
	writeFile(t, dir, "z.yaml", "\n"+good)
	_, err = LoadDiscovery(dir)
	if want := "z.yaml:2: discovery: a second discovery block (the first is in " + filepath.Join(dir, "pylon.yaml") + ":1)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v; want %q", err, want)
	}
	writeFile(t, dir, "z.yaml", good+"---\n"+good)
	os.Remove(filepath.Join(dir, "pylon.yaml"))
	_, err = LoadDiscovery(dir)
	if want := "z.yaml:5: discovery: a second discovery block (the first is at line 1)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v; want %q", err, want)
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

// FuzzDiscoveryBlock: any file content gives a list or errors, never a
// panic; a list it gives passes Validate, and every error names a line.
func FuzzDiscoveryBlock(f *testing.F) {
	f.Add([]byte(discoveryConfig))
	f.Add([]byte("discovery: [{name: a, dns: {servers: [\"[::1]:53\"], timeout: 1s}}]\n"))
	f.Add([]byte("discovery: {name: a}\n"))
	f.Add([]byte("discovery:\n  - name: a\n    dns: {servers: [1, 2]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, ok, _, errs := readSetting(data, discoveryKey, decodeDiscovery)
		if ok {
			if err := providers.Validate(list); err != nil {
				t.Fatalf("a list that loaded fails Validate: %v", err)
			}
		}
		for _, e := range errs {
			if e.Line == 0 && !strings.Contains(e.Err.Error(), "invalid YAML") {
				t.Fatalf("error without a line: %v", e)
			}
		}
	})
}

func TestLoadDiscoveryConsul(t *testing.T) {
	p := writeFile(t, t.TempDir(), "pylon.yaml", `
discovery:
  - name: consul
    consul: { servers: ["127.0.0.1:8500"], token: t0ken, datacenter: dc1, passingOnly: false, waitTime: 90s, timeout: 200ms }
`)
	list, err := LoadDiscovery(p)
	if err != nil {
		t.Fatal(err)
	}
	if c := list[0].Consul; c == nil || c.Timeout.D().String() != "200ms" || c.WaitTime.D().String() != "1m30s" || *c.PassingOnly || c.Token != "t0ken" {
		t.Fatalf("consul = %+v", list[0].Consul)
	}
	if err := providers.CheckService(list, "services[1].discovery", &ir.ServiceDiscovery{Provider: "consul", Name: "orders", Group: "shop"}); err == nil ||
		!strings.Contains(err.Error(), "services[1].discovery: consul: query \"orders\": only name, tags") {
		t.Fatalf("CheckService = %v", err)
	}
	if err := providers.CheckService(list, "services[0].discovery", &ir.ServiceDiscovery{Provider: "consul", Name: "orders", Tags: []string{"v2"}, Datacenter: "dc2", Port: 8080}); err != nil {
		t.Fatal(err)
	}
}
