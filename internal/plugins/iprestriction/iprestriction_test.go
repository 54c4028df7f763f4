package iprestriction

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func check(t *testing.T, cfg map[string]any, peer, xff string, wantStatus int) *plugintest.Ctx {
	t.Helper()
	r := plugintest.Build(t, "ip-restriction", cfg, nil)
	c := plugintest.New()
	c.ClientIPV = peer
	if xff != "" {
		c.ReqHeader.Set("X-Forwarded-For", xff)
	}
	act := r.Request(c)
	if wantStatus == 0 {
		if act != plugin.Continue || c.Answered {
			t.Fatalf("peer %s xff %q: refused with %d", peer, xff, c.StatusV)
		}
		return c
	}
	if act != plugin.Stop || c.StatusV != wantStatus {
		t.Fatalf("peer %s xff %q: action %v status %d, want %d", peer, xff, act, c.StatusV, wantStatus)
	}
	return c
}

func TestAllowDeny(t *testing.T) {
	cfg := map[string]any{"allow": []any{"10.0.0.0/8", "2001:db8::/32"}, "deny": []any{"10.6.6.0/24"}}
	check(t, cfg, "10.1.2.3", "", 0)
	check(t, cfg, "2001:db8::5", "", 0)
	check(t, cfg, "::ffff:10.1.2.3", "", 0)
	check(t, cfg, "10.6.6.6", "", 403)
	check(t, cfg, "192.0.2.1", "", 403)
	check(t, cfg, "2001:db9::1", "", 403)

	deny := map[string]any{"deny": []any{"192.0.2.0/24", "::1"}}
	check(t, deny, "10.1.2.3", "", 0)
	check(t, deny, "192.0.2.44", "", 403)
	check(t, deny, "::1", "", 403)
}

func TestTrustedProxies(t *testing.T) {
	cfg := map[string]any{"allow": []any{"198.51.100.0/24"}, "trustedProxies": []any{"10.0.0.0/8"}}
	check(t, cfg, "10.0.0.1", "198.51.100.7", 0)
	check(t, cfg, "10.0.0.1", "198.51.100.7, 10.0.0.2", 0)
	// The client cannot smuggle an allowed address left of its own.
	check(t, cfg, "10.0.0.1", "198.51.100.7, 203.0.113.5", 403)
	// An untrusted peer's header is ignored.
	check(t, cfg, "203.0.113.5", "198.51.100.7", 403)

	hdr := map[string]any{"allow": []any{"198.51.100.0/24"}, "trustedProxies": []any{"10.0.0.0/8"}, "clientIPHeader": "X-Real-IP"}
	r := plugintest.Build(t, "ip-restriction", hdr, nil)
	c := plugintest.New()
	c.ClientIPV = "10.0.0.1"
	c.ReqHeader.Set("X-Real-IP", "198.51.100.7")
	c.ReqHeader.Set("X-Forwarded-For", "203.0.113.5")
	if r.Request(c) != plugin.Continue {
		t.Fatal("X-Real-IP from a trusted proxy was not used")
	}
}

func TestRejection(t *testing.T) {
	c := check(t, map[string]any{"deny": []any{"127.0.0.1"}, "status": 404, "message": "nothing here\n"}, "127.0.0.1", "", 404)
	if string(c.RespBody) != "nothing here\n" {
		t.Fatalf("body %q", c.RespBody)
	}
	c = check(t, map[string]any{"deny": []any{"127.0.0.1"}}, "127.0.0.1", "", 403)
	if string(c.RespBody) != "Forbidden\n" {
		t.Fatalf("body %q", c.RespBody)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "allow or deny must list"},
		{map[string]any{"allow": []any{"10.0.0.0/40"}}, "allow[0]: must be an IP address or CIDR"},
		{map[string]any{"deny": []any{"x"}}, "deny[0]:"},
		{map[string]any{"deny": []any{"::1"}, "trustedProxies": []any{"1.2.3"}}, "trustedProxies[0]:"},
		{map[string]any{"deny": []any{"::1"}, "status": 200}, "status: must be 400-599"},
		{map[string]any{"deny": []any{"::1"}, "clientIPHeader": "X Real"}, "clientIPHeader:"},
	} {
		_, err := plugin.DecodeConfig("ip-restriction", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func newBench(tb testing.TB) (*Restriction, *benchctx.Ctx) {
	var cfg Config
	cfg.Default()
	cfg.Allow = []string{"192.168.0.0/16", "172.16.0.0/12", "2001:db8::/32", "198.51.100.0/24"}
	cfg.Deny = []string{"198.51.100.66/32"}
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	r, _ := build(&cfg, nil)
	c := benchctx.New("/", "X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1")
	c.IPB = []byte("10.0.0.1")
	return r, c
}

func BenchmarkRequest(b *testing.B) {
	r, c := newBench(b)
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		if r.Request(c, &s) != plugin.Continue {
			b.Fatal("refused")
		}
	}
}

func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	r, c := newBench(t)
	var s plugin.Slot
	if n := testing.AllocsPerRun(100, func() { r.Request(c, &s) }); n > 0 {
		t.Fatalf("%.1f allocations per request", n)
	}
}
