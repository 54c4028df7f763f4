package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
)

// fileRoute is a route of the file config, so the API's name collision
// with a file-sourced object can be tried on a route as well as on the
// file's service "backend".
const fileRoute = `routes:
  - name: fileroute
    hosts: ["file.example.com"]
    backends: [{ service: backend }]
`

// TestAdminAPI drives the admin API of one node on the embedded store: its
// writes are served by the proxy, bad writes are refused with field paths
// and write nothing, and the pylon CLI works against it.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	fileBackend, apiBackend := backends.StartHTTP(t, "file"), backends.StartHTTP(t, "api")
	n := startNode(t, "solo", fileBackend, "", fileRoute)
	api := n.api(t)
	waitServed(t, n.listen, "file.example.com", "file", 2*time.Second)

	t.Run("create service and routes, served within a second", func(t *testing.T) {
		api := n.api(t)
		r := api.must(201, "POST", "/api/v1/services", serviceJSON("apisvc", apiBackend))
		if e := r.envelope(t); e.Kind != "service" || e.Version <= 0 || !strings.Contains(string(e.Object), `"apisvc"`) {
			t.Fatalf("create answer: %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/services/apisvc" {
			t.Errorf("Location = %q", loc)
		}
		// Right after the service: a route using it must be accepted (the
		// dry run must see the service just written).
		api.must(201, "POST", "/api/v1/routes", routeJSON("apiroute", "api.example.com", "apisvc"))
		took := waitServed(t, n.listen, "api.example.com", "api", time.Second)
		// A route of the API using the file's service.
		api.must(201, "POST", "/api/v1/routes", routeJSON("mixed", "mixed.example.com", "backend"))
		took2 := waitServed(t, n.listen, "mixed.example.com", "file", time.Second)
		t.Logf("served %v and %v after the write's answer", took, took2)
		// Creating again is a conflict, not a silent replace.
		if r := api.call("POST", "/api/v1/routes", routeJSON("apiroute", "api.example.com", "apisvc")); r.Status != 409 {
			t.Errorf("second create: %d %s", r.Status, r.Body)
		}
	})

	t.Run("invalid objects are 400 with field paths", func(t *testing.T) {
		api := n.api(t)
		badRegex := routeJSON("badregex", "bad.example.com", "backend")
		badRegex["match"] = map[string]any{"path": map[string]any{"regex": "(unclosed"}}
		unknownField := routeJSON("unknownfield", "bad.example.com", "backend")
		unknownField["bogus"] = true
		unknownService := routeJSON("unknownsvc", "bad.example.com", "nosuchservice")
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"badregex", badRegex, "match.path.regex"},
			{"unknownfield", unknownField, "bogus"},
			{"unknownsvc", unknownService, "backends[0].service"},
		} {
			r := api.call("POST", "/api/v1/routes", c.body)
			if r.Status != 400 {
				t.Errorf("%s: %d, want 400\n%s", c.name, r.Status, r.Body)
				continue
			}
			if e := r.apiError(t); !e.hasProblem("", c.field) {
				t.Errorf("%s: no problem with field %q: %s", c.name, c.field, r.Body)
			}
			if g := api.call("GET", "/api/v1/routes/"+c.name, nil); g.Status != 404 {
				t.Errorf("%s: stored after a 400: GET %d %s", c.name, g.Status, g.Body)
			}
		}
		if _, st, _ := servedBy(newClient(), n.listen, "bad.example.com"); st != 404 {
			t.Errorf("bad.example.com: %d, want 404 (nothing written)", st)
		}
	})

	t.Run("stale version is 409", func(t *testing.T) {
		api := n.api(t)
		cur := api.must(200, "GET", "/api/v1/routes/apiroute", nil).envelope(t)
		obj := routeJSON("apiroute", "api.example.com", "apisvc")
		obj["priority"] = 5
		next := api.must(200, "PUT", "/api/v1/routes/apiroute", map[string]any{"version": cur.Version, "object": obj}).envelope(t)
		if next.Version <= cur.Version {
			t.Fatalf("version after PUT %d, was %d", next.Version, cur.Version)
		}
		obj["priority"] = 6
		r := api.call("PUT", "/api/v1/routes/apiroute", map[string]any{"version": cur.Version, "object": obj})
		if r.Status != 409 {
			t.Fatalf("PUT with stale version: %d %s", r.Status, r.Body)
		}
		if e := r.apiError(t); e.Version == nil || *e.Version != next.Version {
			t.Errorf("conflict should carry the current version %d: %s", next.Version, r.Body)
		}
		if r := api.call("PUT", "/api/v1/routes/apiroute", obj, fmt.Sprintf(`If-Match: "%d"`, cur.Version)); r.Status != 409 {
			t.Errorf("PUT with stale If-Match: %d %s", r.Status, r.Body)
		}
		if r := api.call("DELETE", "/api/v1/routes/apiroute", nil, fmt.Sprintf(`If-Match: "%d"`, cur.Version)); r.Status != 409 {
			t.Errorf("DELETE with stale If-Match: %d %s", r.Status, r.Body)
		}
		if got := api.must(200, "GET", "/api/v1/routes/apiroute", nil).envelope(t); got.Version != next.Version {
			t.Errorf("version %d after refused writes, want %d", got.Version, next.Version)
		}
		waitServed(t, n.listen, "api.example.com", "api", time.Second)
	})

	t.Run("batch is all or nothing", func(t *testing.T) {
		api := n.api(t)
		bad := routeJSON("batchbad", "batchbad.example.com", "batchsvc")
		bad["match"] = map[string]any{"path": map[string]any{"regex": "[z-a]"}}
		batch := map[string]any{"upserts": []any{
			map[string]any{"kind": "service", "object": serviceJSON("batchsvc", apiBackend)},
			map[string]any{"kind": "route", "object": routeJSON("batchgood", "batch.example.com", "batchsvc")},
			map[string]any{"kind": "route", "object": bad},
		}}
		r := api.call("POST", "/api/v1/batch", batch)
		if r.Status != 400 {
			t.Fatalf("batch with one bad object: %d %s", r.Status, r.Body)
		}
		e := r.apiError(t)
		if !e.hasProblem("route/batchbad", "match.path.regex") {
			t.Errorf("no problem for route/batchbad match.path.regex: %s", r.Body)
		}
		for _, p := range e.Problems {
			if p.Object == "route/batchbad" && p.Item != "upserts[2]" {
				t.Errorf("problem item %q, want upserts[2]", p.Item)
			}
		}
		for _, path := range []string{"/api/v1/services/batchsvc", "/api/v1/routes/batchgood", "/api/v1/routes/batchbad"} {
			if g := api.call("GET", path, nil); g.Status != 404 {
				t.Errorf("GET %s after a refused batch: %d %s", path, g.Status, g.Body)
			}
		}
		time.Sleep(200 * time.Millisecond) // had anything been applied, it would be live by now
		if _, st, _ := servedBy(newClient(), n.listen, "batch.example.com"); st != 404 {
			t.Errorf("batch.example.com: %d after a refused batch, want 404", st)
		}
		// The same batch without the bad route, with a delete of a route
		// that is not there (not an error without a version), goes in whole.
		batch["upserts"] = batch["upserts"].([]any)[:2]
		batch["deletes"] = []any{map[string]any{"kind": "route", "name": "neverwas"}}
		ok := api.must(200, "POST", "/api/v1/batch", batch)
		waitServed(t, n.listen, "batch.example.com", "api", time.Second)
		if !strings.Contains(string(ok.Body), `"batchgood"`) {
			t.Errorf("batch answer lacks the route: %s", ok.Body)
		}
	})

	t.Run("deleting a service still in use is refused", func(t *testing.T) {
		api := n.api(t)
		r := api.call("DELETE", "/api/v1/services/apisvc", nil)
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("DELETE of a used service: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(string(r.Body), "apiroute") {
			t.Errorf("refusal does not name the route using it: %s", r.Body)
		}
		api.must(200, "GET", "/api/v1/services/apisvc", nil)
		waitServed(t, n.listen, "api.example.com", "api", time.Second)
		// Nor in a batch; with its user deleted beside it, it goes.
		b := map[string]any{"deletes": []any{map[string]any{"kind": "service", "name": "batchsvc"}}}
		if r := api.call("POST", "/api/v1/batch", b); r.Status != 400 {
			t.Errorf("batch delete of a used service: %d %s", r.Status, r.Body)
		}
		b["deletes"] = append(b["deletes"].([]any), map[string]any{"kind": "route", "name": "batchgood"})
		api.must(200, "POST", "/api/v1/batch", b)
		waitNotServed(t, n.listen, "batch.example.com", time.Second)
	})

	t.Run("a name a file object has is refused", func(t *testing.T) {
		api := n.api(t)
		for _, c := range []struct {
			path string
			obj  map[string]any
		}{
			{"/api/v1/services", serviceJSON("backend", apiBackend)},
			{"/api/v1/routes", routeJSON("fileroute", "collide.example.com", "backend")},
		} {
			r := api.call("POST", c.path, c.obj)
			if r.Status != 409 || !strings.Contains(string(r.Body), `source \"file\"`) {
				t.Errorf("POST %s named like a file object: %d %s", c.path, r.Status, r.Body)
			}
		}
		waitServed(t, n.listen, "file.example.com", "file", time.Second)
		if _, st, _ := servedBy(newClient(), n.listen, "collide.example.com"); st != 404 {
			t.Errorf("collide.example.com: %d, want 404", st)
		}
	})

	t.Run("without the key is 401", func(t *testing.T) {
		for _, key := range []string{"", "wrong-key"} {
			c := &adminClient{t: t, base: api.base, key: key, c: api.c}
			r := c.call("GET", "/api/v1/routes", nil)
			if r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("key %q: %d (WWW-Authenticate %q) %s", key, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
			}
			if r := c.call("POST", "/api/v1/routes", routeJSON("sneaky", "sneaky.example.com", "backend")); r.Status != 401 {
				t.Errorf("key %q: write: %d %s", key, r.Status, r.Body)
			}
		}
		api.must(404, "GET", "/api/v1/routes/sneaky", nil)
	})

	t.Run("lists", func(t *testing.T) {
		api := n.api(t)
		var page struct {
			Items    []envelope `json:"items"`
			Continue string     `json:"continue"`
		}
		var names, sources []string
		cont := ""
		for range 10 {
			r := api.must(200, "GET", "/api/v1/routes?limit=1&continue="+cont, nil)
			page.Continue = ""
			if err := jsonDecode(strings.NewReader(string(r.Body)), &page); err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				names = append(names, string(e.Object))
				sources = append(sources, e.Source)
			}
			if cont = page.Continue; cont == "" {
				break
			}
		}
		// The API's routes and the file's, in name order, each with its source.
		if len(names) != 3 || !strings.Contains(names[0], `"apiroute"`) || !strings.Contains(names[1], `"fileroute"`) ||
			!strings.Contains(names[2], `"mixed"`) || strings.Join(sources, ",") != "api,file,api" {
			t.Errorf("paged list: %v from %v", names, sources)
		}
	})

	t.Run("pylon CLI", func(t *testing.T) {
		out, err := pylonCLI(t, n, "get", "routes")
		if err != nil || !strings.Contains(out, "apiroute") || !strings.Contains(out, "mixed") || !strings.Contains(out, "NAME") {
			t.Errorf("pylon get routes: %v\n%s", err, out)
		}
		out, err = pylonCLI(t, n, "get", "route", "apiroute", "-o", "yaml")
		if err != nil || !strings.Contains(out, "name: apiroute") || !strings.Contains(out, "api.example.com") || !strings.Contains(out, "service: apisvc") {
			t.Errorf("pylon get route apiroute -o yaml: %v\n%s", err, out)
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "svc.yaml"), fmt.Sprintf("services:\n  - name: clisvc\n    endpoints: [%q]\n", apiBackend))
		writeFile(t, filepath.Join(dir, "route.yaml"), "routes:\n  - name: cliroute\n    hosts: [\"cli.example.com\"]\n    backends: [{ service: clisvc }]\n")
		out, err = pylonCLI(t, n, "apply", "-f", dir)
		if err != nil || !strings.Contains(out, "route/cliroute applied") || !strings.Contains(out, "service/clisvc applied") {
			t.Fatalf("pylon apply -f: %v\n%s", err, out)
		}
		waitServed(t, n.listen, "cli.example.com", "api", time.Second)
		// Applying the same files again replaces them (no conflict).
		if out, err := pylonCLI(t, n, "apply", "-f", dir); err != nil {
			t.Errorf("pylon apply -f again: %v\n%s", err, out)
		}
		out, err = pylonCLI(t, n, "delete", "route", "cliroute")
		if err != nil || !strings.Contains(out, "deleted") {
			t.Fatalf("pylon delete route cliroute: %v\n%s", err, out)
		}
		waitNotServed(t, n.listen, "cli.example.com", time.Second)
		// An error of the API reaches the user with its field.
		out, err = pylonCLI(t, n, "delete", "service", "apisvc")
		if err == nil || !strings.Contains(out, "apiroute") {
			t.Errorf("pylon delete service apisvc (in use): %v\n%s", err, out)
		}
		out, err = pylonCLI(t, n, "get", "route", "cliroute")
		if err == nil || !strings.Contains(out, "404") {
			t.Errorf("pylon get of a deleted route: %v\n%s", err, out)
		}
	})
}

// TestAdminDurability writes through the API, kills the node with SIGKILL
// right after the answer and starts it again on the same data dir, a few
// times over: what was acknowledged is served again, at the same version.
// Each round writes a route using an API service and one using the file's
// service: at startup the latter races the file source.
func TestAdminDurability(t *testing.T) {
	t.Parallel()
	fileBackend, apiBackend := backends.StartHTTP(t, "file"), backends.StartHTTP(t, "api")
	n := startNode(t, "durable", fileBackend, "", "")
	n.api(t).must(201, "POST", "/api/v1/services", serviceJSON("dursvc", apiBackend))
	want := map[string]envelope{}
	const rounds = 5
	for round := range rounds {
		api := n.api(t)
		toAPI, toFile := fmt.Sprintf("api%d", round), fmt.Sprintf("file%d", round)
		want[toAPI] = api.must(201, "POST", "/api/v1/routes", routeJSON(toAPI, toAPI+".example.com", "dursvc")).envelope(t)
		// The last write is killed right after its answer: no time to settle.
		want[toFile] = api.must(201, "POST", "/api/v1/routes", routeJSON(toFile, toFile+".example.com", "backend")).envelope(t)
		if err := n.proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = n.proc.Wait()
		n.restart(t)

		api = n.api(t)
		for name, w := range want {
			got := api.must(200, "GET", "/api/v1/routes/"+name, nil).envelope(t)
			if got.Version != w.Version || string(got.Object) != string(w.Object) {
				t.Errorf("round %d: %s: version %d %s, want version %d %s", round, name, got.Version, got.Object, w.Version, w.Object)
			}
		}
		c := newClient()
		var lost []string
		for name := range want {
			backend := "api"
			if strings.HasPrefix(name, "file") {
				backend = "file"
			}
			// Served at once, or after a short settle; not served at all is lost.
			ok := false
			for range 50 {
				if got, st, _ := servedBy(c, n.listen, name+".example.com"); st == 200 && got == backend {
					ok = true
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !ok {
				lost = append(lost, name)
			}
		}
		if len(lost) > 0 {
			st := n.debugConfig()
			t.Fatalf("round %d: after kill -9 and restart, not served: %v (stored, GET answers them); /debug/config rejected: %v", round, lost, st.Rejected)
		}
	}
}
