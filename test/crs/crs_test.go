// Package crs runs the OWASP Core Rule Set's regression tests (go-ftw over
// the tests bundled with the rule set) against Pylon's waf plugin, in the
// real gateway: the tests' requests go through the HTTP/1.1 engine and the
// plugin chain to a real albedo backend, as the CRS's own CI runs them
// against Apache and nginx. Engine differences are listed, each with its
// reason, in ftw-overrides.yaml.
package crs

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	albedo "github.com/coreruleset/albedo/server"
	"github.com/coreruleset/go-ftw/v2/config"
	"github.com/coreruleset/go-ftw/v2/output"
	"github.com/coreruleset/go-ftw/v2/runner"
	"github.com/coreruleset/go-ftw/v2/test"
	"github.com/rs/zerolog"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"

	"pylon.io/pylon/internal/app"
	"pylon.io/pylon/test/testenv"
)

// goal is the share of the suite's tests that must pass.
const goal = 0.99

// testingRules are what the CRS's regression tests require of the host
// (the CRS's tests/regression README): every rule at paranoia level 4 runs,
// the engine only detects (the tests read the log), and the limits the
// tests probe; a request carrying the log marker header is logged with it
// and matches nothing else.
const testingRules = `SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,setvar:tx.blocking_paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:999999,phase:1,pass,t:none,log,msg:'X-CRS-Test %{MATCHED_VAR}',ctl:ruleRemoveById=1-999999"
`

func TestCoreRuleSetRegression(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "waf.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	backend := httptest.NewServer(albedo.Handler())
	defer backend.Close()

	addr := testenv.FreeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "pylon.yaml")
	writeConfig(t, cfgPath, addr, strings.TrimPrefix(backend.URL, "http://"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{ConfigPath: cfgPath, MetricsAddress: testenv.FreeAddr(t),
			DrainTimeout: time.Second, Log: slog.New(&messageLog{w: logFile, echo: os.Getenv("PYLON_CRS_DEBUG") != ""})})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pylon: %v", err)
		}
	}()
	waitReady(t, addr, done)

	tests := loadTests(t)
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	cfg, err := config.NewConfigFromFile("ftw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitAddr(t, addr)
	cfg.LogFile = logPath
	cfg.TestOverride.Overrides.DestAddr = &host
	cfg.TestOverride.Overrides.Port = &port
	out := "quiet"
	if inc := os.Getenv("PYLON_CRS_INCLUDE"); inc != "" { // a regexp of test ids, to look into some
		if cfg.IncludeTests, err = config.NewFTWRegexp(inc); err != nil {
			t.Fatal(err)
		}
		out = "normal"
	}
	rc := config.NewRunnerConfiguration(cfg)
	rc.ReadTimeout = 3 * time.Second
	if err := rc.LoadPlatformOverrides("ftw-overrides.yaml"); err != nil {
		t.Fatal(err)
	}
	overridden := 0
	for _, o := range rc.PlatformOverrides.TestOverrides {
		overridden += len(o.TestIds)
	}
	start := time.Now()
	res, err := runner.Run(rc, tests, output.NewOutput(out, os.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	passed := len(st.Success) + len(st.ForcedPass)
	total := len(tests)
	cases := passed + len(st.Failed) + len(st.Ignored) + len(st.Skipped) + len(st.ForcedFail)
	share := float64(passed) / float64(cases)
	sort.Strings(st.Failed)
	t.Logf("CRS regression: %d test files, %d cases: %d passed (%d of them against an expectation in ftw-overrides.yaml), %d failed, %d ignored, %d skipped: %.2f%% in %s",
		total, cases, passed, overridden, len(st.Failed), len(st.Ignored), len(st.Skipped), 100*share, time.Since(start).Round(time.Second))
	if len(st.Failed) > 0 {
		t.Logf("failed: %s", strings.Join(st.Failed, " "))
	}
	if share < goal {
		t.Errorf("%.2f%% of the CRS regression tests pass, want at least %.0f%%", 100*share, 100*goal)
	}
	if len(st.Failed) > 0 {
		// Above the goal is not enough: every test passes, or has its
		// engine difference in ftw-overrides.yaml; a new failure is a
		// regression to look into.
		t.Errorf("%d CRS tests failed", len(st.Failed))
	}
}

func writeConfig(t *testing.T, path, addr, backend string) {
	t.Helper()
	rules := ""
	for _, l := range strings.Split(strings.TrimSpace(testingRules), "\n") {
		rules += "            " + l + "\n"
	}
	cfg := fmt.Sprintf(`listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: albedo
    endpoints: [%q]
routes:
  - name: crs
    match: { path: { prefix: / } }
    backends: [{ service: albedo }]
    plugins:
      - name: waf
        config:
          crs: { enabled: true, paranoiaLevel: 4 }
          requestBody: { limit: 13107200 }
          responseBody: { inspect: true, mimeTypes: [text/plain, text/html, application/json] }
          rules: |
%s`, addr, backend, rules)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadTests(t *testing.T) []*test.FTWTest {
	t.Helper()
	var tests []*test.FTWTest
	err := fs.WalkDir(crstests.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, path)
		if err != nil {
			return err
		}
		ft, err := test.GetTestFromYaml(b, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		tests = append(tests, ft)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 {
		t.Fatal("no CRS tests found")
	}
	return tests
}

func waitReady(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("pylon stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("pylon did not start serving the route")
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	var port int
	i := strings.LastIndexByte(addr, ':')
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

// messageLog writes each record's message alone, one per line: the
// engine's match lines as ModSecurity writes them, which go-ftw reads.
type messageLog struct {
	mu   sync.Mutex
	w    *os.File
	echo bool // also to stderr with the attributes (PYLON_CRS_DEBUG)
}

func (l *messageLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *messageLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.echo {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
		fmt.Fprintln(os.Stderr, r.Level, r.Message, b.String())
	}
	_, err := l.w.WriteString(strings.ReplaceAll(r.Message, "\n", " ") + "\n")
	return err
}
func (l *messageLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *messageLog) WithGroup(string) slog.Handler      { return l }
