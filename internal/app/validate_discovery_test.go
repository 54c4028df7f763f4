package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateDiscovery: pylon validate names the service and field of a
// discovery block its provider cannot answer, at the service's line, and
// the provider and field of a block its package refuses.
func TestValidateDiscovery(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pylon.yaml")
	cfg := `discovery:
  - name: local-dns
    dns: { servers: ["127.0.0.1:5353"] }
  - name: broken
    dns: { servers: ["nope"] }
services:
  - name: api
    discovery: { provider: x, name: api.service.test, port: 8080 }
  - name: b
    discovery: { provider: local-dns, name: api.service.test }
  - name: ok
    discovery: { provider: local-dns, srv: _http._tcp.api.service.test }
`
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	n := Validate(p, &out)
	for _, want := range []string{
		p + `:5: discoveryprovider "broken": dns.servers[0]: must be ip:port (got "nope")`,
		p + `:8: service "api": discovery.provider: unknown discovery provider "x"`,
		p + `:10: service "b": discovery: dns: port must be 1-65535 with name (got 0)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n != 3 {
		t.Errorf("%d problems, want 3:\n%s", n, out.String())
	}
}
