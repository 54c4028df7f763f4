package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/test/testenv"
)

const validateA = `listeners:
  - name: web
    address: 127.0.0.1:8080
    protocol: http
services:
  - name: ok
    endpoints: ["127.0.0.1:9001"]
  - name: typo
    endpoints: ["127.0.0.1:9001"]
    loadBalancr: roundRobin
routes:
  - name: bad-regex
    match: { path: { regex: "([" } }
    backends: [{ service: ok }]
  - name: orphan
    hosts: ["o.example.com"]
    backends: [{ service: missing }]
  - name: c1
    hosts: ["c.example.com"]
    match: { path: { prefix: /x } }
    backends: [{ service: ok }]
`

const validateB = `services:
  - name: ok
    endpoints: ["127.0.0.1:9002"]
routes:
  - name: c2
    hosts: ["c.example.com"]
    match: { path: { prefix: /x } }
    backends: [{ service: ok }]
`

// lineOf returns the 1-based line of the first line containing s.
func lineOf(t *testing.T, content, s string) int {
	t.Helper()
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in config", s)
	return 0
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPylon(t)

	t.Run("mistakes", func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		writeFile(t, a, validateA)
		writeFile(t, b, validateB)
		out, err := exec.Command(bin, "validate", "--config", dir).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\n%s", err, out)
		}
		// Each mistake: file, line (of the field or the object), and what
		// the message must say.
		want := []struct {
			file, lineText, kind, name, msg string
		}{
			{a, "loadBalancr", "service", "typo", "loadBalancr: unknown field"},
			{a, `regex: "(["`, "route", "bad-regex", "match.path.regex:"},
			{a, "service: missing", "route", "orphan", `backends[0].service: unknown service "missing"`},
			{b, "- name: ok", "service", "ok", "duplicate"},
			{b, "match: { path", "route", "c2", `conflicts with route "c1"`},
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for _, w := range want {
			content := validateA
			if w.file == b {
				content = validateB
			}
			prefix := fmt.Sprintf("%s:%d: %s %q: ", w.file, lineOf(t, content, w.lineText), w.kind, w.name)
			found := false
			for _, l := range lines {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, w.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no line %q…%q in output:\n%s", prefix, w.msg, out)
			}
		}
	})

	t.Run("good config", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "a.yaml"), `listeners:
  - name: web
    address: 127.0.0.1:8080
    protocol: http
services:
  - name: ok
    endpoints: ["127.0.0.1:9001"]
routes:
  - name: r
    hosts: ["c.example.com"]
    backends: [{ service: ok }]
`)
		if out, err := exec.Command(bin, "validate", "--config", dir).CombinedOutput(); err != nil {
			t.Fatalf("validate of a good config: %v\n%s", err, out)
		}
	})
}
