package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	progMu    sync.Mutex
	progBuilt = map[string]string{}
)

// BuildProgram builds the repository's main package pkg (e.g.
// "./test/testenv/echoserver") once per test binary and returns the path
// of the binary.
func BuildProgram(t testing.TB, pkg string) string {
	t.Helper()
	progMu.Lock()
	defer progMu.Unlock()
	if p, ok := progBuilt[pkg]; ok {
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pylon-testprog-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("testenv: go build %s: %w\n%s", pkg, err, b))
	}
	progBuilt[pkg] = out
	return out
}
