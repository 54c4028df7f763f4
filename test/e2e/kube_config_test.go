package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/test/testenv"
)

// TestKubeconfigLoadingRules: `pylon run --kubernetes` finds its cluster as
// kubectl and `pylon ingress check` do: --kubeconfig, else $KUBECONFIG,
// else ~/.kube/config, else in-cluster; with none of them it says where it
// looked. It sets $HOME and $KUBECONFIG for the processes it starts, so it
// does not run in parallel.
func TestKubeconfigLoadingRules(t *testing.T) {
	// Built and started before $HOME changes: the Go build cache and the
	// test components are found under the real one.
	bin := testenv.BuildPylon(t)
	env := startKubeEnv(t)
	ns := env.namespace(t, "kubeconfig")
	env.service(t, ns, "web1", 8081)
	env.create(t, ingress(ns, "hello", "hello.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
	soon(t, "served by the first gateway", func() string { return want(env.get("hello.kube.test", "/"), 200, "web1") })

	good := env.kube.Kubeconfig
	// A cluster nobody serves: a gateway that picked it would never be ready.
	bogus := filepath.Join(t.TempDir(), "bogus.kubeconfig")
	writeFile(t, bogus, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, testenv.FreePort(t)))
	home := func(t *testing.T, kubeconfig string) string {
		dir := t.TempDir()
		if kubeconfig != "" {
			b, err := os.ReadFile(kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, ".kube"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, ".kube", "config"), string(b))
		}
		return dir
	}
	for _, c := range []struct {
		name, flag, env, home string
	}{
		{"$KUBECONFIG", "", good, ""},
		{"~/.kube/config", "", "", good},
		{"--kubeconfig before $KUBECONFIG", good, bogus, ""},
		{"$KUBECONFIG before ~/.kube/config", "", good, bogus},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", c.env)
			t.Setenv("HOME", home(t, c.home))
			args := []string{"--kubernetes"}
			if c.flag != "" {
				args = append(args, "--kubeconfig", c.flag)
			}
			gw := &kubeEnv{t: t, kube: env.kube, http: testenv.FreeAddr(t)}
			gw.gw = startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", gw.http), args...)
			// Ready means synced and live: no wait.
			if msg := want(gw.get("hello.kube.test", "/"), 200, "web1"); msg != "" {
				t.Errorf("%s", msg)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		t.Setenv("KUBECONFIG", "")
		t.Setenv("HOME", home(t, ""))
		cfg := filepath.Join(t.TempDir(), "pylon.yaml")
		writeFile(t, cfg, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", testenv.FreeAddr(t)))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "run", "--config", cfg, "--kubernetes", "--metrics-address", testenv.FreeAddr(t),
			"--data-dir", t.TempDir(), "--admin-address", "off").CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("pylon run --kubernetes without a cluster: %v, want a quick exit with an error\n%s", err, out)
		}
		if !strings.Contains(string(out), "no --kubeconfig, no $KUBECONFIG, no ~/.kube/config") {
			t.Errorf("the error does not say where pylon looked:\n%s", out)
		}
	})
}
