package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Kube is a real kube-apiserver (and its etcd) started by a test, on free
// ports on 127.0.0.1, with its files in the test's temp dir. Without
// kube-controller-manager (StartControllerManager) nothing creates
// EndpointSlices, ServiceAccounts or deletes namespaces' contents.
type Kube struct {
	URL        string // https://127.0.0.1:PORT
	Kubeconfig string // admin (system:masters) kubeconfig file
	Client     *kubernetes.Clientset
	Etcd       *Etcd
	Proc       *Process

	dir    string
	tokens map[string]string // user → bearer token
}

// KubeOption changes how StartKube starts the API server.
type KubeOption func(*kubeConfig)

type kubeConfig struct {
	rbac  bool
	users []string
}

// WithRBAC starts the API server with --authorization-mode=RBAC (the admin
// kubeconfig is in system:masters and passes anyway).
func WithRBAC() KubeOption { return func(c *kubeConfig) { c.rbac = true } }

// WithUser adds a user without groups, whose kubeconfig UserKubeconfig
// writes: for tests of RBAC rules.
func WithUser(name string) KubeOption {
	return func(c *kubeConfig) { c.users = append(c.users, name) }
}

// StartKube starts etcd and kube-apiserver (built by hack/testenv.sh) and
// waits until /readyz answers ok. Under CI a missing component fails the
// test; elsewhere it skips.
func StartKube(t testing.TB, opts ...KubeOption) *Kube {
	t.Helper()
	var cfg kubeConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin := Tool(t, "kube_apiserver")
	etcd := StartEtcd(t, WithoutFsync())
	dir := t.TempDir()
	k := &Kube{Etcd: etcd, dir: dir, tokens: map[string]string{}}
	writeServiceAccountKeys(t, dir)
	var lines []string
	for i, u := range append([]string{"admin"}, cfg.users...) {
		k.tokens[u] = randomToken(t)
		groups := ""
		if i == 0 {
			groups = `"system:masters"`
		}
		lines = append(lines, fmt.Sprintf("%s,%s,%s-uid,%s", k.tokens[u], u, u, groups))
	}
	mustWrite(t, filepath.Join(dir, "tokens.csv"), strings.Join(lines, "\n")+"\n")
	port := FreePort(t)
	k.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	authz := "AlwaysAllow"
	if cfg.rbac {
		authz = "Node,RBAC"
	}
	k.Proc = Start(t, bin,
		"--etcd-servers="+etcd.Endpoint(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--authorization-mode="+authz,
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--service-cluster-ip-range=10.96.0.0/16",
		// Pods are created without ServiceAccounts in tests that run no
		// controller-manager to make them.
		"--disable-admission-plugins=ServiceAccount",
	)
	k.Kubeconfig = k.UserKubeconfig(t, "admin")
	k.waitReady(t)
	c, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatalf("testenv: kubeconfig: %v", err)
	}
	c.QPS, c.Burst = 1000, 2000
	if k.Client, err = kubernetes.NewForConfig(c); err != nil {
		t.Fatalf("testenv: kube client: %v", err)
	}
	return k
}

// UserKubeconfig writes a kubeconfig for user (admin, or one given with
// WithUser) and returns its path. TLS is not verified: the API server's
// certificate is self-signed and made at start.
func (k *Kube) UserKubeconfig(t testing.TB, user string) string {
	t.Helper()
	tok, ok := k.tokens[user]
	if !ok {
		t.Fatalf("testenv: kube: no user %q (add it with WithUser)", user)
	}
	path := filepath.Join(k.dir, user+".kubeconfig")
	mustWrite(t, path, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: %s
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, k.URL, user, tok, user))
	return path
}

func (k *Kube) waitReady(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	err := k.Proc.waitFor(60*time.Second, func() error {
		req, _ := http.NewRequest("GET", k.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+k.tokens["admin"])
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s %s", resp.Status, lastLines(string(b), 5))
		}
		return nil
	})
	if err != nil {
		k.Proc.dumpLog(t)
		t.Fatalf("testenv: kube-apiserver on %s: %v", k.URL, err)
	}
}

// StartControllerManager runs kube-controller-manager against the API
// server, with every controller on and no leader election: it makes
// EndpointSlices from Pods that are Ready.
func (k *Kube) StartControllerManager(t testing.TB) *Process {
	t.Helper()
	bin := Tool(t, "kube_controller_manager")
	return Start(t, bin,
		"--kubeconfig="+k.Kubeconfig,
		"--controllers=*",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+filepath.Join(k.dir, "sa.key"),
		"--secure-port=0",
	)
}

func writeServiceAccountKeys(t testing.TB, dir string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: service account key: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("testenv: service account key: %v", err)
	}
	mustWrite(t, filepath.Join(dir, "sa.key"), string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	mustWrite(t, filepath.Join(dir, "sa.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
}

func randomToken(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}
