package plugin_test

import (
	"bytes"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

type traceConfig struct {
	Label string `json:"label"`
}

// tracer appends "phase:label" to the X-Trace response header in each
// phase, so a test reads which plugins ran, in which order.
type tracer struct{ label string }

func (t tracer) add(c plugin.Ctx, phase string) {
	if t.label == "" {
		return // silent (benchmarks)
	}
	c.AddResponseHeader("X-Trace", phase+":"+t.label)
}
func (t tracer) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	t.add(c, "access")
	return plugin.Continue
}
func (t tracer) Upstream(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	t.add(c, "upstream")
	return plugin.Continue
}
func (t tracer) Response(c plugin.Ctx, _ *plugin.Slot) { t.add(c, "response") }

// namer authenticates: the X-User request header names the consumer.
type namer struct{}

func (namer) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if u, ok := c.Header("X-User"); ok {
		c.SetConsumer(string(u))
	}
	return plugin.Continue
}

// refuser answers 429 from the access phase.
type refuser struct{}

func (refuser) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	c.Respond(429, []byte("slow down\n"))
	return plugin.Stop
}

func init() {
	// Registration order is execution order for test plugins.
	plugin.RegisterTesting("t-trace-a", func(cfg *traceConfig, env *plugin.Env) (tracer, error) { return tracer{cfg.Label}, nil })
	plugin.RegisterTesting("t-namer", func(cfg *struct{}, env *plugin.Env) (namer, error) { return namer{}, nil })
	plugin.RegisterTesting("t-trace-b", func(cfg *traceConfig, env *plugin.Env) (tracer, error) { return tracer{cfg.Label}, nil })
	plugin.RegisterTesting("t-refuse", func(cfg *struct{}, env *plugin.Env) (refuser, error) { return refuser{}, nil })
	plugin.RegisterTesting("t-trace-c", func(cfg *traceConfig, env *plugin.Env) (tracer, error) { return tracer{cfg.Label}, nil })
}

func route(name string, cfg map[string]any) plugin.Ref {
	return plugin.Ref{Scope: plugin.Scope{Kind: "route", Name: "r"}, Namespace: "default", Name: name, Config: cfg}
}

func consumerRef(name string, cfg map[string]any, disabled bool) plugin.Ref {
	return plugin.Ref{Scope: plugin.Scope{Kind: "consumer", Name: "alice"}, Namespace: "default", Name: name, Config: cfg, Disabled: disabled}
}

// run sends one request with X-User user through ch and returns the trace.
func run(t *testing.T, rt *plugin.Runtime, ch *plugin.Chain, user string) (string, *plugintest.Ctx) {
	t.Helper()
	c := plugintest.New()
	if user != "" {
		c.ReqHeader.Set("X-User", user)
	}
	var r plugin.Runner
	r.Reset(ch, "default", rt.Metrics(), nil)
	if r.Request(c) == plugin.Continue && r.Upstream(c) == plugin.Continue {
		r.Response(c)
	}
	return strings.Join(c.RespHeader.Values("X-Trace"), " "), c
}

func TestConsumerPluginsMergeAfterAuth(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	ch := rt.Chain(plugin.Merge([]plugin.Ref{
		route("t-trace-a", map[string]any{"label": "route"}),
		route("t-namer", nil),
		route("t-trace-b", map[string]any{"label": "route"}),
		route("t-trace-c", map[string]any{"label": "route"}),
	}))
	defer rt.Release(ch)

	before, _ := run(t, rt, ch, "alice")
	want := "access:route access:route access:route upstream:route upstream:route upstream:route response:route response:route response:route"
	if before != want {
		t.Fatalf("without consumers: %q, want %q", before, want)
	}

	alice := rt.ConsumerFor("alice", []plugin.Ref{
		consumerRef("t-trace-b", map[string]any{"label": "alice"}, false), // replaces the route's
		consumerRef("t-trace-c", nil, true),                               // removes the route's
	})
	old := rt.PublishConsumers(map[plugin.ConsumerKey]*plugin.Consumer{{Namespace: "default", Name: "alice"}: alice})
	if len(old) != 0 {
		t.Fatalf("first publish replaced %d", len(old))
	}
	got, _ := run(t, rt, ch, "alice")
	want = "access:route access:alice upstream:route upstream:alice response:route response:alice"
	if got != want {
		t.Fatalf("alice: %q, want %q", got, want)
	}
	// Another client, no client, and alice in another namespace: the route's plugins only.
	for _, user := range []string{"bob", ""} {
		if got, _ := run(t, rt, ch, user); got != before {
			t.Errorf("user %q: %q, want the route's %q", user, got, before)
		}
	}
	c := plugintest.New()
	c.ReqHeader.Set("X-User", "alice")
	var r plugin.Runner
	r.Reset(ch, "other", rt.Metrics(), nil)
	r.Request(c)
	if r.Consumer() != nil {
		t.Error("a consumer of namespace default applied to a route of namespace other")
	}

	// Deleting the consumer hands it back for release; requests go back.
	old = rt.PublishConsumers(map[plugin.ConsumerKey]*plugin.Consumer{{Namespace: "default", Name: "alice"}: nil})
	if len(old) != 1 || old[0] != alice {
		t.Fatalf("delete returned %v", old)
	}
	rt.ReleaseConsumer(alice)
	if got, _ := run(t, rt, ch, "alice"); got != before {
		t.Errorf("after delete: %q, want %q", got, before)
	}
}

func TestConsumerPluginCanAnswer(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	ch := rt.Chain(plugin.Merge([]plugin.Ref{route("t-namer", nil), route("t-trace-c", map[string]any{"label": "route"})}))
	defer rt.Release(ch)
	cs := rt.ConsumerFor("alice", []plugin.Ref{consumerRef("t-refuse", nil, false)})
	rt.PublishConsumers(map[plugin.ConsumerKey]*plugin.Consumer{{Namespace: "default", Name: "alice"}: cs})
	defer rt.ReleaseConsumer(cs)

	got, c := run(t, rt, ch, "alice")
	if c.StatusV != 429 || !bytes.Equal(c.RespBody, []byte("slow down\n")) || got != "" {
		t.Fatalf("alice: status %d body %q trace %q; want the consumer's 429 before the route's later plugins", c.StatusV, c.RespBody, got)
	}
	if got, c := run(t, rt, ch, "bob"); c.Answered || got != "access:route upstream:route response:route" {
		t.Fatalf("bob: answered %v trace %q", c.Answered, got)
	}
}

// BenchmarkRunnerConsumer: a request through an auth plugin and three
// tracers, without a consumer and with one replacing a plugin; the lookup
// and merge must not allocate.
func BenchmarkRunnerConsumer(b *testing.B) {
	rt := plugin.NewRuntime(nil, nil)
	ch := rt.Chain(plugin.Merge([]plugin.Ref{
		route("t-trace-a", nil),
		route("t-namer", nil),
		route("t-trace-b", nil),
		route("t-trace-c", nil),
	}))
	cs := rt.ConsumerFor("alice", []plugin.Ref{consumerRef("t-trace-b", map[string]any{"label": ""}, false)})
	rt.PublishConsumers(map[plugin.ConsumerKey]*plugin.Consumer{{Namespace: "default", Name: "alice"}: cs})
	for _, user := range []string{"none", "alice"} {
		b.Run(user, func(b *testing.B) {
			c := plugintest.New()
			c.ReqHeader.Set("X-User", user)
			var r plugin.Runner
			b.ReportAllocs()
			for b.Loop() {
				c.ConsumerV = ""
				r.Reset(ch, "default", nil, nil)
				r.Request(c)
				r.Upstream(c)
			}
		})
	}
}
