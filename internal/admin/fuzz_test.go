package admin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// post sends body as is and reports the status.
func (ts *testServer) post(method, path string, body []byte) int {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, req)
	return w.Code
}

// checkStored fails unless every stored object decodes strictly and is valid:
// nothing invalid may ever reach the store.
func checkStored(t *testing.T, st store.Store) {
	for _, kind := range ir.Kinds {
		recs, _, err := st.List(context.Background(), kind, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			r, err := ir.DecodeJSON(kind, rec.Value)
			if err != nil {
				t.Fatalf("stored %s does not decode: %v", rec.Key, err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("stored %s is invalid: %v", rec.Key, err)
			}
		}
	}
}

func FuzzObjectBody(f *testing.F) {
	for _, s := range []string{
		svcA, routeX, `{"name":"x","directResponse":{"status":200}}`,
		`{"kind":"route","version":1,"object":{"name":"x","directResponse":{"status":200}}}`,
		`{"name":"l","address":":8080","protocol":"http"}`,
		`{"name":"c","certFile":"/c.pem","keyFile":"/k.pem"}`,
		`{"name":"x","priority":"high"}`, `{"name":"x"} {}`, `{"object":null}`, `[]`, `null`, ``, "\x00",
		`{"name":"s","endpoints":[{"address":"127.0.0.1:1","weight":-1}],"connectTimeout":1e300}`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(5), []byte(s))
	}
	ts := newTestServer(f)
	plurals := []string{"routes", "services", "certificates", "listeners"}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		plural := plurals[int(sel)%len(plurals)]
		method, path := "POST", "/api/v1/"+plural
		if sel&4 != 0 {
			method, path = "PUT", path+"/x"
		}
		before := ts.revision()
		code := ts.post(method, path, body)
		wrote := ts.revision() != before
		switch {
		case code >= 500:
			t.Fatalf("%s %s: %d", method, path, code)
		case code >= 300 && wrote:
			t.Fatalf("%s %s answered %d but wrote", method, path, code)
		case code < 300 && !wrote:
			t.Fatalf("%s %s answered %d but wrote nothing", method, path, code)
		}
		if wrote {
			checkStored(t, ts.st)
		}
	})
}

func FuzzBatchBody(f *testing.F) {
	for _, s := range []string{
		`{"upserts":[{"kind":"service","object":` + svcA + `},{"kind":"route","object":` + routeX + `}]}`,
		`{"deletes":[{"kind":"route","name":"x"},{"kind":"service","name":"a","version":2}]}`,
		`{"upserts":[{"kind":"route","object":{"name":"x","backends":[{"service":"nope"}]}}]}`,
		`{"upserts":[{"kind":"gizmo","object":{}}],"deletes":[{"kind":"route"}]}`,
		`{"upserts":{}}`, `{"upserts":[null]}`, `{}`, `[]`, ``, `{"upserts":[{"kind":"route","object":1e999}]}`,
	} {
		f.Add([]byte(s))
	}
	ts := newTestServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := ts.revision()
		code := ts.post("POST", "/api/v1/batch", body)
		commits := ts.revision() - before
		switch {
		case code >= 500:
			t.Fatalf("batch: %d", code)
		case code != 200 && commits != 0:
			t.Fatalf("batch answered %d but wrote", code)
		case code == 200 && commits != 1:
			t.Fatalf("batch answered 200 with %d commits", commits)
		}
		if commits > 0 {
			checkStored(t, ts.st)
		}
	})
}

// okChecker accepts every change: the benchmark measures the API's own path
// (auth, decode, validate, encode, commit, answer), not the compiler's check.
type okChecker struct{}

func (okChecker) Check(ir.Change) ir.Result { return ir.Result{} }

func BenchmarkCreateRoute(b *testing.B) {
	ts := newTestServer(b, func(d *Deps, _ *Options) { d.Checker = okChecker{} })
	ts.do("POST", "/api/v1/services", svcA)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"name":"r%d","hosts":["h%d.example.com"],"match":{"path":{"prefix":"/api"}},"backends":[{"service":"a"}]}`, i, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := ts.post("POST", "/api/v1/routes", bodies[i]); code != http.StatusCreated {
			b.Fatalf("create: %d", code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func TestWriteLog(t *testing.T) {
	var buf bytes.Buffer
	ts := newTestServer(t, func(d *Deps, _ *Options) { d.Log = slog.New(slog.NewTextHandler(&buf, nil)) })
	ts.do("POST", "/api/v1/services", svcA)
	ts.do("POST", "/api/v1/routes", `{"name":"x","backends":[{"service":"nope"}]}`)
	ts.do("GET", "/api/v1/routes", "")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per write:\n%s", buf.String())
	}
	for i, want := range []string{"object=service/a status=201", "object=route/x status=400"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "method=POST") {
			t.Errorf("line %d = %s, want %s", i, lines[i], want)
		}
	}
	if strings.Contains(buf.String(), testKey) {
		t.Error("the key was logged")
	}
}
