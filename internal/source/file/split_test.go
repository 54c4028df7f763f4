package file

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// splitCases are files whose pieces must read exactly as the whole file.
// split says whether the file is in the plain shape that is cut at all.
var splitCases = []struct {
	name  string
	data  string
	split bool
}{
	{"plain", example + "  - name: second\n    hosts: [b.example.com]\n    backends: [{ service: echo }]\n", true},
	{"items at column 0", "services:\n- name: echo\n  endpoints: [\"127.0.0.1:1\"]\nroutes:\n- name: a\n  backends: [{ service: echo }]\n- name: b\n  backends: [{ service: echo }]\n", true},
	{"comments and blank lines", "# head\nroutes: # the routes\n\n  # first\n  - name: a\n    backends: [{ service: s }]\n\n  - name: b # second\n    backends: [{ service: s }]\n# tail\n", true},
	{"CRLF", "routes:\r\n  - name: a\r\n    backends: [{ service: s }]\r\n  - name: b\r\n    backends: [{ service: s }]\r\n", true},
	{"leading document marker", "---\nroutes:\n  - name: a\n    backends: [{ service: s }]\n  - name: b\n    backends: [{ service: s }]\n", true},
	{"invalid objects keep their lines", "routes:\n  - name: a\n    backends: [{ service: s, weight: x }]\n  - name: b\n    match: { path: { regex: \"(\" } }\n    backends: [{ service: s }]\n  - hosts: [c]\n", true},
	{"unknown key continued", "routs:\n  - name: a\n  - name: b\n  - name: c\nservices:\n  - name: s\n    endpoints: [\"127.0.0.1:1\"]\n", true},
	{"a section that is not a list", "routes:\n  name: a\n  backends: []\nservices:\n  - name: s\n    endpoints: [\"127.0.0.1:1\"]\n  - name: t\n    endpoints: [\"127.0.0.1:2\"]\n", true},
	{"inline sections", "services: [{ name: s, endpoints: [\"127.0.0.1:1\"] }]\nroutes:\n  - name: a\n    backends: [{ service: s }]\n  - name: b\n    backends: [{ service: s }]\n", true},
	{"block scalar", "routes:\n  - name: a\n    directResponse:\n      status: 200\n      body: |\n        - not an item\n        text\n    \n  - name: b\n    backends: [{ service: s }]\n", true},
	{"anchor within an item", "routes:\n  - name: a\n    hosts: &h [a.example.com]\n    x: *h\n  - name: b\n    backends: [{ service: s }]\n", true},
	{"alias across items", "routes:\n  - &r\n    name: a\n    backends: [{ service: s }]\n  - *r\n  - name: c\n    backends: [{ service: s }]\n", true},
	{"quoted string across items", "routes:\n  - name: \"a\n  - b\"\n    backends: [{ service: s }]\n  - name: c\n    backends: [{ service: s }]\n", true},
	{"flow list across items", "routes:\n  - name: a\n    hosts: [a,\n  - b]\n  - name: c\n", true},
	{"syntax error", "routes:\n  - name: a\n    backends: [\n  - name: b\n", true},
	{"duplicate names", "routes:\n  - name: a\n    backends: [{ service: s }]\n  - name: a\n    backends: [{ service: t }]\n", true},
	{"two documents", "routes:\n  - name: a\n---\nroutes:\n  - name: b\n", false},
	{"flow document", "{\"routes\": [{\"name\": \"a\"},\n {\"name\": \"b\"}]}\n", false},
	{"tab indentation", "routes:\n\t- name: a\n", false},
	{"directive", "%YAML 1.2\n---\nroutes:\n  - name: a\n  - name: b\n", false},
}

// parseOutcome prints everything a parse reports, to compare two parses.
func parseOutcome(p parsed) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ok=%v broken=%v refs=%v\n", p.ok, p.broken, p.refs)
	for _, o := range p.objects {
		h := uint64(0)
		if o.obj != nil {
			h = o.obj.Hash
		}
		fmt.Fprintf(&b, "object %s line %d valid=%v hash=%x\n", o.key, o.line, o.obj != nil, h)
	}
	for _, err := range p.errs {
		fmt.Fprintf(&b, "error %v\n", err)
	}
	return b.String()
}

func TestSplitReadsAsWhole(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data)
			// Size 1 cuts at every line where a cut is allowed.
			if got := splitFile(data, 1) != nil; got != tc.split {
				t.Fatalf("split = %v, want %v", got, tc.split)
			}
			whole := parseOutcome(parseSized("f.yaml", data, nil, len(data)+1))
			cut := parseOutcome(parseSized("f.yaml", data, nil, 1))
			if cut != whole {
				t.Errorf("in pieces:\n%s\nwhole:\n%s", cut, whole)
			}
		})
	}
}

func TestSplitPieces(t *testing.T) {
	data := []byte("routes:\n  - name: a\n  - name: b\nservices:\n  - name: s\n")
	pieces := splitFile(data, 1)
	want := []struct {
		data, header string
		line         int
	}{
		{"routes:\n", "", 1},
		{"  - name: a\n", "routes:", 2},
		{"  - name: b\n", "routes:", 3},
		{"services:\n", "", 4},
		{"  - name: s\n", "services:", 5},
	}
	if len(pieces) != len(want) {
		t.Fatalf("got %d pieces, want %d", len(pieces), len(want))
	}
	for i, w := range want {
		p := pieces[i]
		if string(p.data) != w.data || string(p.header) != w.header || p.line != w.line {
			t.Errorf("piece %d = %q header %q line %d, want %q header %q line %d", i, p.data, p.header, p.line, w.data, w.header, w.line)
		}
	}
}

// FuzzSplitReadsAsWhole checks that a file read in pieces gives the same
// objects, lines and errors as the file read whole, whatever its content.
func FuzzSplitReadsAsWhole(f *testing.F) {
	for _, tc := range splitCases {
		f.Add([]byte(tc.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := parseOutcome(parseSized("f.yaml", data, nil, len(data)+1))
		cut := parseOutcome(parseSized("f.yaml", data, nil, 1))
		if cut != whole {
			t.Errorf("in pieces:\n%s\nwhole:\n%s", cut, whole)
		}
	})
}

// BenchmarkParse100kRoutes compares one file of 100,000 routes read whole
// with the same file read in pieces, each on its own core.
func BenchmarkParse100kRoutes(b *testing.B) {
	data := routesYAML(100_000)
	for _, bc := range []struct {
		name string
		size int
	}{{"whole", len(data) + 1}, {"pieces", max(minPiece, len(data)/(8*runtime.GOMAXPROCS(0)))}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if p := parseSized("routes.yaml", data, nil, bc.size); len(p.objects) != 100_001 {
					b.Fatalf("got %d objects, errors %v", len(p.objects), p.errs)
				}
			}
			b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
