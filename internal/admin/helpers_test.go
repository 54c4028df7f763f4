package admin

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/bolt"
)

const testKey = "test-key-0123456789"

// storeFlag picks the store the tests write to: the in-memory one, or the
// real bbolt store (go test ./internal/admin -args -admin.store=bolt).
var storeFlag = flag.String("admin.store", "mem", "store under test: mem or bolt")

func newStore(t testing.TB) store.Store {
	if *storeFlag == "bolt" {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "pylon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return newMemStore()
}

type testServer struct {
	t  testing.TB
	s  *Server
	st store.Store
	h  http.Handler
}

// revision is the store's revision: it moves on every commit and only then,
// so an unchanged revision proves nothing was written.
func (ts *testServer) revision() int64 { return ts.st.Status().Revision }

func newTestServer(t testing.TB, opts ...func(*Deps, *Options)) *testServer {
	st := newStore(t)
	d := Deps{Store: st, Checker: refChecker{st}, Log: slog.New(slog.DiscardHandler)}
	o := Options{KeyHash: sha256.Sum256([]byte(testKey))}
	for _, f := range opts {
		f(&d, &o)
	}
	s := New(d, o)
	return &testServer{t: t, s: s, st: st, h: s.Handler()}
}

// resp is one answer: status, headers, and the body raw and decoded.
type resp struct {
	code int
	h    http.Header
	raw  string
	body map[string]any
}

// do sends a request with the test key; header pairs follow the body.
func (ts *testServer) do(method, path, body string, header ...string) resp {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, req)
	r := resp{code: w.Code, h: w.Header(), raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &r.body)
	return r
}

func (r resp) problems() []map[string]any {
	ps, _ := r.body["problems"].([]any)
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.(map[string]any))
	}
	return out
}

// hasProblem reports whether r lists a problem of object with field whose
// message contains msg.
func (r resp) hasProblem(object, field, msg string) bool {
	for _, p := range r.problems() {
		f, _ := p["field"].(string)
		if p["object"] == object && f == field && strings.Contains(p["message"].(string), msg) {
			return true
		}
	}
	return false
}

func (r resp) version() int64 {
	v, _ := r.body["version"].(float64)
	return int64(v)
}

func (r resp) object() map[string]any {
	o, _ := r.body["object"].(map[string]any)
	return o
}

const (
	svcA   = `{"name":"a","endpoints":["127.0.0.1:8080"]}`
	routeX = `{"name":"x","hosts":["x.test"],"backends":[{"service":"a"}]}`
)

type testPluginConfig struct {
	Limit int `json:"limit"`
}

type testPlugin struct{}

func (testPlugin) Access(plugin.Ctx, *plugin.Slot) plugin.Action { return plugin.Continue }

func init() {
	plugin.RegisterTesting("a-test-plugin", func(*testPluginConfig, *plugin.Env) (testPlugin, error) { return testPlugin{}, nil })
}
