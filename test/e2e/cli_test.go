package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// cliRun runs the pylon binary as an admin API client of n, with stdin,
// the key from PYLON_ADMIN_KEY and no client config of the user's. It
// returns stdout alone (what a pipe takes) and stdout with stderr (what a
// user reads).
func cliRun(t *testing.T, n *node, stdin string, args ...string) (stdout, all string, err error) {
	t.Helper()
	cmd := exec.Command(testenv.BuildPylon(t), append(args, "--server", "http://"+n.admin)...)
	cmd.Env = append(os.Environ(), "PYLON_ADMIN_KEY="+testAdminKey, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir(),
		"PYLON_ADMIN_ADDRESS=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, both bytes.Buffer
	cmd.Stdout = &multi{&out, &both}
	cmd.Stderr = &both
	err = cmd.Run()
	return out.String(), both.String(), err
}

// multi writes to two buffers.
type multi struct{ a, b *bytes.Buffer }

func (m *multi) Write(p []byte) (int, error) { m.a.Write(p); return m.b.Write(p) }

// tableRow finds the row of name in a `pylon get` table and returns its
// columns, nil if there is none.
func tableRow(table, name string) []string {
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// fileObjects is a node's file config beyond its listener and service
// "backend": the route a new user sees serving and then asks the CLI about.
const fileObjects = `routes:
  - name: echo
    hosts: ["echo.example.com"]
    backends: [{ service: backend }]
`

// TestCLIShowsEveryObject: `pylon get` lists the objects of the config
// files beside those written through the API, each with its source, and
// shows one of them; objects of files are read-only through the API: a
// delete or an apply of one is refused naming the source, and it keeps
// serving.
func TestCLIShowsEveryObject(t *testing.T) {
	t.Parallel()
	fileBackend, apiBackend := backends.StartHTTP(t, "file"), backends.StartHTTP(t, "api")
	n := startNode(t, "cli-list", fileBackend, "", fileObjects)
	waitServed(t, n.listen, "echo.example.com", "file", 2*time.Second)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "api.yaml"), fmt.Sprintf(`services:
  - name: apisvc
    endpoints: [%q]
routes:
  - name: apiroute
    hosts: ["api.example.com"]
    backends: [{ service: apisvc }]
`, apiBackend))
	if _, out, err := cliRun(t, n, "", "apply", "-f", dir); err != nil {
		t.Fatalf("pylon apply: %v\n%s", err, out)
	}
	waitServed(t, n.listen, "api.example.com", "api", 2*time.Second)

	t.Run("get lists every source", func(t *testing.T) {
		out, _, err := cliRun(t, n, "", "get", "routes")
		if err != nil {
			t.Fatalf("pylon get routes: %v\n%s", err, out)
		}
		if r := tableRow(out, "echo"); len(r) < 3 || r[1] != "file" || r[2] != "-" {
			t.Errorf("route echo from the file: row %v in\n%s", r, out)
		}
		if r := tableRow(out, "apiroute"); len(r) < 3 || r[1] != "api" || r[2] == "-" {
			t.Errorf("route apiroute from the API: row %v in\n%s", r, out)
		}
		out, _, err = cliRun(t, n, "", "get", "services")
		if r := tableRow(out, "backend"); err != nil || len(r) < 2 || r[1] != "file" {
			t.Errorf("pylon get services: %v, row %v in\n%s", err, r, out)
		}
		out, _, err = cliRun(t, n, "", "get", "routes", "--source", "file", "-o", "yaml")
		if err != nil || !strings.Contains(out, "name: echo") || strings.Contains(out, "apiroute") {
			t.Errorf("pylon get routes --source file: %v\n%s", err, out)
		}
	})

	t.Run("get shows one", func(t *testing.T) {
		out, all, err := cliRun(t, n, "", "get", "route", "echo")
		if r := tableRow(out, "echo"); err != nil || len(r) < 2 || r[1] != "file" {
			t.Errorf("pylon get route echo: %v\n%s", err, all)
		}
		out, all, err = cliRun(t, n, "", "get", "route", "echo", "-o", "yaml")
		if err != nil || !strings.Contains(out, "name: echo") || !strings.Contains(out, "echo.example.com") {
			t.Errorf("pylon get route echo -o yaml: %v\n%s", err, all)
		}
	})

	t.Run("writes to a file object are refused naming the source", func(t *testing.T) {
		for _, args := range [][]string{{"delete", "route", "echo"}, {"delete", "service", "backend"}} {
			_, all, err := cliRun(t, n, "", args...)
			if err == nil || !strings.Contains(all, "409") || !strings.Contains(all, `source "file"`) {
				t.Errorf("pylon %s: %v, want a 409 naming source \"file\":\n%s", strings.Join(args, " "), err, all)
			}
		}
		edited := filepath.Join(t.TempDir(), "echo.yaml")
		writeFile(t, edited, "routes:\n  - name: echo\n    hosts: [\"stolen.example.com\"]\n    backends: [{ service: apisvc }]\n")
		_, all, err := cliRun(t, n, "", "apply", "-f", edited)
		if err == nil || !strings.Contains(all, "409") || !strings.Contains(all, `source "file"`) {
			t.Errorf("pylon apply of a file object: %v, want a 409 naming source \"file\":\n%s", err, all)
		}
		waitServed(t, n.listen, "echo.example.com", "file", time.Second)
		if _, st, _ := servedBy(newClient(), n.listen, "stolen.example.com"); st != 404 {
			t.Errorf("stolen.example.com: %d, want 404", st)
		}
	})
}

// TestCLIRoundTrip: what `pylon get -o yaml|json` prints, `pylon apply -f`
// takes unchanged, from a file or from stdin, one object or a list: the
// objects come back as they were.
func TestCLIRoundTrip(t *testing.T) {
	t.Parallel()
	backend := backends.StartHTTP(t, "api")
	n := startNode(t, "cli-roundtrip", backend, "", "")
	api := n.api(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "objects.yaml"), fmt.Sprintf(`services:
  - name: rt
    endpoints: [%q]
routes:
  - name: rt-one
    hosts: ["one.example.com"]
    match: { path: { prefix: / }, methods: [GET] }
    timeouts: { request: 2500ms }
    retries: { attempts: 3, on: [503] }
    backends: [{ service: rt }]
  - name: rt-two
    hosts: ["two.example.com"]
    priority: 3
    backends: [{ service: rt }]
`, backend))
	if _, all, err := cliRun(t, n, "", "apply", "-f", dir); err != nil {
		t.Fatalf("pylon apply: %v\n%s", err, all)
	}
	stored := func(name string) string {
		t.Helper()
		return string(api.must(200, "GET", "/api/v1/routes/"+name, nil).envelope(t).Object)
	}
	want := map[string]string{"rt-one": stored("rt-one"), "rt-two": stored("rt-two")}

	for _, tc := range []struct {
		name   string
		get    []string
		stdin  bool
		routes []string
	}{
		{"one route, yaml, from a file", []string{"get", "route", "rt-one", "-o", "yaml"}, false, []string{"rt-one"}},
		{"one route, json, from stdin", []string{"get", "route", "rt-two", "-o", "json"}, true, []string{"rt-two"}},
		{"a list, yaml, from stdin", []string{"get", "routes", "-o", "yaml"}, true, []string{"rt-one", "rt-two"}},
		{"a list, json, from a file", []string{"get", "routes", "-o", "json"}, false, []string{"rt-one", "rt-two"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, all, err := cliRun(t, n, "", tc.get...)
			if err != nil {
				t.Fatalf("pylon %s: %v\n%s", strings.Join(tc.get, " "), err, all)
			}
			for _, r := range tc.routes {
				if _, all, err := cliRun(t, n, "", "delete", "route", r); err != nil {
					t.Fatalf("pylon delete route %s: %v\n%s", r, err, all)
				}
				api.must(404, "GET", "/api/v1/routes/"+r, nil)
			}
			args, stdin := []string{"apply", "-f", "-"}, out
			if !tc.stdin {
				f := filepath.Join(t.TempDir(), "got."+tc.get[len(tc.get)-1])
				writeFile(t, f, out)
				args, stdin = []string{"apply", "-f", f}, ""
			}
			if _, all, err := cliRun(t, n, stdin, args...); err != nil {
				t.Fatalf("pylon %s of what get printed: %v\n%s\n--- get printed ---\n%s", strings.Join(args, " "), err, all, out)
			}
			for _, r := range tc.routes {
				if got := stored(r); !sameJSON(got, want[r]) {
					t.Errorf("%s after the round trip:\n got %s\nwant %s", r, got, want[r])
				}
			}
		})
	}
	waitServed(t, n.listen, "one.example.com", "api", time.Second)
	waitServed(t, n.listen, "two.example.com", "api", time.Second)
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestCLIShowsPublishedKubernetes: on a gateway node of a fleet, the
// objects a Kubernetes controller published appear in `pylon get` with
// source kubernetes and their namespace, and are read-only like a file's.
func TestCLIShowsPublishedKubernetes(t *testing.T) {
	t.Parallel()
	kube, etcd := testenv.StartKube(t), testenv.StartEtcd(t, testenv.WithoutFsync())
	env := &kubeEnv{t: t, kube: kube}
	ns := env.namespace(t, "cli")
	// A Service without endpoints: the route is translated and published
	// all the same (it answers 503), and no traffic is needed here.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := kube.Client.CoreV1().Services(ns).Create(env.ctx(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.create(t, ingress(ns, "shop", "shop.example.com", "/", networkingv1.PathTypePrefix, "app"))
	store := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	ctlCfg := fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", testenv.FreeAddr(t))
	startGateway(t, ctlCfg, "--kubernetes", "--kubeconfig", kube.Kubeconfig, "--kubernetes-publish", store)
	n := startNode(t, "cli-fleet", backends.StartHTTP(t, "file"), store, "")

	var name string
	eventually(t, 20*time.Second, "a published route in pylon get routes", func() (bool, string) {
		out, all, err := cliRun(t, n, "", "get", "routes")
		if err != nil {
			return false, all
		}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[1] == "kubernetes" && strings.HasPrefix(f[0], ns+"/") {
				name = f[0]
				return true, ""
			}
		}
		return false, out + fmt.Sprintf("rejected on the node: %v", n.debugConfig().Rejected)
	})
	out, all, err := cliRun(t, n, "", "get", "route", name, "-o", "yaml")
	if err != nil || !strings.Contains(out, "shop.example.com") {
		t.Errorf("pylon get route %s -o yaml: %v\n%s", name, err, all)
	}
	_, all, err = cliRun(t, n, "", "delete", "route", name)
	if err == nil || !strings.Contains(all, "409") || !strings.Contains(all, `source "kubernetes"`) {
		t.Errorf("pylon delete route %s: %v, want a 409 naming source \"kubernetes\":\n%s", name, err, all)
	}
	if _, _, err := cliRun(t, n, "", "get", "route", name); err != nil {
		t.Errorf("route %s gone after a refused delete: %v", name, err)
	}
}

// TestVersionOneSource: the version a node reports in /api/v1/nodes is
// the one `pylon version` prints, for a binary whose version comes from
// its build info (go build with VCS stamping, as a release build is).
func TestVersionOneSource(t *testing.T) {
	t.Parallel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "pylon")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/pylon")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true (a stamped binary needs the git checkout): %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	printed := strings.TrimSpace(strings.TrimPrefix(string(out), "pylon "))
	if err != nil || printed == "" || printed == "dev" {
		t.Fatalf("pylon version: %q %v: the build info holds no version, so this test proves nothing", out, err)
	}
	n := &node{name: "versioned", listen: testenv.FreeAddr(t), admin: testenv.FreeAddr(t), dataDir: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, cfg, nodeConfig(n.listen, "127.0.0.1:1"))
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	writeFile(t, keyFile, testAdminKey+"\n")
	n.gateway = startGatewayBin(t, bin, cfg, "--data-dir", n.dataDir, "--admin-address", n.admin, "--admin-key-file", keyFile)
	n.proc.WaitTCP(t, n.admin)
	items, code, body := listNodes(t, n)
	if code != 200 || len(items) != 1 {
		t.Fatalf("/api/v1/nodes: %d %s", code, body)
	}
	if items[0].Version != printed {
		t.Errorf("/api/v1/nodes says version %q, pylon version prints %q", items[0].Version, printed)
	}
}
