package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestYAMLBody: a body sent as YAML (Content-Type application/yaml) is the
// same write as its JSON; a body that is not JSON without a YAML type is
// refused with a message saying what to send, not a JSON parser's riddle.
func TestYAMLBody(t *testing.T) {
	ts := newTestServer(t)
	const yamlType = "application/yaml"
	for _, tc := range []struct {
		name, method, path, ctype, body string
		code                            int
		msg                             string // in the answer
	}{
		{"a YAML service", "POST", "/api/v1/services", yamlType, "name: a\nendpoints: [\"127.0.0.1:8080\"]\n", 201, `"name":"a"`},
		{"a YAML route, as in the files", "POST", "/api/v1/routes", "text/yaml; charset=utf-8",
			"# a comment\nname: x\nhosts: [x.test]\ntimeouts: {request: 5s}\nbackends:\n  - service: a\n", 201, `"request":"5s"`},
		{"a YAML envelope", "PUT", "/api/v1/routes/x", yamlType,
			"kind: route\nobject:\n  name: x\n  hosts: [y.test]\n  backends: [{service: a}]\n", 200, `"y.test"`},
		{"a YAML batch", "POST", "/api/v1/batch", "application/x-yaml",
			"upserts:\n  - kind: route\n    object: &r {name: z, hosts: [z.test], backends: [{service: a}]}\n", 200, `"z.test"`},
		{"YAML 1.2 scalars: yes is a string", "POST", "/api/v1/routes", yamlType, "name: yes\nbackends: [{service: a}]\n", 201, `"name":"yes"`},
		{"YAML without its Content-Type", "POST", "/api/v1/routes", "", "name: w\nbackends: [{service: a}]\n", 415, "Content-Type: application/yaml"},
		{"YAML as form data (curl -d)", "POST", "/api/v1/routes", "application/x-www-form-urlencoded", "name: w\n", 415, "not JSON"},
		{"YAML declared as JSON", "POST", "/api/v1/routes", "application/json", "name: w\n", 400, `begins \"name: w\"`},
		{"malformed YAML names its line", "POST", "/api/v1/routes", yamlType, "name: w\nhosts: [unclosed\n", 400, "line"},
		{"a key twice", "POST", "/api/v1/routes", yamlType, "name: w\nname: v\n", 400, `key \"name\" appears twice`},
		{"two documents", "POST", "/api/v1/routes", yamlType, "name: w\n---\nname: v\n", 400, "one document"},
		{"an alias bomb", "POST", "/api/v1/routes", yamlType, aliasBomb, 400, "expand too far"},
		{"a YAML field error names the field", "POST", "/api/v1/routes", yamlType, "name: w\npriority: high\n", 400, `"field":"priority"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.revision()
			r := ts.do(tc.method, tc.path, tc.body, "Content-Type", tc.ctype)
			if r.code != tc.code || !strings.Contains(r.raw, tc.msg) {
				t.Fatalf("%d %s, want %d with %q", r.code, r.raw, tc.code, tc.msg)
			}
			if wrote := ts.revision() != before; wrote != (tc.code < 300) {
				t.Errorf("answered %d, wrote %v", r.code, wrote)
			}
		})
	}
	if r := ts.do("GET", "/api/v1/routes/x", ""); r.code != 200 || r.object()["hosts"].([]any)[0] != "y.test" {
		t.Errorf("the YAML envelope did not replace the route: %s", r.raw)
	}
}

// aliasBomb is a few hundred bytes whose aliases expand to 9^9 strings.
const aliasBomb = `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
name: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: 1\nb: 1.5\nc: true\nd: null\ne: 0x10\n", `{"a":1,"b":1.5,"c":true,"d":null,"e":16}`},
		{"a: 2024-01-02\nb: on\nc: '1'\n", `{"a":"2024-01-02","b":"on","c":"1"}`},
		{"base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n", `{"base":{"x":1,"y":2},"obj":{"x":1,"y":3}}`},
		{"- a\n- [b, c]\n", `["a",["b","c"]]`},
		{"s: !!binary aGk=\n", `{"s":"hi"}`},
	} {
		got, err := yamlToJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: %s %v, want %s", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "a: .inf\n", "? [a]\n: b\n", "a: [\n"} {
		if got, err := yamlToJSON([]byte(in)); err == nil {
			t.Errorf("%q: %s, want an error", in, got)
		}
	}
}

// FuzzYAMLBody: any YAML body converts to valid JSON or to an error, never
// a panic; through the API, a refused write writes nothing and an accepted
// one stores only valid objects.
func FuzzYAMLBody(f *testing.F) {
	for _, s := range []string{
		"name: a\nendpoints: [\"127.0.0.1:8080\"]\n", "name: x\nbackends: [{service: a}]\n",
		"kind: route\nversion: 1\nobject: {name: x, directResponse: {status: 200}}\n",
		"a: &a [1]\nb: [*a, *a]\n", "<<: {name: m}\n", "- 1\n", "", "---\n---\n", "\x00", aliasBomb,
		"name: !!binary aGk=\n", "name: 1e400\n", "{? a: b}\n",
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(5), []byte(s))
	}
	ts := newTestServer(f)
	plurals := []string{"routes", "services", "certificates", "listeners"}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		if j, err := yamlToJSON(body); err == nil && !json.Valid(j) {
			t.Fatalf("%q converted to invalid JSON %q", body, j)
		}
		method, path := "POST", "/api/v1/"+plurals[int(sel)%len(plurals)]
		if sel&4 != 0 {
			method, path = "PUT", path+"/x"
		}
		before := ts.revision()
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/yaml")
		w := httptest.NewRecorder()
		ts.h.ServeHTTP(w, req)
		code := w.Code
		wrote := ts.revision() != before
		switch {
		case code >= 500:
			t.Fatalf("%s %s: %d %s", method, path, code, w.Body)
		case (code < 300) != wrote:
			t.Fatalf("%s %s answered %d, wrote %v", method, path, code, wrote)
		case code == http.StatusUnsupportedMediaType:
			t.Fatalf("a YAML body got 415")
		}
		if wrote {
			checkStored(t, ts.st)
		}
	})
}
