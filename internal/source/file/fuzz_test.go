package file

import (
	"strings"
	"testing"
)

// FuzzParseFile checks that no input panics and that every error names the
// file, so a user can always find the problem.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("routes: [\n"))
	f.Add([]byte(`{"routes": [{"name": "a", "backends": [{"service": "s", "weight": "x"}]}]}`))
	f.Add([]byte("routes:\n  - name: a\n    priority: high\n    hosts: 5\n    match: {path: {regex: \"(\"}}\n    backends: yes\n"))
	f.Add([]byte("routes:\n  - name: a\n    hosts: [x]\n  bad: : x\n---\nroutes: *nope\n"))
	f.Add([]byte("services:\n  - name: s\n    trafficDistribution: PreferSameNode\n    zoneAware: {minHealthyShare: .nan, maxLoadFactor: 2}\n    endpoints: [{address: \"10.0.0.1:80\", zone: eu-1a, node: n1, forZones: [eu-1a]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		entries, errs, ok := ParseFile(name, data)
		lines := yamlLines(data)
		for _, err := range errs {
			if !strings.HasPrefix(err.Error(), name+":") {
				t.Errorf("error without the file name: %q", err)
			}
			if e, ok := err.(*Error); ok && (e.Line < 0 || e.Line > lines) {
				t.Errorf("error on line %d of a %d-line file: %q", e.Line, lines, err)
			}
		}
		if len(errs) == 0 && !ok {
			t.Errorf("not ok without an error")
		}
		for _, e := range entries {
			if e.File != name || e.Line < 1 {
				t.Errorf("entry %s at %s:%d", e.Object.Key, e.File, e.Line)
			}
			if err := e.Object.Resource.Validate(); err != nil {
				t.Errorf("entry %s does not validate: %v", e.Object.Key, err)
			}
		}
	})
}
