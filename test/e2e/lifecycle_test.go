package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// listenerOnly is a node's file config without its service: what the file
// says after the service "backend" was deleted from it.
func listenerOnly(listen string) string {
	return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
`, listen)
}

// logRecords decodes pylon's JSON log, one record per line; lines that are
// not JSON objects are left out (testenv checks them separately).
func logRecords(log string) []map[string]any {
	var recs []map[string]any
	for _, l := range strings.Split(log, "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// rejectedCounts reads what a node reports rejected: the objects of
// /debug/config and the count of /api/v1/status.
func (n *node) rejectedCounts(t *testing.T) ([]string, int) {
	t.Helper()
	var objs []string
	for _, r := range n.debugConfig().Rejected {
		objs = append(objs, r.Object)
	}
	var st struct {
		Rejected int `json:"rejected"`
	}
	body := n.api(t).must(200, "GET", "/api/v1/status", nil).Body
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/api/v1/status: %v\n%s", err, body)
	}
	return objs, st.Rejected
}

// TestRestoredObjectClearsItsRejection: deleting a file's service that an
// API route uses is refused and reported; putting the file back as it was
// clears the report at once, although no content changed.
func TestRestoredObjectClearsItsRejection(t *testing.T) {
	t.Parallel()
	fileBackend := backends.StartHTTP(t, "file")
	n := startNode(t, "restore", fileBackend, "", "")
	n.api(t).must(201, "POST", "/api/v1/routes", routeJSON("usesfile", "usesfile.example.com", "backend"))
	waitServed(t, n.listen, "usesfile.example.com", "file", 2*time.Second)

	writeFile(t, n.config, listenerOnly(n.listen))
	eventually(t, 2*time.Second, "the refused delete reported", func() (bool, string) {
		objs, count := n.rejectedCounts(t)
		ok := len(objs) == 1 && objs[0] == "service/file/default/backend" && count == 1
		return ok, fmt.Sprintf("/debug/config %v, /api/v1/status rejected %d", objs, count)
	})
	waitServed(t, n.listen, "usesfile.example.com", "file", time.Second)

	writeFile(t, n.config, nodeConfig(n.listen, fileBackend))
	eventually(t, 2*time.Second, "the rejection cleared by the restored file", func() (bool, string) {
		objs, count := n.rejectedCounts(t)
		return len(objs) == 0 && count == 0, fmt.Sprintf("/debug/config %v, /api/v1/status rejected %d", objs, count)
	})
	waitServed(t, n.listen, "usesfile.example.com", "file", time.Second)
}

// orphanRoute is a file route whose service exists nowhere: a real
// rejection, which every start must report.
const orphanRoute = `routes:
  - name: orphan
    hosts: ["orphan.example.com"]
    backends: [{ service: nosuch }]
`

// TestRestartReportsNoTransientRejection: an API route using the file's
// service is live before the node stops; starting again, the sources load
// in whatever order, and the route is never reported rejected, while a
// route that really lacks its service still is.
func TestRestartReportsNoTransientRejection(t *testing.T) {
	t.Parallel()
	fileBackend, apiBackend := backends.StartHTTP(t, "file"), backends.StartHTTP(t, "api")
	n := startNode(t, "restart", fileBackend, "", orphanRoute)
	api := n.api(t)
	api.must(201, "POST", "/api/v1/services", serviceJSON("apisvc", apiBackend))
	api.must(201, "POST", "/api/v1/routes", routeJSON("mixed", "mixed.example.com", "backend"))
	waitServed(t, n.listen, "mixed.example.com", "file", 2*time.Second)
	// And the other way round: a file route using the API's service.
	cfg := nodeConfig(n.listen, fileBackend) + orphanRoute + `  - name: fileuser
    hosts: ["fileuser.example.com"]
    backends: [{ service: apisvc }]
`
	writeFile(t, n.config, cfg)
	waitServed(t, n.listen, "fileuser.example.com", "api", 2*time.Second)

	for round := range 3 {
		if err := n.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = n.proc.Wait()
		n.restart(t)
		waitServed(t, n.listen, "mixed.example.com", "file", time.Second)
		waitServed(t, n.listen, "fileuser.example.com", "api", time.Second)
		var orphan bool
		for _, r := range logRecords(n.proc.Log()) {
			if r["level"] != "ERROR" || !strings.Contains(fmt.Sprint(r["msg"]), "rejected") {
				continue
			}
			switch {
			case r["object"] == "route/file/default/orphan" && strings.Contains(fmt.Sprint(r["error"]), `unknown service "nosuch"`):
				orphan = true
			default:
				t.Errorf("round %d: a start reported a rejection that is not one: %v", round, r)
			}
		}
		if !orphan {
			t.Errorf("round %d: the orphan route's real rejection was not reported\n%s", round, n.proc.Log())
		}
		if objs, _ := n.rejectedCounts(t); len(objs) != 1 || objs[0] != "route/file/default/orphan" {
			t.Errorf("round %d: rejected after the start: %v, want the orphan route only", round, objs)
		}
	}
}

// readyz returns /readyz's status and body at a metrics address.
func readyz(metrics string) (int, string) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + metrics + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// heldReport returns what /debug/config says of a held-back edit, if anything.
func heldReport(g *gateway) string {
	for _, r := range g.debugConfig().Rejected {
		if strings.Contains(r.Error, "held back") {
			return r.Object + ": " + r.Error
		}
	}
	return ""
}

// TestTruncatedConfigIsHeldBack: a config file truncated to nothing (as a
// half-written one is) deletes nothing: the edit is held back, logged as an
// error and shown in /debug/config until the file is put back, or until
// SIGHUP confirms it.
func TestTruncatedConfigIsHeldBack(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	cfg := liveConfig(listen, a, a, route("r1", "held.example.com", "a"))
	gw := startGateway(t, cfg)
	waitServed(t, listen, "held.example.com", "a", 2*time.Second)
	truncate := func() {
		t.Helper()
		if err := os.Truncate(gw.config, 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the edit held back", func() (bool, string) {
			p := heldReport(gw)
			return strings.Contains(p, gw.config) && strings.Contains(p, "SIGHUP"), "/debug/config: " + p
		})
	}

	truncate()
	time.Sleep(300 * time.Millisecond) // ten times the debounce: had it applied, the route would be gone
	waitServed(t, listen, "held.example.com", "a", time.Millisecond)
	held := false
	for _, r := range logRecords(gw.proc.Log()) {
		held = held || r["level"] == "ERROR" && r["msg"] == "config edit held back" && r["file"] == gw.config
	}
	if !held {
		t.Errorf("the held-back edit was not logged as an error\n%s", gw.proc.Log())
	}

	writeFile(t, gw.config, cfg)
	eventually(t, 2*time.Second, "the report cleared by the restored file", func() (bool, string) {
		p := heldReport(gw)
		return p == "", "/debug/config: " + p
	})
	waitServed(t, listen, "held.example.com", "a", time.Millisecond)

	truncate()
	if err := gw.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the confirmed edit applied", func() (bool, string) {
		_, st, err := servedBy(newClient(), listen, "held.example.com")
		return err != nil, fmt.Sprintf("still answered %d", st)
	})
	if gw.proc.Exited() {
		t.Fatalf("SIGHUP ended pylon\n%s", gw.proc.Log())
	}
	if p := heldReport(gw); p != "" {
		t.Errorf("still reported after SIGHUP: %s", p)
	}
	if st, body := readyz(gw.metrics); st != 503 || !strings.Contains(body, "no listeners") {
		t.Errorf("/readyz with the config emptied: %d %q, want 503 naming the missing listeners", st, body)
	}
}

// TestEmptyConfigIsNotReady: pylon on an empty config directory has nothing
// to serve; it says so in /readyz and its log, and turns ready once a file
// with a listener appears.
func TestEmptyConfigIsNotReady(t *testing.T) {
	t.Parallel()
	dir, metrics := t.TempDir(), testenv.FreeAddr(t)
	proc := testenv.Start(t, testenv.BuildPylon(t), "run", "--config", dir, "--metrics-address", metrics,
		"--data-dir", t.TempDir(), "--admin-address", "off", "--access-log=false", "--log-format", "text")
	eventually(t, 10*time.Second, "/readyz naming the missing listeners", func() (bool, string) {
		st, body := readyz(metrics)
		return st == 503 && strings.Contains(body, "no listeners"), fmt.Sprintf("%d %q", st, body)
	})
	time.Sleep(300 * time.Millisecond)
	if st, body := readyz(metrics); st != 503 {
		t.Fatalf("/readyz turned %d %q with nothing to serve", st, body)
	}
	if !strings.Contains(proc.Log(), "not ready") || !strings.Contains(proc.Log(), "no listeners") {
		t.Errorf("the log does not say why pylon is not ready\n%s", proc.Log())
	}

	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	writeFile(t, filepath.Join(dir, "pylon.yaml"), liveConfig(listen, a, a, route("r1", "late.example.com", "a")))
	eventually(t, 2*time.Second, "ready once a listener is live", func() (bool, string) {
		st, body := readyz(metrics)
		return st == 200, fmt.Sprintf("%d %q", st, body)
	})
	waitServed(t, listen, "late.example.com", "a", time.Second)
}
