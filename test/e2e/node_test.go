package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// testAdminKey is the admin API key every node of these tests is given
// through --admin-key-file.
const testAdminKey = "e2e-admin-key-9f3c2a7d41b8"

// node is a pylon process with its admin API on, its own data dir, admin
// and metrics addresses, and a listener (from its file config) at listen.
type node struct {
	*gateway
	name    string
	listen  string // the proxy listener of the file config
	admin   string // host:port of the admin API
	dataDir string
	argv    []string // the extra flags it was started with, for restart
}

// nodeConfig is a node's file config: one listener and one service named
// "backend" pointing at the given backend address, so routes written
// through the API can use a file-sourced service.
func nodeConfig(listen, backend string) string {
	return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: backend
    endpoints: [%q]
`, listen, backend)
}

// startNode runs pylon with the admin API on a free address, the known key
// and a fresh data dir. store is "" for the embedded bbolt store, or an
// etcd:// URL. extra is appended to the file config (more objects).
func startNode(t *testing.T, name, backend, store, extra string) *node {
	t.Helper()
	n := &node{name: name, listen: testenv.FreeAddr(t), admin: testenv.FreeAddr(t), dataDir: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, cfg, nodeConfig(n.listen, backend)+extra)
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	writeFile(t, keyFile, testAdminKey+"\n")
	n.argv = []string{"--data-dir", n.dataDir, "--admin-address", n.admin, "--admin-key-file", keyFile, "--node-name", name}
	if store != "" {
		n.argv = append(n.argv, "--store", store)
	}
	n.gateway = startGatewayAt(t, cfg, n.argv...)
	n.proc.WaitTCP(t, n.admin)
	return n
}

// restart starts the node again (after it was stopped or killed) with the
// same flags, data dir and addresses.
func (n *node) restart(t *testing.T) {
	t.Helper()
	if !n.proc.Exited() {
		t.Fatalf("node %s: restart while it still runs", n.name)
	}
	n.gateway = startGatewayAt(t, n.config, n.argv...) // a new metrics address
	n.proc.WaitTCP(t, n.admin)
}

// api is a client of one node's admin API.
func (n *node) api(t testing.TB) *adminClient {
	return &adminClient{t: t, base: "http://" + n.admin, key: testAdminKey, c: &http.Client{Timeout: 30 * time.Second}}
}

// adminClient calls the admin API and records what came back.
type adminClient struct {
	t    testing.TB
	base string
	key  string
	c    *http.Client
}

// apiAnswer is one admin API answer.
type apiAnswer struct {
	Status int
	Header http.Header
	Body   []byte
	Took   time.Duration
}

// envelope is an object as the API returns it.
type envelope struct {
	Kind    string          `json:"kind"`
	Version int64           `json:"version"`
	Source  string          `json:"source"`
	Object  json.RawMessage `json:"object"`
}

// apiError is every error answer of the API.
type apiError struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	Object   string `json:"object"`
	Version  *int64 `json:"version"`
	Problems []struct {
		Item    string `json:"item"`
		Object  string `json:"object"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"problems"`
}

// call sends method path with body (a string as is, anything else as
// JSON) and optional headers ("Name: value"). It fails the test only when
// no answer comes.
func (a *adminClient) call(method, path string, body any, headers ...string) apiAnswer {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	start := time.Now()
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return apiAnswer{Status: resp.StatusCode, Header: resp.Header, Body: b, Took: time.Since(start)}
}

// must calls and fails the test unless the status is want; it returns the
// answer.
func (a *adminClient) must(want int, method, path string, body any, headers ...string) apiAnswer {
	a.t.Helper()
	r := a.call(method, path, body, headers...)
	if r.Status != want {
		a.t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.Status, want, r.Body)
	}
	return r
}

func (r apiAnswer) envelope(t testing.TB) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Kind == "" || len(e.Object) == 0 {
		t.Fatalf("answer is not an envelope (%v): %s", err, r.Body)
	}
	return e
}

func (r apiAnswer) apiError(t testing.TB) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		t.Fatalf("answer is not an error body (%v): %s", err, r.Body)
	}
	return e
}

// hasProblem reports whether the error names field of object (object ""
// matches any object).
func (e apiError) hasProblem(object, field string) bool {
	for _, p := range e.Problems {
		if p.Field == field && (object == "" || p.Object == object) {
			return true
		}
	}
	return false
}

// serviceJSON and routeJSON are objects in the API's JSON.
func serviceJSON(name, endpoint string) map[string]any {
	return map[string]any{"name": name, "endpoints": []any{endpoint}}
}

func routeJSON(name, host, service string) map[string]any {
	return map[string]any{"name": name, "hosts": []any{host}, "backends": []any{map[string]any{"service": service}}}
}

// servedBy asks listen for host and returns the X-Backend that answered
// and the status; a transport error comes back as status 0.
func servedBy(c *http.Client, listen, host string) (string, int, error) {
	r, err := tryDo(c, "GET", "http://"+listen+"/", host)
	if err != nil {
		return "", 0, err
	}
	return r.Header.Get("X-Backend"), r.Status, nil
}

// waitServed polls until listen serves host from backend, for at most
// timeout, and returns how long it took.
func waitServed(t testing.TB, listen, host, backend string, timeout time.Duration) time.Duration {
	t.Helper()
	c := newClient()
	start := time.Now()
	eventually(t, timeout, fmt.Sprintf("%s served by %q on %s", host, backend, listen), func() (bool, string) {
		got, st, err := servedBy(c, listen, host)
		if err != nil {
			return false, err.Error()
		}
		return st == 200 && got == backend, fmt.Sprintf("%d from %q", st, got)
	})
	return time.Since(start)
}

// waitNotServed polls until listen answers 404 (no route) for host.
func waitNotServed(t testing.TB, listen, host string, timeout time.Duration) {
	t.Helper()
	c := newClient()
	eventually(t, timeout, fmt.Sprintf("%s no longer served on %s", host, listen), func() (bool, string) {
		got, st, err := servedBy(c, listen, host)
		if err != nil {
			return false, err.Error()
		}
		return st == 404, fmt.Sprintf("%d from %q", st, got)
	})
}

// pylonCLI runs the pylon binary as an admin API client against n, with
// the key from PYLON_ADMIN_KEY and no client config file of the user's.
func pylonCLI(t *testing.T, n *node, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.BuildPylon(t), append(args, "--server", "http://"+n.admin)...)
	cmd.Env = append(os.Environ(), "PYLON_ADMIN_KEY="+testAdminKey, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir(),
		"PYLON_ADMIN_ADDRESS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
