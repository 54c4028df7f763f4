package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKubeconfig writes a kubeconfig whose only cluster is server.
func writeKubeconfig(t *testing.T, dir, name, server string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, server)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRESTConfigLoadingRules: the kubeconfig is found as kubectl finds it:
// --kubeconfig first, then $KUBECONFIG. (~/.kube/config and in-cluster come
// after; the e2e test runs the binary with its own $HOME for those.)
func TestRESTConfigLoadingRules(t *testing.T) {
	dir := t.TempDir()
	flag := writeKubeconfig(t, dir, "flag", "https://127.0.0.1:6441")
	env1 := writeKubeconfig(t, dir, "env1", "https://127.0.0.1:6442")
	env2 := writeKubeconfig(t, dir, "env2", "https://127.0.0.1:6443")
	for _, c := range []struct {
		name, flag, env, want string
	}{
		{"flag alone", flag, "", "https://127.0.0.1:6441"},
		{"flag before $KUBECONFIG", flag, env1, "https://127.0.0.1:6441"},
		{"$KUBECONFIG without a flag", "", env1, "https://127.0.0.1:6442"},
		{"$KUBECONFIG list: the first file's context", "", env1 + string(os.PathListSeparator) + env2, "https://127.0.0.1:6442"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", c.env)
			cfg, err := RESTConfig(c.flag)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != c.want {
				t.Errorf("host %s, want %s", cfg.Host, c.want)
			}
		})
	}
	t.Run("a broken file is named", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		if err := os.WriteFile(bad, []byte("clusters: ["), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := RESTConfig(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.HasPrefix(err.Error(), "kubernetes: ") {
			t.Errorf("error %v, want one naming %s", err, bad)
		}
	})
}
