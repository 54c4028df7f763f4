package plugintest

import (
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// Build decodes cfg for the named plugin and builds a one-plugin chain on a
// fresh runtime (standalone unless members is set), released in t.Cleanup.
// It fails the test when the config is invalid.
func Build(t testing.TB, name string, cfg map[string]any, members plugin.Membership) *plugin.Runner {
	t.Helper()
	if _, err := plugin.DecodeConfig(name, cfg); err != nil {
		t.Fatalf("%s config: %v", name, err)
	}
	rt := plugin.NewRuntime(members, nil)
	ch := rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "test"}, Name: name, Config: cfg}})
	t.Cleanup(func() { rt.Release(ch) })
	r := &plugin.Runner{}
	r.Reset(ch, "default", rt.Metrics(), nil)
	return r
}
