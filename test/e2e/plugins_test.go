package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// pluginConfig is liveConfig with one backend (services a and b both point
// at it) and extra top-level sections (global plugins, host policies).
func pluginConfig(listen, backend, sections string, routes ...string) string {
	return liveConfig(listen, backend, backend, routes...) + "\n" + sections
}

// A limit's count is plugin state: editing other routes, global plugins or
// this route's own timeouts must not reset it; changing its own config does.
func TestPluginStateSurvivesUnrelatedEdits(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	limited := route("limited", "limit.example.com", "a",
		`plugins: [{name: rate-limit, config: {rate: 3, period: 1h, key: route, algorithm: fixed-window}}]`)
	gw := startGateway(t, pluginConfig(listen, a, "", limited, route("other", "other.example.com", "a")))
	c := newClient()
	status := func() int { return do(t, c, "GET", "http://"+listen+"/", "limit.example.com").Status }
	for i := range 3 {
		if s := status(); s != 200 {
			t.Fatalf("request %d: %d", i+1, s)
		}
	}
	if s := status(); s != 429 {
		t.Fatalf("4th request: %d, want 429", s)
	}
	edits := []string{
		pluginConfig(listen, a, "", limited, route("other", "other.example.com", "a", `match: { path: { prefix: /v2 } }`)),
		pluginConfig(listen, a, "plugins:\n  - name: fault-injection\n    config: {abort: {status: 418, percent: 0}}\n",
			limited, route("other", "other.example.com", "a")),
		pluginConfig(listen, a, "", strings.TrimSuffix(limited, "\n")+"\n    timeouts: { request: 20s }\n", route("other", "other.example.com", "a")),
	}
	for i, cfg := range edits {
		before := gw.debugConfig().Version
		writeFile(t, gw.config, cfg)
		eventually(t, 2*time.Second, "edit applied", func() (bool, string) {
			st := gw.debugConfig()
			return st.Version > before && len(st.Rejected) == 0, fmt.Sprintf("version %d, rejected %v", st.Version, st.Rejected)
		})
		if s := status(); s != 429 {
			t.Fatalf("after unrelated edit %d the limit was reset: %d", i+1, s)
		}
	}
	writeFile(t, gw.config, pluginConfig(listen, a, "", route("limited", "limit.example.com", "a",
		`plugins: [{name: rate-limit, config: {rate: 4, period: 1h, key: route, algorithm: fixed-window}}]`), route("other", "other.example.com", "a")))
	eventually(t, 2*time.Second, "new limit live", func() (bool, string) {
		s := status()
		return s == 200, fmt.Sprint(s)
	})
}

// Global, host and route scopes: the narrowest wins by name, "disabled"
// removes an inherited plugin, and a bad config is rejected with the plugin
// and field named while the last good version keeps serving.
func TestPluginScopesEndToEnd(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	abort := func(status int) string {
		return fmt.Sprintf("{name: fault-injection, config: {abort: {status: %d, percent: 100}}}", status)
	}
	sections := "plugins:\n  - name: fault-injection\n    config: {abort: {status: 451, percent: 100}}\n" +
		"hostPolicies:\n  - hosts: [host.example.com]\n    plugins: [" + abort(452) + "]\n"
	gw := startGateway(t, pluginConfig(listen, a, sections,
		route("global", "global.example.com", "a"),
		route("host", "host.example.com", "a"),
		route("own", "own.example.com", "a", "plugins: ["+abort(453)+"]"),
		route("off", "off.example.com", "a", "plugins: [{name: fault-injection, disabled: true}]")))
	c := newClient()
	for host, want := range map[string]int{"global.example.com": 451, "host.example.com": 452, "own.example.com": 453, "off.example.com": 200} {
		if s := do(t, c, "GET", "http://"+listen+"/", host).Status; s != want {
			t.Errorf("%s: %d, want %d", host, s, want)
		}
	}

	writeFile(t, gw.config, pluginConfig(listen, a, sections,
		route("global", "global.example.com", "a"),
		route("host", "host.example.com", "a"),
		route("own", "own.example.com", "a", "plugins: [{name: fault-injection, config: {abort: {status: 99, percent: 100}}}]"),
		route("off", "off.example.com", "a", "plugins: [{name: fault-injection, disabled: true}]")))
	eventually(t, 2*time.Second, "bad plugin config rejected", func() (bool, string) {
		st := gw.debugConfig()
		for _, r := range st.Rejected {
			if strings.Contains(r.Object, "own") && strings.Contains(r.Error, "plugins[0].config.abort.status") && strings.Contains(r.Error, "fault-injection") {
				return true, ""
			}
		}
		return false, fmt.Sprint(st.Rejected)
	})
	if s := do(t, c, "GET", "http://"+listen+"/", "own.example.com").Status; s != 453 {
		t.Errorf("rejected edit: own answers %d, want the last good 453", s)
	}
	out, err := exec.Command(testenv.BuildPylon(t), "validate", "--config", gw.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `route "own": plugins[0].config.abort.status`) {
		t.Errorf("pylon validate: %v\n%s", err, out)
	}
}

// `pylon plugins` lists every built-in plugin; `pylon plugins NAME` its fields.
func TestPluginsCommand(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPylon(t)
	out, err := exec.Command(bin, "plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, name := range []string{"rate-limit", "concurrency-limit", "circuit-breaker", "traffic-split", "mirror",
		"compression", "headers", "rewrite", "redirect", "cors", "ip-restriction", "request-size", "fault-injection"} {
		if !strings.Contains(string(out), "\n"+name+" ") {
			t.Errorf("pylon plugins lacks %s:\n%s", name, out)
		}
	}
	out, err = exec.Command(bin, "plugins", "rate-limit").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^  rate +integer +required +requests per period per key`).Match(out) {
		t.Errorf("pylon plugins rate-limit: %v\n%s", err, out)
	}
}

// The admin API takes host policies and global plugins like any object,
// refuses a bad plugin config with the field named, and serves the catalog.
func TestPluginsThroughAdminAPI(t *testing.T) {
	t.Parallel()
	backend := backends.StartHTTP(t, "file")
	n := startNode(t, "plugins", backend, "", fileRoute)
	api := n.api(t)
	waitServed(t, n.listen, "file.example.com", "file", 2*time.Second)

	bad := map[string]any{"name": "fault-injection", "config": map[string]any{"abort": map[string]any{"status": 42}}}
	r := api.call("POST", "/api/v1/globalplugins", bad)
	if r.Status != 400 || !r.apiError(t).hasProblem("", "config.abort.status") {
		t.Fatalf("bad global plugin: %d %s", r.Status, r.Body)
	}
	policy := map[string]any{"name": "files", "hosts": []string{"file.example.com"}, "plugins": []map[string]any{
		{"name": "fault-injection", "config": map[string]any{"abort": map[string]any{"status": 451, "percent": 100}}}}}
	api.must(201, "POST", "/api/v1/hostpolicies", policy)
	c := newClient()
	eventually(t, time.Second, "host policy live", func() (bool, string) {
		_, st, err := servedBy(c, n.listen, "file.example.com")
		return err == nil && st == 451, fmt.Sprint(st, err)
	})
	api.must(200, "DELETE", "/api/v1/hostpolicies/files", nil)
	waitServed(t, n.listen, "file.example.com", "file", time.Second)

	r = api.must(200, "GET", "/api/v1/plugins/rate-limit", nil)
	if !strings.Contains(string(r.Body), `"schema"`) || !strings.Contains(string(r.Body), `"access"`) {
		t.Errorf("catalog entry: %s", r.Body)
	}
}
