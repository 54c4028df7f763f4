package trafficsplit

import (
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

// cookieCtx answers one cookie without parsing (plugintest's Cookie
// allocates), so the benchmark counts only the plugin.
type cookieCtx struct {
	*benchctx.Ctx
	name  string
	value []byte
}

func (c *cookieCtx) Cookie(name string) ([]byte, bool) {
	if name == c.name {
		return c.value, true
	}
	return nil, false
}

var benchCases = []struct {
	name string
	cfg  map[string]any
}{
	{"header-exact", rules(map[string]any{"service": "canary", "header": map[string]any{"name": "x-canary", "exact": "yes"}, "tag": map[string]any{"value": "gray"}})},
	{"header-regex", rules(map[string]any{"service": "canary", "header": map[string]any{"name": "user-agent", "regex": ".*Beta/[0-9]+"}})},
	{"weight", rules(map[string]any{"service": "canary", "weight": 10})},
	{"stable-header", rules(map[string]any{"service": "canary", "weight": 10, "hashOn": map[string]any{"header": "x-user-id"}, "tag": map[string]any{"value": "gray"}})},
	{"stable-cookie-fnv", map[string]any{"hash": "fnv", "rules": []any{map[string]any{"service": "canary", "weight": 10, "hashOn": map[string]any{"cookie": "uid"}}}}},
}

func benchCtx() *cookieCtx {
	c := &cookieCtx{Ctx: benchctx.New("/", "x-canary", "yes", "user-agent", "App Beta/12", "x-user-id", "user-12345"),
		name: "uid", value: []byte("user-12345")}
	c.ServiceList = []string{"stable", "canary"}
	return c
}

func BenchmarkSplit(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			r := plugintest.Build(b, "traffic-split", bc.cfg, nil)
			c := benchCtx()
			b.ReportAllocs()
			for b.Loop() {
				c.Chosen = ""
				r.Upstream(c)
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, bc := range benchCases {
		r := plugintest.Build(t, "traffic-split", bc.cfg, nil)
		c := benchCtx()
		var ctx plugin.Ctx = c
		if n := testing.AllocsPerRun(1000, func() {
			c.Chosen = ""
			r.Upstream(ctx)
		}); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", bc.name, n)
		}
	}
}
