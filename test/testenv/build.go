package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// pylonBuild is one build of ./cmd/pylon, made once per test binary.
type pylonBuild struct {
	once sync.Once
	path string
	err  error
}

var (
	defaultBuild pylonBuild // -race when PYLON_TEST_RACE is set
	plainBuild   pylonBuild // never -race
)

// BuildPylon builds ./cmd/pylon once per test binary and returns the path of
// the binary. It is built into a directory under os.TempDir() that is
// shared by the tests of this binary and left for the OS to clean, because
// no test owns it. With PYLON_TEST_RACE set it is a race-detector build:
// the e2e tests then find data races in the real process, not only
// in-package.
func BuildPylon(t testing.TB) string {
	t.Helper()
	return defaultBuild.get(t, os.Getenv("PYLON_TEST_RACE") != "")
}

// BuildPylonForTiming is BuildPylon without the race detector, for the few
// tests that hold latency to a bound (a mirror must add no latency): the
// race detector multiplies the cost of every memory access, so timings of
// a race build say little about the product's.
func BuildPylonForTiming(t testing.TB) string {
	t.Helper()
	if os.Getenv("PYLON_TEST_RACE") == "" {
		return BuildPylon(t)
	}
	return plainBuild.get(t, false)
}

func (b *pylonBuild) get(t testing.TB, race bool) string {
	t.Helper()
	b.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "pylon-testbin-")
		if err != nil {
			b.err = fmt.Errorf("testenv: %w", err)
			return
		}
		out := filepath.Join(dir, "pylon")
		args := []string{"build", "-o", out}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/pylon")...)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("testenv: go build ./cmd/pylon: %w\n%s", err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}
