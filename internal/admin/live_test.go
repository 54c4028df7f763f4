package admin

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// liveServer is a test server whose Live view is a real compiler holding
// file and Kubernetes objects, as `pylon run` wires it.
func liveServer(t *testing.T) (*testServer, *compile.Compiler) {
	t.Helper()
	pools := upstream.NewRegistry()
	t.Cleanup(pools.Close)
	comp := compile.New(compile.Deps{Router: router.New[*proxy.Route](), Pools: pools, Certs: tlsindex.New(),
		Metrics: telemetry.NewMetrics(), Log: slog.New(slog.DiscardHandler)})
	ch := ir.Change{Upserts: []ir.Object{
		ir.NewObject("file", "default", &ir.Service{Name: "echo", Endpoints: []ir.Endpoint{{Address: "127.0.0.1:1"}}}),
		ir.NewObject("file", "default", &ir.Route{Name: "echo", Hosts: []string{"echo.test"}, Backends: []ir.Backend{{Service: "echo"}}}),
		ir.NewObject("kubernetes", "shop", &ir.Service{Name: "cart", Endpoints: []ir.Endpoint{{Address: "127.0.0.1:2"}}}),
		ir.NewObject("kubernetes", "shop", &ir.Route{Name: "cart-0", Hosts: []string{"shop.test"}, Backends: []ir.Backend{{Service: "cart"}}}),
	}}
	for i := range 5 {
		ch.Upserts = append(ch.Upserts, ir.NewObject("file", "default", &ir.Route{Name: fmt.Sprintf("f%d", i), Hosts: []string{fmt.Sprintf("f%d.test", i)}, DirectResponse: &ir.DirectResponse{Status: 204}}))
	}
	if res := comp.Check(ch); len(res.Rejected) > 0 {
		t.Fatal(res.Rejected)
	}
	comp.Apply(ch)
	ts := newTestServer(t, func(d *Deps, _ *Options) { d.Live = comp })
	return ts, comp
}

// TestLiveObjectsListed: lists and GET show the objects of files and
// Kubernetes beside the store's, each with its source, in name order and
// across pages.
func TestLiveObjectsListed(t *testing.T) {
	ts, _ := liveServer(t)
	for _, body := range []string{
		`{"name":"api","endpoints":["127.0.0.1:3"]}`,
	} {
		if r := ts.do("POST", "/api/v1/services", body); r.code != 201 {
			t.Fatalf("%d %s", r.code, r.raw)
		}
	}
	for _, name := range []string{"a-api", "g-api"} {
		if r := ts.do("POST", "/api/v1/routes", fmt.Sprintf(`{"name":%q,"backends":[{"service":"api"}]}`, name)); r.code != 201 {
			t.Fatalf("%d %s", r.code, r.raw)
		}
	}
	var got []string
	for token, pages := "", 0; ; pages++ {
		r := ts.do("GET", "/api/v1/routes?limit=3&continue="+token, "")
		if r.code != 200 || pages > 5 {
			t.Fatalf("page %d: %d %s", pages, r.code, r.raw)
		}
		for _, it := range r.body["items"].([]any) {
			e := it.(map[string]any)
			name := e["object"].(map[string]any)["name"].(string)
			if ns, _ := e["namespace"].(string); ns != "" {
				name = ns + "/" + name
			}
			got = append(got, fmt.Sprintf("%s:%s", e["source"], name))
		}
		if token, _ = r.body["continue"].(string); token == "" {
			break
		}
	}
	want := "api:a-api file:echo file:f0 file:f1 file:f2 file:f3 file:f4 api:g-api kubernetes:shop/cart-0"
	if strings.Join(got, " ") != want {
		t.Errorf("routes listed:\n got %v\nwant %s", got, want)
	}
	for _, tc := range []struct{ path, source string }{
		{"/api/v1/routes/echo", "file"},
		{"/api/v1/routes/shop/cart-0", "kubernetes"},
		{"/api/v1/services/shop/cart", "kubernetes"},
		{"/api/v1/routes/a-api", "api"},
	} {
		r := ts.do("GET", tc.path, "")
		if r.code != 200 || r.body["source"] != tc.source {
			t.Errorf("GET %s: %d %s, want source %s", tc.path, r.code, r.raw, tc.source)
		}
	}
	if r := ts.do("GET", "/api/v1/routes/cart-0", ""); r.code != 404 {
		t.Errorf("a Kubernetes object without its namespace: %d %s", r.code, r.raw)
	}
}

// TestLiveObjectsReadOnly: a write to an object of a file or of Kubernetes
// is a 409 naming its source, and writes nothing; a stored object that
// shares a file object's name stays deletable.
func TestLiveObjectsReadOnly(t *testing.T) {
	ts, comp := liveServer(t)
	route := `{"name":"echo","hosts":["other.test"],"backends":[{"service":"echo"}]}`
	for _, tc := range []struct {
		name, method, path, body, source string
	}{
		{"create", "POST", "/api/v1/routes", route, "file"},
		{"replace", "PUT", "/api/v1/routes/echo", route, "file"},
		{"delete", "DELETE", "/api/v1/routes/echo", "", "file"},
		{"delete a file service", "DELETE", "/api/v1/services/echo", "", "file"},
		{"replace a Kubernetes route", "PUT", "/api/v1/routes/shop/cart-0", `{"name":"shop/cart-0","directResponse":{"status":200}}`, "kubernetes"},
		{"delete a Kubernetes route", "DELETE", "/api/v1/routes/shop/cart-0", "", "kubernetes"},
		{"a batch", "POST", "/api/v1/batch", `{"upserts":[{"kind":"route","object":{"name":"new","directResponse":{"status":200}}}],"deletes":[{"kind":"route","name":"f1"}]}`, "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.revision()
			r := ts.do(tc.method, tc.path, tc.body)
			if r.code != http.StatusConflict || r.body["source"] != tc.source || !strings.Contains(r.raw, fmt.Sprintf(`source \"%s\"`, tc.source)) || !strings.Contains(r.raw, "read-only") {
				t.Fatalf("%d %s, want 409 naming source %s", r.code, r.raw, tc.source)
			}
			if ts.revision() != before {
				t.Error("a refused write wrote")
			}
		})
	}
	if r := ts.do("POST", "/api/v1/batch", `{"deletes":[{"kind":"route","name":"f1"}]}`); r.code != 409 || !strings.Contains(r.raw, `"item":"deletes[0]"`) {
		t.Errorf("batch problem without its item: %d %s", r.code, r.raw)
	}

	// A stored route that a file defines too (stored before the file had
	// it) can still be deleted, to end the collision.
	if r := ts.do("POST", "/api/v1/routes", `{"name":"late","directResponse":{"status":200}}`); r.code != 201 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	late := ir.NewObject("file", "default", &ir.Route{Name: "late", Hosts: []string{"late.test"}, DirectResponse: &ir.DirectResponse{Status: 204}})
	comp.Apply(ir.Change{Upserts: []ir.Object{late}})
	if r := ts.do("DELETE", "/api/v1/routes/late", ""); r.code != 200 {
		t.Errorf("delete of a stored object a file also defines: %d %s", r.code, r.raw)
	}
}
