package plugin_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

type countConfig struct {
	Limit int    `json:"limit"`
	Label string `json:"label,omitempty"`
}

func (c *countConfig) Default() { c.Label = "x" }

func (c *countConfig) Validate() error {
	if c.Limit <= 0 {
		return errors.Join(plugin.Errorf("limit", "must be > 0 (got %d)", c.Limit))
	}
	return nil
}

// counter is a plugin with state that must outlive chains.
type counter struct {
	n      *atomic.Int64
	closed *atomic.Bool
}

type closeFlag struct{ closed atomic.Bool }

func (c *closeFlag) Close() error { c.closed.Store(true); return nil }

func (c *counter) Access(ctx plugin.Ctx, s *plugin.Slot) plugin.Action {
	c.n.Add(1)
	s.N = 1
	return plugin.Continue
}

type panicky struct{}

func (panicky) Request(plugin.Ctx, *plugin.Slot) plugin.Action { panic("boom") }

type upper struct{}

func (upper) ResponseBody(_ plugin.Ctx, _ *plugin.Slot, w io.Writer) io.WriteCloser {
	return upperWriter{w}
}

type upperWriter struct{ w io.Writer }

func (u upperWriter) Write(p []byte) (int, error) {
	return u.w.Write([]byte(strings.ToUpper(string(p))))
}
func (u upperWriter) Close() error { return nil }

type prefix struct{ p string }

func (p prefix) ResponseBody(_ plugin.Ctx, _ *plugin.Slot, w io.Writer) io.WriteCloser {
	return prefixWriter{w, p.p}
}

type prefixWriter struct {
	w io.Writer
	p string
}

func (u prefixWriter) Write(b []byte) (int, error) { return u.w.Write(append([]byte(u.p), b...)) }
func (u prefixWriter) Close() error                { return nil }

func init() {
	plugin.RegisterTesting("t-count", func(cfg *countConfig, env *plugin.Env) (*counter, error) {
		st := env.State("", func() any { return &closeFlag{} }).(*closeFlag)
		n := env.SharedState("count/"+cfg.Label, func() any { return new(atomic.Int64) }).(*atomic.Int64)
		return &counter{n: n, closed: &st.closed}, nil
	})
	plugin.RegisterTesting("t-panic", func(cfg *struct{}, env *plugin.Env) (panicky, error) { return panicky{}, nil })
	plugin.RegisterTesting("t-upper", func(cfg *struct{}, env *plugin.Env) (upper, error) { return upper{}, nil })
	plugin.RegisterTesting("t-prefix", func(cfg *struct{}, env *plugin.Env) (prefix, error) { return prefix{">"}, nil })
}

func TestDecodeConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"limit": 0}, "limit: must be > 0 (got 0)"},
		{map[string]any{"limit": "ten"}, "limit: must be int, not string"},
		{map[string]any{"limit": 1, "extra": true}, "extra: unknown field"},
	} {
		_, err := plugin.DecodeConfig("t-count", tc.cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := plugin.DecodeConfig("no-such", nil); err == nil || !strings.Contains(err.Error(), `unknown plugin "no-such"`) {
		t.Errorf("unknown plugin: %v", err)
	}
	cfg, err := plugin.DecodeConfig("t-count", map[string]any{"limit": 3})
	if err != nil || cfg.(*countConfig).Label != "x" {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
}

func TestMergeNarrowScopeWinsAndOrderIsTheTable(t *testing.T) {
	g := []plugin.Ref{{Scope: plugin.Scope{Kind: "global"}, Name: "compression"}, {Scope: plugin.Scope{Kind: "global"}, Name: "rate-limit", Config: map[string]any{"rate": 1}}}
	h := []plugin.Ref{{Scope: plugin.Scope{Kind: "host", Name: "h"}, Name: "rate-limit", Config: map[string]any{"rate": 2}}}
	r := []plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "compression", Disabled: true}, {Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "ip-restriction"}}
	got := plugin.Merge(g, h, r)
	if len(got) != 2 || got[0].Name != "ip-restriction" || got[1].Name != "rate-limit" || got[1].Config["rate"] != 2 {
		t.Fatalf("merged: %+v", got)
	}
}

func TestStateSurvivesRebuiltChainsAndGoesWithTheLastUser(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	ref := plugin.Ref{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "t-count", Config: map[string]any{"limit": 1}}
	old := rt.Chain([]plugin.Ref{ref})
	var run plugin.Runner
	run.Reset(old, "default", rt.Metrics(), nil)
	run.Request(plugintest.New())
	// A config change elsewhere rebuilds the route: the new chain takes the
	// instance before the old one is released, so the count carries over.
	other := rt.Chain([]plugin.Ref{ref, {Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "t-upper"}})
	rt.Release(old)
	run.Reset(other, "default", rt.Metrics(), nil)
	run.Request(plugintest.New())
	c := other.Names()
	if len(c) != 2 || c[0] != "t-count" {
		t.Fatalf("chain: %v", c)
	}
	if rt.Instances() != 2 {
		t.Fatalf("instances: %d", rt.Instances())
	}
	n := rt.State().Len()
	rt.Release(other)
	if rt.Instances() != 0 || rt.State().Len() != 0 || n != 2 {
		t.Fatalf("after release: %d instances, %d state (had %d)", rt.Instances(), rt.State().Len(), n)
	}
}

func TestIdenticalChainsAreShared(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	ref := plugin.Ref{Scope: plugin.Scope{Kind: "global"}, Name: "t-count", Config: map[string]any{"limit": 1}}
	a, b := rt.Chain([]plugin.Ref{ref}), rt.Chain([]plugin.Ref{ref})
	if a != b || rt.Instances() != 1 {
		t.Fatalf("not shared: %p %p, %d instances", a, b, rt.Instances())
	}
	rt.Release(a)
	if rt.Instances() != 1 {
		t.Fatal("released while still used")
	}
	rt.Release(b)
	if rt.Instances() != 0 {
		t.Fatal("not released")
	}
}

func TestPanicIsAnsweredAndCounted(t *testing.T) {
	r := plugintest.Build(t, "t-panic", nil, nil)
	c := plugintest.New()
	if r.Request(c) != plugin.Stop || c.StatusV != 500 {
		t.Fatalf("status %d", c.StatusV)
	}
}

func TestBodyFiltersRunInTableOrder(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	s := plugin.Scope{Kind: "route", Name: "r"}
	ch := rt.Chain(plugin.Merge([]plugin.Ref{{Scope: s, Name: "t-upper"}, {Scope: s, Name: "t-prefix"}}))
	defer rt.Release(ch)
	var run plugin.Runner
	run.Reset(ch, "default", rt.Metrics(), nil)
	var out strings.Builder
	bw, ok := run.Body(plugintest.New(), &out)
	if !ok {
		t.Fatal("no body filter")
	}
	_, _ = bw.Write([]byte("abc"))
	_ = bw.Close()
	// t-upper registered first, so it runs first: its output goes through t-prefix.
	if out.String() != ">ABC" {
		t.Fatalf("got %q", out.String())
	}
}

func TestMembersCountsOneUntilSet(t *testing.T) {
	m := plugin.NewMembers()
	if m.Live() != 1 {
		t.Fatal(m.Live())
	}
	ch := m.Changed()
	src := &fixedMembers{n: 3, ch: make(chan struct{})}
	m.Set(src)
	<-ch
	if m.Live() != 3 {
		t.Fatal(m.Live())
	}
	ch = m.Changed()
	src.n = 2
	src.ch <- struct{}{}
	<-ch
	if m.Live() != 2 {
		t.Fatal(m.Live())
	}
}

type fixedMembers struct {
	n  int
	ch chan struct{}
}

func (f *fixedMembers) Live() int                { return f.n }
func (f *fixedMembers) Changed() <-chan struct{} { return f.ch }

// docs/plugins.md carries the ordering table; it must match order.go.
func TestDocsOrderTableMatches(t *testing.T) {
	data, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		name, why, ok := plugin.OrderAt(i)
		if !ok {
			break
		}
		row := fmt.Sprintf("| %d | %s | %s |", i, name, why)
		if !strings.Contains(string(data), row) {
			t.Errorf("docs/plugins.md lacks the row %q", row)
		}
	}
}

type durConfig struct {
	Outer struct {
		Every ir.Duration `json:"every"`
	} `json:"outer"`
	List []struct {
		Wait ir.Duration `json:"wait"`
	} `json:"list,omitempty"`
}

func init() {
	plugin.RegisterTesting("t-dur", func(cfg *durConfig, env *plugin.Env) (panicky, error) { return panicky{}, nil })
}

// A type that decodes itself (a duration) fails without naming its field;
// the error must still say where.
func TestDecodeConfigLocatesCustomDecoderErrors(t *testing.T) {
	_, err := plugin.DecodeConfig("t-dur", map[string]any{"outer": map[string]any{"every": "-5s"}})
	if err == nil || !strings.HasPrefix(err.Error(), "outer.every: ") {
		t.Errorf("got %v", err)
	}
	_, err = plugin.DecodeConfig("t-dur", map[string]any{"outer": map[string]any{"every": "1s"}, "list": []any{map[string]any{"wait": "1s"}, map[string]any{"wait": "soon"}}})
	if err == nil || !strings.HasPrefix(err.Error(), "list[1].wait: ") {
		t.Errorf("got %v", err)
	}
}
