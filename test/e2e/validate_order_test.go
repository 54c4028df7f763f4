package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/test/testenv"
)

// orderA has a type error beside another problem of the same object, and
// problems on lines 7, 8 and 14 (which sort as text as 14, 7, 8).
const orderA = `services:
  - name: be
    endpoints: ["127.0.0.1:9001"]
routes:
  - name: typed
    hosts: ["t.example.com"]
    priority: "high"
    backends: [{ service: nosuch }]
  - name: ok
    hosts: ["ok.example.com"]
    backends: [{ service: be }]
  - name: late
    hosts: ["late.example.com"]
    retries: {attempts: 99}
    backends: [{ service: be }]
`

// orderB has a syntax error on line 7, inside a list that began on line 2.
const orderB = `routes:
  - name: r3
    hosts: ["c.example.com"]
    backends: [{ service: be }]
  - name: r4
    hosts: ["d.example.com"]
  bad: : x
`

// TestValidateReportsEveryProblemInOrder: a type error is said in words and
// does not hide the object's other problems; problems come sorted by file
// and line; a syntax error names the line it is on.
func TestValidateReportsEveryProblemInOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, orderA)
	writeFile(t, b, orderB)
	cmd := exec.Command(testenv.BuildPylon(t), "validate", "--config", dir)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, stdout.String())
	}
	want := []string{
		a + `:7: route "typed": priority: must be an integer (got "high")`,
		a + `:8: route "typed": backends[0].service: unknown service "nosuch"`,
		a + `:14: route "late": retries.attempts: must be 1-10 (got 99)`,
		b + `:7: invalid YAML: did not find expected '-' indicator`,
	}
	got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pylon validate printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
