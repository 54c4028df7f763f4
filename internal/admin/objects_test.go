package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestCRUDRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do("POST", "/api/v1/services", svcA)
	if r.code != http.StatusCreated || r.body["kind"] != "service" || r.version() == 0 {
		t.Fatalf("create service: %d %s", r.code, r.raw)
	}
	if loc := r.h.Get("Location"); loc != "/api/v1/services/a" {
		t.Errorf("Location = %q", loc)
	}
	r = ts.do("POST", "/api/v1/routes", routeX, "Content-Type", "text/plain") // any Content-Type with a JSON body
	if r.code != http.StatusCreated {
		t.Fatalf("create route: %d %s", r.code, r.raw)
	}
	v1 := r.version()

	r = ts.do("GET", "/api/v1/routes/x", "")
	if r.code != 200 || r.version() != v1 || r.h.Get("ETag") != fmt.Sprintf(`"%d"`, v1) {
		t.Fatalf("get: %d %v %s", r.code, r.h, r.raw)
	}
	if o := r.object(); o["name"] != "x" || o["hosts"].([]any)[0] != "x.test" {
		t.Errorf("object = %v", o)
	}

	// Replace through the envelope GET returned, with its version.
	env := strings.Replace(r.raw, `"x.test"`, `"y.test"`, 1)
	r = ts.do("PUT", "/api/v1/routes/x", env)
	if r.code != 200 || r.version() <= v1 || r.object()["hosts"].([]any)[0] != "y.test" {
		t.Fatalf("put envelope: %d %s", r.code, r.raw)
	}
	v2 := r.version()
	// A bare object with If-Match.
	r = ts.do("PUT", "/api/v1/routes/x", routeX, "If-Match", fmt.Sprintf(`"%d"`, v2))
	if r.code != 200 {
		t.Fatalf("put If-Match: %d %s", r.code, r.raw)
	}
	// PUT of a new name creates.
	r = ts.do("PUT", "/api/v1/routes/z", `{"name":"z","directResponse":{"status":204}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("put create: %d %s", r.code, r.raw)
	}

	r = ts.do("GET", "/api/v1/routes", "")
	if items := r.body["items"].([]any); r.code != 200 || len(items) != 2 || r.body["continue"] != nil {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}

	r = ts.do("DELETE", "/api/v1/routes/x", "")
	if r.code != 200 || r.object()["name"] != "x" {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	for _, p := range []string{"/api/v1/routes/x"} {
		if r := ts.do("GET", p, ""); r.code != 404 || r.body["object"] != "route/x" {
			t.Errorf("GET after delete: %d %s", r.code, r.raw)
		}
		if r := ts.do("DELETE", p, ""); r.code != 404 {
			t.Errorf("DELETE twice: %d %s", r.code, r.raw)
		}
	}
}

func TestNamesWithSlash(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do("POST", "/api/v1/services", `{"name":"team/a","endpoints":["127.0.0.1:1"]}`)
	if r.code != 201 || r.h.Get("Location") != "/api/v1/services/team/a" {
		t.Fatalf("%d %v %s", r.code, r.h, r.raw)
	}
	if r := ts.do("GET", "/api/v1/services/team/a", ""); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
}

func TestPagination(t *testing.T) {
	ts := newTestServer(t)
	for i := range 250 {
		body := fmt.Sprintf(`{"name":"s%03d","endpoints":["127.0.0.1:%d"]}`, i, 1000+i)
		if r := ts.do("POST", "/api/v1/services", body); r.code != 201 {
			t.Fatalf("create %d: %d %s", i, r.code, r.raw)
		}
	}
	var names []string
	pages := 0
	for token := ""; ; pages++ {
		r := ts.do("GET", "/api/v1/services?limit=100&continue="+token, "")
		if r.code != 200 {
			t.Fatalf("page %d: %d %s", pages, r.code, r.raw)
		}
		for _, it := range r.body["items"].([]any) {
			e := it.(map[string]any)
			if e["kind"] != "service" || e["version"].(float64) == 0 {
				t.Fatalf("item %v", e)
			}
			names = append(names, e["object"].(map[string]any)["name"].(string))
		}
		c, _ := r.body["continue"].(string)
		if c == "" {
			break
		}
		token = c
	}
	if pages != 2 || len(names) != 250 {
		t.Fatalf("%d pages, %d names", pages+1, len(names))
	}
	for i, n := range names {
		if want := fmt.Sprintf("s%03d", i); n != want {
			t.Fatalf("names[%d] = %s, want %s", i, n, want)
		}
	}
	// A token that is not one, or one of another list, is refused naming
	// the parameter: an empty page would read as "nothing more".
	for _, tc := range []struct{ query, param string }{
		{"limit=0", "limit"}, {"limit=x", "limit"}, {"continue=!!", "continue"},
		{"continue=garbage", "continue"}, {"continue=" + continueToken("route", "s100"), "continue"},
	} {
		if r := ts.do("GET", "/api/v1/services?"+tc.query, ""); r.code != 400 || !strings.Contains(r.raw, "parameter "+tc.param) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.query, r.code, r.raw, tc.param)
		}
	}
}

func TestConflicts(t *testing.T) {
	ts := newTestServer(t)
	v := ts.do("POST", "/api/v1/services", svcA).version()
	cur := ts.do("PUT", "/api/v1/services/a", svcA).version() // a second write: v is now stale
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		want                     int64 // version in the 409
	}{
		{"create existing", "POST", "/api/v1/services", svcA, nil, cur},
		{"stale If-Match", "PUT", "/api/v1/services/a", svcA, []string{"If-Match", fmt.Sprintf(`"%d"`, v)}, cur},
		{"stale envelope", "PUT", "/api/v1/services/a", fmt.Sprintf(`{"version":%d,"object":%s}`, v, svcA), nil, cur},
		{"stale delete", "DELETE", "/api/v1/services/a", "", []string{"If-Match", fmt.Sprint(v)}, cur},
		{"If-Match * on missing", "PUT", "/api/v1/services/b", `{"name":"b","endpoints":["127.0.0.1:1"]}`, []string{"If-Match", "*"}, 0},
		{"version on missing", "PUT", "/api/v1/services/b", `{"name":"b","endpoints":["127.0.0.1:1"]}`, []string{"If-Match", "3"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.revision()
			r := ts.do(tc.method, tc.path, tc.body, tc.header...)
			if r.code != http.StatusConflict || r.body["error"] != "conflict" {
				t.Fatalf("%d %s", r.code, r.raw)
			}
			if got, ok := r.body["version"].(float64); !ok || int64(got) != tc.want {
				t.Errorf("version = %v, want %d", r.body["version"], tc.want)
			}
			if ts.revision() != before {
				t.Error("a conflict wrote")
			}
		})
	}
	if r := ts.do("DELETE", "/api/v1/services/a", "", "If-Match", fmt.Sprint(cur)); r.code != 200 {
		t.Errorf("delete with the current version: %d %s", r.code, r.raw)
	}
}

func TestBadWrites(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		object, field, msg       string // a problem the answer must list
	}{
		{"malformed", "POST", "/api/v1/routes", `{"name":"x",`, 400, "route", "", "truncated"},
		{"syntax", "POST", "/api/v1/routes", `{"name" "x"}`, 400, "route", "", "malformed JSON"},
		{"wrong type", "POST", "/api/v1/routes", `{"name":"x","priority":"high"}`, 400, "route", "priority", "must be int32"},
		{"unknown field", "POST", "/api/v1/routes", `{"name":"x","bogus":1}`, 400, "route", "bogus", "unknown field"},
		{"trailing data", "POST", "/api/v1/routes", routeX + ` {}`, 400, "route", "", "unexpected data"},
		{"empty", "POST", "/api/v1/routes", ``, 400, "route", "", ""},
		{"invalid regex", "POST", "/api/v1/routes", `{"name":"x","match":{"path":{"regex":"("}},"directResponse":{"status":200}}`, 400, "route/x", "match.path.regex", "missing closing )"},
		{"every problem", "POST", "/api/v1/services", `{"name":"b","endpoints":["nope"],"loadBalancer":"fastest"}`, 400, "service/b", "loadBalancer", "must be one of"},
		{"name mismatch", "PUT", "/api/v1/routes/y", routeX, 400, "route/y", "name", "must match the name in the URL"},
		{"envelope kind", "PUT", "/api/v1/routes/x", `{"kind":"service","object":` + routeX + `}`, 400, "route", "kind", `must be "route"`},
		{"envelope unknown", "PUT", "/api/v1/routes/x", `{"object":` + routeX + `,"extra":1}`, 400, "route", "extra", "unknown field"},
		{"version on create", "POST", "/api/v1/routes", `{"version":3,"object":` + routeX + `}`, 400, "route", "version", "must not be set"},
		{"checker: unknown service", "POST", "/api/v1/routes", `{"name":"x","backends":[{"service":"nope"}]}`, 400, "route/x", "backends[0].service", "unknown service nope"},
		{"checker: service in use", "DELETE", "/api/v1/services/a", "", 400, "service/a", "", "still referenced by route x"},
		{"unknown plural", "POST", "/api/v1/gizmos", `{}`, 404, "", "", ""},
		{"bad If-Match", "DELETE", "/api/v1/routes/x", "", 400, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.do("POST", "/api/v1/services", svcA)
			ts.do("POST", "/api/v1/routes", routeX)
			before := ts.revision()
			var hdr []string
			if tc.name == "bad If-Match" {
				hdr = []string{"If-Match", "yesterday"}
			}
			r := ts.do(tc.method, tc.path, tc.body, hdr...)
			if r.code != tc.code {
				t.Fatalf("status %d, want %d: %s", r.code, tc.code, r.raw)
			}
			if tc.object != "" && !r.hasProblem(tc.object, tc.field, tc.msg) {
				t.Errorf("no problem %s %s %q in %s", tc.object, tc.field, tc.msg, r.raw)
			}
			if ts.revision() != before {
				t.Error("a rejected write was committed")
			}
		})
	}
}

func TestEveryValidationProblemListed(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do("POST", "/api/v1/services", `{"name":"b","endpoints":["nope"],"loadBalancer":"fastest","maxConnections":-1}`)
	if len(r.problems()) != 3 {
		t.Fatalf("want 3 problems: %s", r.raw)
	}
	if r.body["error"] != "validation failed" {
		t.Errorf("error = %v", r.body["error"])
	}
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, func(_ *Deps, o *Options) { o.MaxBodyBytes = 1024 })
	big := `{"name":"x","directResponse":{"status":200,"body":"` + strings.Repeat("a", 2048) + `"}}`
	if r := ts.do("POST", "/api/v1/routes", big); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	// Without a Content-Length the reader's limit catches it.
	req := strings.NewReader(big)
	hr, _ := http.NewRequest("POST", "/api/v1/batch", struct{ *strings.Reader }{req})
	hr.Header.Set("Authorization", "Bearer "+testKey)
	hr.RemoteAddr = "192.0.2.1:1"
	w := &recorder{h: http.Header{}}
	ts.h.ServeHTTP(w, hr)
	if w.code != http.StatusRequestEntityTooLarge || ts.revision() != 0 {
		t.Fatalf("chunked: %d", w.code)
	}
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

func TestUnknownPathsAnswerJSON(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v1/gizmos", 404},
		{"GET", "/api/v2/routes", 404},
		{"PATCH", "/api/v1/routes/x", 405},
	} {
		r := ts.do(tc.method, tc.path, "")
		if r.code != tc.code || r.body["error"] == nil {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.code, r.raw)
		}
	}
}

func TestWaitApplied(t *testing.T) {
	var waited []int64
	ts := newTestServer(t, func(d *Deps, _ *Options) {
		d.WaitApplied = func(_ context.Context, rev int64) error {
			waited = append(waited, rev)
			return nil
		}
	})
	r := ts.do("POST", "/api/v1/services", svcA)
	r2 := ts.do("POST", "/api/v1/batch", `{"deletes":[{"kind":"service","name":"a"}]}`)
	ts.do("POST", "/api/v1/routes", `{"name":"x","backends":[{"service":"nope"}]}`) // rejected: nothing to wait for
	if len(waited) != 2 || waited[0] != r.version() || waited[1] != r2.version() {
		t.Fatalf("waited for %v", waited)
	}
}
