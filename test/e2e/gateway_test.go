package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// gateway is a running pylon process with its config file and metrics address.
type gateway struct {
	t       *testing.T
	proc    *testenv.Process
	config  string // the config file (or directory) pylon watches
	metrics string // host:port of /metrics, /readyz, /debug/config
}

// startGateway writes cfg into a fresh temp dir and runs pylon on it. It
// returns once /readyz answers 200.
func startGateway(t *testing.T, cfg string, args ...string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, path, cfg)
	return startGatewayAt(t, path, args...)
}

// startGatewayAt runs pylon on an existing config file or directory.
func startGatewayAt(t *testing.T, path string, args ...string) *gateway {
	t.Helper()
	return startGatewayBin(t, testenv.BuildPylon(t), path, args...)
}

// startTimedGateway is startGateway with a binary built without the race
// detector, for tests that hold latency to a bound.
func startTimedGateway(t *testing.T, cfg string, args ...string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, path, cfg)
	return startGatewayBin(t, testenv.BuildPylonForTiming(t), path, args...)
}

func startGatewayBin(t *testing.T, bin, path string, args ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, config: path, metrics: testenv.FreeAddr(t)}
	// Each gateway has its own data dir and admin port, so tests run in parallel.
	argv := append([]string{"run", "--config", path, "--metrics-address", g.metrics,
		"--data-dir", t.TempDir(), "--admin-address", "off",
		"--access-log=false", "--log-format", "json", "--log-level", "debug"}, args...)
	g.proc = testenv.Start(t, bin, argv...)
	checkLogAtStop(t, g.proc)
	g.waitReady(10 * time.Second)
	return g
}

// waitReady polls /readyz until it answers 200.
func (g *gateway) waitReady(timeout time.Duration) {
	g.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if g.proc.Exited() {
			g.t.Fatalf("pylon exited before it was ready (%v)\n%s", g.proc.Wait(), g.proc.Log())
		}
		resp, err := client.Get("http://" + g.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatalf("pylon not ready after %v: %s\n%s", timeout, last, g.proc.Log())
}

// configStatus is the JSON of /debug/config.
type configStatus struct {
	Version         uint64  `json:"version"`
	LastCompileMs   float64 `json:"lastCompileMs"`
	LastPropagateMs float64 `json:"lastPropagateMs"`
	Rejected        []struct {
		Object string `json:"object"`
		Error  string `json:"error"`
	} `json:"rejected"`
}

func (g *gateway) debugConfig() configStatus {
	g.t.Helper()
	body := g.get("/debug/config")
	var st configStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		g.t.Fatalf("/debug/config: %v\n%s", err, body)
	}
	return st
}

// get fetches a path on the metrics address and returns the body.
func (g *gateway) get(path string) string {
	g.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + g.metrics + path)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
	}
	return string(b)
}

// writeFile writes a config atomically (temp file and rename), as editors
// and config management tools do, so pylon never reads half a file.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 10 ms until it holds or timeout passes, and
// fails the test with the last message cond returned.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for {
		var ok bool
		ok, msg = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %s", what, timeout, msg)
}

// yamlList renders strings as a YAML flow sequence: ["a", "b"].
func yamlList(items ...string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
