package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// liveConfig renders a config whose routes are given as YAML snippets.
func liveConfig(listen, a, b string, routes ...string) string {
	return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: a
    endpoints: [%q]
  - name: b
    endpoints: [%q]
routes:
%s`, listen, a, b, strings.Join(routes, ""))
}

func route(name, host, service string, extra ...string) string {
	s := fmt.Sprintf("  - name: %s\n    hosts: [%q]\n    backends: [{ service: %s }]\n", name, host, service)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func TestLiveConfig(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a, b := backends.StartHTTP(t, "a"), backends.StartHTTP(t, "b")
	gw := startGateway(t, liveConfig(listen, a, b,
		route("r1", "live.example.com", "a"),
		route("r2", "other.example.com", "a"),
		route("r3", "gone.example.com", "a")))
	c := newClient()
	base := "http://" + listen
	backendOf := func(host string) (string, int) {
		r := do(t, c, "GET", base+"/", host)
		return r.Header.Get("X-Backend"), r.Status
	}
	for _, h := range []string{"live.example.com", "other.example.com", "gone.example.com"} {
		if got, st := backendOf(h); got != "a" || st != 200 {
			t.Fatalf("%s: %d from %q before any edit", h, st, got)
		}
	}

	t.Run("edit applies within a second", func(t *testing.T) {
		start := time.Now()
		writeFile(t, gw.config, liveConfig(listen, a, b,
			route("r1", "live.example.com", "b"),
			route("r2", "other.example.com", "a"),
			route("r3", "gone.example.com", "a")))
		eventually(t, time.Second, "r1 served by b", func() (bool, string) {
			got, st := backendOf("live.example.com")
			return got == "b", fmt.Sprintf("%d from %q", st, got)
		})
		t.Logf("edit live after %v (pylon reports propagate %.2f ms)", time.Since(start), gw.debugConfig().LastPropagateMs)
	})

	t.Run("invalid edit keeps the last good version", func(t *testing.T) {
		// r2 gets a bad regex and a new backend; r1 moves back to a in the
		// same write. r1's change must apply; r2 must keep serving as before.
		writeFile(t, gw.config, liveConfig(listen, a, b,
			route("r1", "live.example.com", "a"),
			route("r2", "other.example.com", "b", `match: { path: { regex: "^/(unclosed" } }`),
			route("r3", "gone.example.com", "a")))
		eventually(t, time.Second, "r1 back on a", func() (bool, string) {
			got, st := backendOf("live.example.com")
			return got == "a", fmt.Sprintf("%d from %q", st, got)
		})
		if got, st := backendOf("other.example.com"); got != "a" || st != 200 {
			t.Fatalf("r2 answered %d from %q; want its last good version (a)", st, got)
		}
		// The log names the file, the line and the object.
		eventually(t, time.Second, "rejection logged", func() (bool, string) {
			for _, l := range strings.Split(gw.proc.Log(), "\n") {
				if strings.Contains(l, `"object":"route/file/default/r2"`) && strings.Contains(l, `"file":"`+gw.config+`"`) &&
					strings.Contains(l, `"line":18`) && strings.Contains(l, "match.path.regex") {
					return true, ""
				}
			}
			return false, "no log line naming file, line 18 and route r2"
		})
		st := gw.debugConfig()
		found := false
		for _, r := range st.Rejected {
			if strings.HasSuffix(r.Object, "/r2") && strings.HasPrefix(r.Object, "route/") {
				found = true
				if !strings.Contains(r.Error, "match.path.regex") {
					t.Errorf("rejection of r2 does not name the field: %q", r.Error)
				}
			} else {
				t.Errorf("unexpected rejected object %s: %s", r.Object, r.Error)
			}
		}
		if !found {
			t.Fatalf("r2 not in /debug/config rejected: %+v", st.Rejected)
		}
	})

	t.Run("removed route answers 404", func(t *testing.T) {
		writeFile(t, gw.config, liveConfig(listen, a, b,
			route("r1", "live.example.com", "a"),
			route("r2", "other.example.com", "a")))
		eventually(t, time.Second, "gone.example.com 404", func() (bool, string) {
			got, st := backendOf("gone.example.com")
			return st == 404, fmt.Sprintf("%d from %q", st, got)
		})
		// Fixing r2 clears its rejection.
		eventually(t, time.Second, "rejections cleared", func() (bool, string) {
			st := gw.debugConfig()
			return len(st.Rejected) == 0, fmt.Sprintf("%+v", st.Rejected)
		})
		if got, st := backendOf("live.example.com"); got != "a" || st != 200 {
			t.Fatalf("r1 answered %d from %q after an unrelated removal", st, got)
		}
	})
}
