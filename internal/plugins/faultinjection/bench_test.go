package faultinjection

import (
	"testing"

	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

var benchCases = []struct{ name, cfg string }{
	{"no-match", `{"abort":{"status":503},"headers":[{"name":"x-fault","exact":"on"}]}`},
	{"abort-10pct", `{"abort":{"status":503,"body":"injected","percent":10}}`},
	{"abort-header", `{"abort":{"status":503},"headers":[{"name":"x-test","regex":"fault-.*"}]}`},
}

func BenchmarkAccess(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			r := plugintest.Build(b, "fault-injection", parse(b, bc.cfg), nil)
			c := benchctx.New("/", "x-test", "fault-1")
			b.ReportAllocs()
			for b.Loop() {
				c.Answered = false
				r.Request(c)
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, bc := range benchCases {
		r := plugintest.Build(t, "fault-injection", parse(t, bc.cfg), nil)
		c := benchctx.New("/", "x-test", "fault-1")
		if n := testing.AllocsPerRun(1000, func() { c.Answered = false; r.Request(c) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", bc.name, n)
		}
	}
}
