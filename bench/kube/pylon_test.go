package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// pylon is the controller under test.
type pylon struct {
	proc             *testenv.Process
	http, https, ops string
	readyAfter       time.Duration
	readyRSS         int
	client, tls      *http.Client
}

// newPylon prepares the pylon under test: its binary (PYLON_BIN, set by
// bench/kube.sh, else built), addresses, listener file and client.
func newPylon(t *testing.T) (p *pylon, bin, cfg string) {
	t.Helper()
	bin = os.Getenv("PYLON_BIN")
	if bin == "" {
		bin = testenv.BuildPylon(t)
	}
	p = &pylon{http: testenv.FreeAddr(t), https: testenv.FreeAddr(t), ops: testenv.FreeAddr(t)}
	cfg = filepath.Join(t.TempDir(), "listeners.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n  - name: secure\n    address: %s\n    protocol: https\n", p.http, p.https)), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	p.client = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return p, bin, cfg
}

// waitReady polls p's /readyz, failing if any of procs exits, and records
// the time since start and the RSS.
func (p *pylon) waitReady(t *testing.T, start time.Time, procs ...*testenv.Process) {
	t.Helper()
	for {
		for _, pr := range procs {
			if pr.Exited() {
				t.Fatalf("pylon exited: %v\n%s", pr.Wait(), pr.Log())
			}
		}
		resp, err := p.client.Get("http://" + p.ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 30*time.Minute {
			t.Fatal("pylon not ready after 30 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.readyAfter = time.Since(start)
	p.readyRSS = rssMiB(p.proc.Pid(), "VmRSS")
}

func startPylon(t *testing.T, kube *testenv.Kube) *pylon {
	t.Helper()
	p, bin, cfg := newPylon(t)
	start := time.Now()
	p.proc = testenv.Start(t, bin, "run", "--config", cfg, "--kubernetes", "--kubeconfig", kube.Kubeconfig,
		"--publish-address", "192.0.2.10", "--metrics-address", p.ops, "--admin-address", "off",
		"--data-dir", t.TempDir(), "--access-log=false", "--log-level", "warn")
	p.waitReady(t, start, p.proc)
	return p
}

// startSplit starts the split deployment at once: a controller publishing
// to a fresh etcd (--kubernetes-publish, no listeners) and one gateway node
// reading it (--store); the node is the pylon under test, readyAfter counts
// from the controller's start. It returns the controller too.
func startSplit(t *testing.T, kube *testenv.Kube) (node *pylon, ctl *testenv.Process) {
	t.Helper()
	p, bin, cfg := newPylon(t)
	etcd := testenv.StartEtcd(t)
	store := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	start := time.Now()
	ctl = testenv.Start(t, bin, "run", "--kubernetes", "--kubeconfig", kube.Kubeconfig, "--kubernetes-publish", store,
		"--publish-address", "192.0.2.10", "--metrics-address", testenv.FreeAddr(t), "--admin-address", "off",
		"--data-dir", t.TempDir(), "--access-log=false", "--log-level", "warn")
	p.proc = testenv.Start(t, bin, "run", "--store", store, "--config", cfg, "--metrics-address", p.ops, "--admin-address", "off",
		"--data-dir", t.TempDir(), "--access-log=false", "--log-level", "warn")
	p.waitReady(t, start, ctl, p.proc)
	return p, ctl
}

// get requests / on host over plain HTTP and returns the status (0 on error).
func (p *pylon) get(host string) int {
	req, _ := http.NewRequest("GET", "http://"+p.http+"/", nil)
	req.Host = host
	resp, err := p.client.Do(req)
	if err != nil {
		return 0
	}
	// Read to the end, or the client closes the connection instead of
	// reusing it, and the proxy's figures count a handshake per request.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// getTLS requests https://host/ through the HTTPS listener with SNI host.
func (p *pylon) getTLS(c *http.Client, host string) (int, error) {
	resp, err := c.Get("https://" + host + "/")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// lastCompile is the compile+publish time of the last change.
func (p *pylon) lastCompile(t *testing.T) time.Duration {
	resp, err := p.client.Get("http://" + p.ops + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		LastCompileMs float64 `json:"lastCompileMs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return time.Duration(st.LastCompileMs * 1e6)
}

// liveRoutes is the number of routes pylon serves (from /debug/config).
func (p *pylon) liveRoutes(t *testing.T) int {
	resp, err := p.client.Get("http://" + p.ops + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Objects map[string]int `json:"objects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Objects["route"]
}

// waitAll checks every host (HTTPS with SNI for the TLS ones) until all
// answer 200, and returns the time since pylon started.
func waitAll(t *testing.T, p *pylon, n, nTLS int, ca *testCA) time.Duration {
	t.Helper()
	start := time.Now().Add(-p.readyAfter)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: ca.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, p.https)
		},
	}}
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	for round := 0; len(pending) > 0; round++ {
		if time.Since(start) > 30*time.Minute {
			t.Fatalf("%d hosts still not serving, e.g. %s", len(pending), host(pending[0]))
		}
		var mu sync.Mutex
		var failed []int
		var why string
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1)) - 1
					if k >= len(pending) {
						return
					}
					i := pending[k]
					var code int
					var err error
					if i < nTLS {
						code, err = p.getTLS(tlsClient, host(i))
					} else {
						code = p.get(host(i))
					}
					if code != 200 {
						mu.Lock()
						failed = append(failed, i)
						if why == "" {
							why = fmt.Sprintf("%s: status %d, error %v", host(i), code, err)
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if round == 0 && len(failed) > 0 {
			fmt.Printf("RESULT %d of %d hosts failed the first check after ready (first: %s); checked again\n", len(failed), n, why)
		}
		pending = failed
	}
	return time.Since(start)
}

// testCA issues ECDSA leaf certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	n    atomic.Int64
}

func newCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) leaf(t *testing.T, name string) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n.Add(1) + 1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
