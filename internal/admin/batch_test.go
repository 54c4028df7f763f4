package admin

import (
	"net/http"
	"testing"
)

func TestBatch(t *testing.T) {
	ts := newTestServer(t)
	// A route may use a service created in the same batch.
	r := ts.do("POST", "/api/v1/batch", `{"upserts":[
		{"kind":"route","object":`+routeX+`},
		{"kind":"service","object":`+svcA+`},
		{"kind":"routes","object":{"name":"y","directResponse":{"status":200}}}]}`)
	if r.code != 200 || ts.revision() != 1 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	v := r.version()
	if ups := r.body["upserts"].([]any); len(ups) != 3 || ups[0].(map[string]any)["version"].(float64) != float64(v) {
		t.Errorf("upserts = %v", ups)
	}
	// Deleting a route and its service together is fine; with a version too.
	r = ts.do("POST", "/api/v1/batch", `{"deletes":[{"kind":"route","name":"x","version":1},{"kind":"service","name":"a"}]}`)
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	if r := ts.do("GET", "/api/v1/services/a", ""); r.code != 404 {
		t.Errorf("service survived: %d", r.code)
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
		problems   [][3]string // item, object, field
	}{
		{"one bad object", `{"upserts":[
			{"kind":"service","object":` + svcA + `},
			{"kind":"route","object":{"name":"x","match":{"path":{"regex":"("}},"backends":[{"service":"a"}]}},
			{"kind":"service","object":{"name":"b","endpoints":[]}}]}`, 400,
			[][3]string{{"upserts[1]", "route/x", "match.path.regex"}, {"upserts[2]", "service/b", "endpoints"}}},
		{"decode problems", `{"upserts":[
			{"kind":"route","object":{"name":"x","bogus":1}},
			{"kind":"gizmo","object":{}},
			{"kind":"service","object":{"name":"a","endpoints":"127.0.0.1:1"}},
			{"kind":"service"}],
			"deletes":[{"kind":"route"}]}`, 400,
			[][3]string{{"upserts[0]", "route", "bogus"}, {"upserts[1]", "batch", "kind"}, {"upserts[2]", "service", "endpoints"},
				{"upserts[3]", "service", "object"}, {"deletes[0]", "route", "name"}}},
		{"checker rejects", `{"upserts":[{"kind":"route","object":{"name":"x","backends":[{"service":"a"},{"service":"nope"}]}}],
			"deletes":[{"kind":"service","name":"used"}]}`, 400,
			[][3]string{{"upserts[0]", "route/x", "backends[1].service"}, {"deletes[0]", "service/used", ""}}},
		{"duplicate", `{"upserts":[{"kind":"service","object":` + svcA + `}],"deletes":[{"kind":"service","name":"a"}]}`, 400,
			[][3]string{{"deletes[0]", "service/a", ""}}},
		{"stale version", `{"upserts":[{"kind":"service","object":` + svcA + `},{"kind":"route","object":{"name":"r","directResponse":{"status":200}},"version":99}]}`, 409, nil},
		{"batch structure", `{"upserts":{"kind":"route"}}`, 400, [][3]string{{"", "batch", "upserts"}}},
		{"unknown top field", `{"upserts":[],"creates":[]}`, 400, [][3]string{{"", "batch", "creates"}}},
		{"trailing", `{"upserts":[{"kind":"service","object":` + svcA + `}]}]`, 400, [][3]string{{"", "batch", ""}}},
		{"empty batch", `{}`, 400, [][3]string{{"", "batch", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.do("POST", "/api/v1/services", `{"name":"used","endpoints":["127.0.0.1:1"]}`)
			ts.do("POST", "/api/v1/routes", `{"name":"user","backends":[{"service":"used"}]}`)
			ts.do("POST", "/api/v1/routes", `{"name":"r","directResponse":{"status":200}}`)
			before := ts.revision()
			r := ts.do("POST", "/api/v1/batch", tc.body)
			if r.code != tc.code {
				t.Fatalf("status %d, want %d: %s", r.code, tc.code, r.raw)
			}
			if ts.revision() != before {
				t.Fatal("a failed batch wrote")
			}
			ps := r.problems()
			if len(ps) != len(tc.problems) {
				t.Fatalf("%d problems, want %d: %s", len(ps), len(tc.problems), r.raw)
			}
			for i, want := range tc.problems {
				p := ps[i]
				item, _ := p["item"].(string)
				field, _ := p["field"].(string)
				if item != want[0] || p["object"] != want[1] || field != want[2] || p["message"] == "" {
					t.Errorf("problem %d = %v, want %v", i, p, want)
				}
			}
			if tc.code == http.StatusConflict && r.body["object"] != "route/r" {
				t.Errorf("conflict names %v", r.body["object"])
			}
		})
	}
}

func TestBatchTooLargeForStore(t *testing.T) {
	st := newMemStore()
	st.maxOps = 2
	ts := newTestServer(t, func(d *Deps, _ *Options) { d.Store = st; d.Checker = refChecker{st} })
	ts.st = st
	r := ts.do("POST", "/api/v1/batch", `{"deletes":[{"kind":"route","name":"a"},{"kind":"route","name":"b"},{"kind":"route","name":"c"}]}`)
	if r.code != http.StatusRequestEntityTooLarge || ts.revision() != 0 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
}
