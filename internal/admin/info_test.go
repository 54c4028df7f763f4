package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/store"
)

func TestOpenAPI(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do("GET", "/api/v1/openapi.json", "")
	var doc struct {
		OpenAPI    string                    `json:"openapi"`
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if r.code != 200 || json.Unmarshal([]byte(r.raw), &doc) != nil || !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("%d %.200s", r.code, r.raw)
	}
	want := map[string][]string{
		"/api/v1/batch": {"post"}, "/api/v1/status": {"get"}, "/api/v1/nodes": {"get"},
		"/api/v1/plugins": {"get"}, "/api/v1/plugins/{name}": {"get"}, "/api/v1/openapi.json": {"get"},
	}
	for _, p := range []string{"routes", "services", "certificates", "listeners", "hostpolicies", "globalplugins", "consumers", "discoveryproviders"} {
		want["/api/v1/"+p] = []string{"get", "post"}
		want["/api/v1/"+p+"/{name}"] = []string{"get", "put", "delete"}
	}
	for path, methods := range want {
		for _, m := range methods {
			if doc.Paths[path][m] == nil {
				t.Errorf("missing %s %s", m, path)
			}
		}
	}
	if len(doc.Paths) != len(want) {
		t.Errorf("%d paths, want %d", len(doc.Paths), len(want))
	}
	// Schemas follow the json tags.
	route := doc.Components.Schemas["Route"]
	for _, f := range []string{"name", "hosts", "match", "backends", "directResponse", "retries"} {
		if route.Properties[f] == nil {
			t.Errorf("Route schema lacks %s", f)
		}
	}
	if svc := doc.Components.Schemas["Service"]; !contains(svc.Required, "endpoints") || !contains(svc.Required, "name") {
		t.Errorf("Service required = %v", svc.Required)
	}
	for _, s := range []string{"Certificate", "Listener", "RouteEnvelope", "Problem", "BatchRequest"} {
		if _, ok := doc.Components.Schemas[s]; !ok {
			t.Errorf("no schema %s", s)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestStatusNodesPlugins(t *testing.T) {
	applied := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := newTestServer(t, func(d *Deps, _ *Options) {
		d.Status = func() Status {
			return Status{ConfigVersion: 7, Objects: map[string]int{"route": 3}, Rejected: 1, LastPropagation: 1500 * time.Microsecond,
				LastApplied: applied, Store: store.Status{Synced: true, Revision: 42}, Node: "n1"}
		}
	})
	r := ts.do("GET", "/api/v1/status", "")
	want := `{"node":"n1","configVersion":7,"objects":{"route":3},"rejected":1,"lastPropagation":"1.5ms","lastApplied":"2026-01-02T03:04:05Z","store":{"synced":true,"revision":42}}`
	if r.code != 200 || strings.TrimSpace(r.raw) != want {
		t.Errorf("status: %d\n got %s\nwant %s", r.code, r.raw, want)
	}
	r = ts.do("GET", "/api/v1/nodes", "")
	items, _ := r.body["items"].([]any)
	if r.code != 200 || len(items) != 1 || items[0].(map[string]any)["name"] != "n1" || items[0].(map[string]any)["revision"].(float64) != 42 {
		t.Errorf("nodes: %d %s", r.code, r.raw)
	}
	r = ts.do("GET", "/api/v1/plugins", "")
	if r.code != 200 || !strings.HasPrefix(r.raw, `{"items":[`) {
		t.Errorf("plugins: %d %s", r.code, r.raw)
	}
	r = ts.do("GET", "/api/v1/plugins/a-test-plugin", "")
	if r.code != 200 || r.body["summary"] != "test plugin" || r.body["schema"].(map[string]any)["properties"].(map[string]any)["limit"] == nil {
		t.Errorf("plugin: %d %s", r.code, r.raw)
	}
	if r := ts.do("GET", "/api/v1/plugins/nope", ""); r.code != 404 {
		t.Errorf("unknown plugin: %d", r.code)
	}

	cluster := newTestServer(t, func(d *Deps, _ *Options) {
		d.Nodes = func(context.Context) ([]NodeInfo, error) {
			return []NodeInfo{{Name: "a"}, {Name: "b"}}, nil
		}
	})
	if r := cluster.do("GET", "/api/v1/nodes", ""); r.code != 200 || len(r.body["items"].([]any)) != 2 {
		t.Errorf("cluster nodes: %d %s", r.code, r.raw)
	}
	down := newTestServer(t, func(d *Deps, _ *Options) {
		d.Nodes = func(context.Context) ([]NodeInfo, error) { return nil, errors.New("etcd: no leader") }
	})
	if r := down.do("GET", "/api/v1/nodes", ""); r.code != 503 {
		t.Errorf("nodes down: %d %s", r.code, r.raw)
	}
	// Without Deps.Status the store's own status is shown.
	if r := newTestServer(t).do("GET", "/api/v1/status", ""); r.code != 200 || r.body["store"].(map[string]any)["synced"] != true {
		t.Errorf("bare status: %s", r.raw)
	}
}
