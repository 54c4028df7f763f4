package file

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

const example = `listeners:
  - name: web
    address: 127.0.0.1:8080
    protocol: http
services:
  - name: echo
    endpoints: ["127.0.0.1:9001", "127.0.0.1:9002"]
    loadBalancer: roundRobin
routes:
  - name: echo
    hosts: ["echo.example.com"]
    match: { path: { prefix: / } }
    backends: [{ service: echo, weight: 100 }]
`

func TestParseExample(t *testing.T) {
	entries, errs, ok := ParseFile("pylon.yaml", []byte(example))
	if len(errs) > 0 || !ok {
		t.Fatalf("errors %v, ok %v", errs, ok)
	}
	want := []struct {
		key  string
		line int
	}{
		{"listener/file/default/web", 2},
		{"service/file/default/echo", 6},
		{"route/file/default/echo", 10},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(entries), len(want))
	}
	for i, w := range want {
		e := entries[i]
		if e.Object.Key.String() != w.key || e.Line != w.line || e.File != "pylon.yaml" {
			t.Errorf("entry %d = %s %s:%d, want %s line %d", i, e.Object.Key, e.File, e.Line, w.key, w.line)
		}
		if e.Object.Hash != ir.Hash(e.Object.Resource) {
			t.Errorf("entry %d: hash does not match its resource", i)
		}
	}
	l := entries[0].Object.Resource.(*ir.Listener)
	if l.Address != "127.0.0.1:8080" || l.Protocol != ir.ProtocolHTTP {
		t.Errorf("listener = %+v", l)
	}
	s := entries[1].Object.Resource.(*ir.Service)
	if len(s.Endpoints) != 2 || s.Endpoints[1].Address != "127.0.0.1:9002" || s.LoadBalancer != ir.LBRoundRobin {
		t.Errorf("service = %+v", s)
	}
	r := entries[2].Object.Resource.(*ir.Route)
	if r.Hosts[0] != "echo.example.com" || r.Match.Path.Prefix != "/" || r.Backends[0] != (ir.Backend{Service: "echo", Weight: 100}) {
		t.Errorf("route = %+v", r)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each one error, in order
		ok   bool
		n    int // entries that still parse
	}{
		{"syntax", "routes:\n  - name: a\n    hosts: [x\n", []string{`f.yaml:3: invalid YAML: did not find expected ',' or ']'`}, false, 0},
		{"unknown field nested deep", "routes:\n  - name: echo\n    match:\n      path:\n        prefx: /\n    backends: [{service: s}]\n",
			[]string{`f.yaml:5: route "echo": match.path.prefx: unknown field (known: exact, prefix, regex)`}, true, 0},
		{"unknown field in list", "routes:\n  - name: echo\n    backends:\n      - service: s\n      - service: t\n        wieght: 2\n",
			[]string{`f.yaml:6: route "echo": backends[1].wieght: unknown field`}, true, 0},
		{"unknown field in endpoint mapping", "services:\n  - name: s\n    endpoints:\n      - {address: 1.2.3.4:80, wieght: 1}\n",
			[]string{`f.yaml:4: service "s": endpoints[0].wieght: unknown field`}, true, 0},
		{"wrong type", "routes:\n  - name: echo\n    priority: high\n    backends: [{service: s}]\n",
			[]string{"f.yaml:3: route \"echo\": priority: must be an integer (got \"high\")"}, true, 0},
		{"wrong type nested", "services:\n  - name: s\n    endpoints: [1.2.3.4:80]\n    healthCheck:\n      active:\n        expectedStatuses: [200, ok]\n",
			[]string{"f.yaml:6: service \"s\": healthCheck.active.expectedStatuses[1]: must be an integer (got \"ok\")"}, true, 0},
		{"bad duration", "services:\n  - name: s\n    endpoints: [1.2.3.4:80]\n    connectTimeout: 5 parsecs\n",
			[]string{`f.yaml:4: service "s": connectTimeout: invalid duration "5 parsecs"`}, true, 0},
		{"bad regex", "routes:\n  - name: echo\n    match:\n      path:\n        regex: \"(\"\n    backends: [{service: s}]\n",
			[]string{`f.yaml:5: route "echo": match.path.regex: error parsing regexp: missing closing )`}, true, 0},
		{"validate, two problems", "listeners:\n  - name: web\n    address: nowhere\n    protocol: ftp\n",
			[]string{`f.yaml:3: listener "web": address: must be host:port`, `f.yaml:4: listener "web": protocol: must be http, https or h2c`}, true, 0},
		{"duplicate field", "routes:\n  - name: echo\n    priority: 1\n    priority: 2\n    backends: [{service: s}]\n",
			[]string{`f.yaml:4: route "echo": priority: duplicate field`}, true, 0},
		{"unknown top-level key", "route:\n  - name: echo\n", []string{`f.yaml:1: unknown top-level key "route"`}, false, 0},
		{"section not a list", "routes: {name: echo}\n", []string{`f.yaml:1: routes: must be a list`}, false, 0},
		{"object without name", "routes:\n  - hosts: [a.example.com]\n    backends: [{service: s}]\n", []string{`f.yaml:2: route "": name: must be`}, false, 0},
		{"object not a mapping", "routes:\n  - just a string\n", []string{"f.yaml:2: route \"\": must be a mapping (got \"just a string\")"}, false, 0},
		{"bad sibling does not block others", "routes:\n  - name: good\n    backends: [{service: s}]\n  - name: bad\n    priority: x\n    backends: [{service: s}]\n  - name: good2\n    backends: [{service: s}]\n",
			[]string{`f.yaml:5: route "bad": priority: must be an integer`}, true, 2},
		{"second document", "routes:\n  - name: a\n    backends: [{service: s}]\n---\nroutes:\n  - name: b\n    retries: {attempts: 99}\n    backends: [{service: s}]\n",
			[]string{`f.yaml:7: route "b": retries.attempts: must be 1-10 (got 99)`}, true, 1},
		{"json", `{"routes": [{"name": "a", "backends": [{"service": "s"}]}, {"name": "b", "backends": [{"service": "s", "weight": "x"}]}]}`,
			[]string{"f.yaml:1: route \"b\": backends[0].weight: must be an integer (got \"x\")"}, true, 1},
		{"a type error does not hide the other fields' problems", "routes:\n  - name: echo\n    priority: high\n    match: {path: {regex: \"(\"}}\n    backends: [{service: s}]\n",
			[]string{`f.yaml:3: route "echo": priority: must be an integer (got "high")`, `f.yaml:4: route "echo": match.path.regex: error parsing regexp`}, true, 0},
		{"nor does an unknown field", "listeners:\n  - name: web\n    adress: x\n    address: nowhere\n    protocol: http\n",
			[]string{`f.yaml:3: listener "web": adress: unknown field`, `f.yaml:4: listener "web": address: must be host:port`}, true, 0},
		{"a wrong value is not reported twice", "routes:\n  - name: echo\n    backends: yes\n",
			[]string{`f.yaml:3: route "echo": backends: must be a list (got "yes")`}, true, 0},
		{"empty", "", nil, true, 0},
		{"alias and merge", "x: &b {service: s}\n", []string{`f.yaml:1: unknown top-level key "x"`}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, errs, ok := ParseFile("f.yaml", []byte(tt.yaml))
			if ok != tt.ok || len(entries) != tt.n {
				t.Errorf("ok = %v, %d entries; want %v, %d", ok, len(entries), tt.ok, tt.n)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %q, want %d", len(errs), errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
				}
				var e *Error
				if !errors.As(errs[i], &e) || e.File != "f.yaml" {
					t.Errorf("error %d is not a *file.Error for f.yaml: %#v", i, errs[i])
				}
			}
		})
	}
}

func TestParseMergeKeys(t *testing.T) {
	y := "routes:\n  - &base\n    name: a\n    backends: [{service: s}]\n  - <<: *base\n    name: b\n    priority: 3\n"
	entries, errs, ok := ParseFile("f.yaml", []byte(y))
	if len(errs) > 0 || !ok || len(entries) != 2 {
		t.Fatalf("entries %d, errors %v, ok %v", len(entries), errs, ok)
	}
	if r := entries[1].Object.Resource.(*ir.Route); r.Name != "b" || r.Backends[0].Service != "s" || r.Priority != 3 {
		t.Errorf("merged route = %+v", r)
	}
}

func TestParsePluginScopes(t *testing.T) {
	src := `plugins:
  - name: rate-limit
    config: {rate: 10, nested: {list: [1, two]}}
hostPolicies:
  - hosts: [a.example.com, "*.b.example.com"]
    plugins: [{name: cors, config: {allowOrigins: ["*"]}}]
  - name: named
    hosts: [c.example.com]
    plugins: [{name: headers}]
routes:
  - name: r
    backends: [{service: s}]
    plugins:
      - {name: compression, disabled: true}
`
	entries, errs, ok := ParseFile("f.yaml", []byte(src))
	if len(errs) > 0 || !ok || len(entries) != 4 {
		t.Fatalf("entries %d, errs %v", len(entries), errs)
	}
	names := map[string]ir.Resource{}
	for _, e := range entries {
		names[string(e.Object.Key.Kind)+"/"+e.Object.Key.Name] = e.Object.Resource
	}
	g, _ := names["globalplugin/rate-limit"].(*ir.GlobalPlugin)
	if g == nil || g.Config["rate"] != 10 || g.Config["nested"].(map[string]any)["list"].([]any)[1] != "two" {
		t.Errorf("global: %#v", g)
	}
	if hp, _ := names["hostpolicy/a.example.com_wildcard.b.example.com"].(*ir.HostPolicy); hp == nil || hp.Plugins[0].Name != "cors" {
		t.Errorf("unnamed host policy: %v", names)
	}
	if _, ok := names["hostpolicy/named"]; !ok {
		t.Errorf("named host policy: %v", names)
	}
	if r, _ := names["route/r"].(*ir.Route); r == nil || !r.Plugins[0].Disabled {
		t.Errorf("route: %#v", r)
	}

	_, errs, _ = ParseFile("f.yaml", []byte("hostPolicies:\n  - hosts: [a.example.com]\n    plugins: [{name: Bad_Name}]\n"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `f.yaml:3: hostpolicy "a.example.com": plugins[0].name: must be a plugin name`) {
		t.Errorf("bad plugin name: %v", errs)
	}
}

// TestSyntaxErrorLines: a syntax error names the line where the mistake is,
// not the line where the list or mapping around it began (yaml.v3 reports
// the latter whenever it has one).
func TestSyntaxErrorLines(t *testing.T) {
	const head = "routes:\n  - name: a\n    hosts: [x]\n  - name: b\n    hosts: [y]\n" // five good lines
	for _, tc := range []struct {
		name, yaml string
		line       int
	}{
		{"a key with two colons", head + "    backends: [{service: s}]\n  bad: : x\n", 7},
		{"a key less indented than its siblings", head + "    backends: [{service: s}]\n   priority: 1\n", 7},
		{"an item where a key goes", head + "    - backends: x\n", 6},
		{"an unclosed flow list", head + "    backends: [{ service: be }\n  - name: c\n", 6},
		{"an unclosed flow mapping", head + "    backends: {a: b\n", 6},
		{"an unclosed quote", head + "    backends: \"unclosed\n  - name: c\n", 6},
		{"a tab", head + "\tbackends: x\n", 6},
		{"a key without a colon", head + "    backends: x\n  foo\n", 7},
		{"an unknown anchor", head + "    backends: *nope\n", 6},
		{"in a second document", head + "---\nroutes:\n  - name: c\n  bad: : x\n", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, ok := ParseFile("f.yaml", []byte(tc.yaml))
			if ok || len(errs) != 1 {
				t.Fatalf("ok %v, errors %v; want one syntax error", ok, errs)
			}
			var e *Error
			if !errors.As(errs[0], &e) || e.Line != tc.line || !strings.Contains(e.Error(), "invalid YAML") {
				t.Errorf("got %v, want line %d", errs[0], tc.line)
			}
		})
	}
}

// TestSyntaxErrorLinesInABigFile: the same holds for a file too big to
// search as a whole, which is searched piece by piece.
func TestSyntaxErrorLinesInABigFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("routes:\n")
	lines, bad := 1, 0
	for i := 0; b.Len() < 3*refineLimit; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    hosts: [\"h%d.example.com\"]\n    backends: [{service: s}]\n", i, i)
		lines += 3
		if i == 5000 {
			b.WriteString("  bad: : x\n")
			lines++
			bad = lines
		}
	}
	_, errs, ok := ParseFile("f.yaml", []byte(b.String()))
	var e *Error
	if ok || len(errs) != 1 || !errors.As(errs[0], &e) || e.Line != bad {
		t.Errorf("%d-byte file: ok %v, errors %v; want one on line %d", b.Len(), ok, errs, bad)
	}
}
