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
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BuildPylon builds ./cmd/pylon once per test binary and returns the path of
// the binary. It is built into a directory under os.TempDir() that is
// shared by the tests of this binary and left for the OS to clean, because
// no test owns it.
func BuildPylon(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pylon-testbin-")
		if err != nil {
			buildErr = fmt.Errorf("testenv: %w", err)
			return
		}
		out := filepath.Join(dir, "pylon")
		args := []string{"build", "-o", out}
		if os.Getenv("PYLON_TEST_RACE") != "" {
			// A race-detector build of the binary under test: the e2e tests
			// then find data races in the real process, not only in-package.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/pylon")...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("testenv: go build ./cmd/pylon: %w\n%s", err, b)
			return
		}
		buildPath = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}
