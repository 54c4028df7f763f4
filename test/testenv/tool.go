package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// envPrefix prefixes the environment variables that hold component paths,
// e.g. PYLON_TEST_H2SPEC. hack/test.sh exports them for the whole suite.
const envPrefix = "PYLON_TEST_"

var (
	setupMu   sync.Mutex
	setupRuns = map[string]*setupResult{} // by component set: "" is the default set
)

type setupResult struct {
	tools map[string]string
	err   error
}

// Tool returns the path of the component name (for example "h2spec" or
// "NGINX"; case does not matter) as installed by hack/testenv.sh.
//
// It reads PYLON_TEST_<NAME> first. When that is unset it runs
// hack/testenv.sh once per test binary and reads the NAME=PATH lines it
// prints; a component outside the default set (a benchmark-only one such as
// Caddy) is then asked for by name. When the component is still missing the
// test fails if CI is set and is skipped otherwise.
func Tool(t testing.TB, name string) string {
	t.Helper()
	key := strings.ToUpper(name)
	if p := os.Getenv(envPrefix + key); p != "" {
		return p
	}
	res := runSetup("")
	if p, ok := res.tools[key]; ok {
		return p
	}
	named := runSetup(strings.ReplaceAll(strings.ToLower(name), "_", "-")) // components are named with "-"
	if p, ok := named.tools[key]; ok {
		return p
	}
	err := errors.Join(res.err, named.err)
	if err == nil {
		err = fmt.Errorf("hack/testenv.sh printed no %s= line", key)
	}
	unavailable(t, "testenv: component %s is not available: %v", key, err)
	return ""
}

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set CI=1 to make this a failure)", args...)
}

// runSetup runs hack/testenv.sh for the given component ("" for the default
// set) at most once per test binary and returns what it printed.
func runSetup(component string) *setupResult {
	setupMu.Lock()
	defer setupMu.Unlock()
	if r, ok := setupRuns[component]; ok {
		return r
	}
	r := &setupResult{tools: map[string]string{}}
	setupRuns[component] = r
	root, err := RepoRoot()
	if err != nil {
		r.err = err
		return r
	}
	args := []string{filepath.Join(root, "hack", "testenv.sh")}
	if component != "" {
		args = append(args, component)
	}
	cmd := exec.Command("bash", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	r.tools = parseToolLines(out)
	if err != nil {
		r.err = fmt.Errorf("hack/testenv.sh %s: %w\n%s", component, err, lastLines(stderr.String(), 20))
	}
	return r
}

// parseToolLines reads NAME=PATH lines; anything else is ignored.
func parseToolLines(out []byte) map[string]string {
	tools := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, path, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || name == "" || path == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		tools[name] = path
	}
	return tools
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the directory holding the repository's go.mod, found by
// walking up from the working directory (a package's directory under
// `go test`).
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("testenv: %w", err)
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("testenv: no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}
