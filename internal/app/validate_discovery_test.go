package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateDiscovery: pylon validate names the service and field of a
// discovery block its provider list cannot answer, at the service's line.
func TestValidateDiscovery(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pylon.yaml")
	cfg := `discovery:
  - name: local-dns
    dns: { servers: ["127.0.0.1:5353"] }
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
		p + `:5: service "api": discovery.provider: unknown provider "x"`,
		p + `:7: service "b": discovery: dns: port must be 1-65535 with name (got 0)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n != 2 {
		t.Errorf("%d problems, want 2:\n%s", n, out.String())
	}
}
