package testenv

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Etcd is a real single-member etcd process started by a test, on free
// ports on 127.0.0.1, with its data dir in the test's temp dir. It is
// stopped in t.Cleanup.
type Etcd struct {
	t       testing.TB
	bin     string
	dir     string
	client  int
	peer    int
	noFsync bool

	mu   sync.Mutex
	proc *Process
}

// EtcdOption changes how StartEtcd starts etcd.
type EtcdOption func(*Etcd)

// WithoutFsync starts etcd with --unsafe-no-fsync: faster, for tests where
// durability is not under test.
func WithoutFsync() EtcdOption { return func(e *Etcd) { e.noFsync = true } }

// StartEtcd starts etcd (built by hack/testenv.sh) and waits until it is
// healthy. Under CI a missing etcd fails the test; elsewhere it skips.
func StartEtcd(t testing.TB, opts ...EtcdOption) *Etcd {
	t.Helper()
	e := &Etcd{t: t, bin: Tool(t, "etcd"), dir: filepath.Join(t.TempDir(), "etcd"), client: FreePort(t), peer: FreePort(t)}
	for _, o := range opts {
		o(e)
	}
	e.start()
	return e
}

// Endpoint returns the client URL, http://127.0.0.1:PORT.
func (e *Etcd) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", e.client) }

// Stop stops etcd with SIGTERM (SIGKILL after five seconds).
func (e *Etcd) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.proc.Stop()
}

// Kill kills etcd with SIGKILL, as a crash would, and waits for it to exit.
func (e *Etcd) Kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.proc.Exited() {
		_ = syscall.Kill(-e.proc.Pid(), syscall.SIGKILL)
	}
	_ = e.proc.Wait()
}

// Restart stops etcd if it runs and starts it again on the same ports with
// the same data dir, then waits until it is healthy.
func (e *Etcd) Restart() {
	e.t.Helper()
	e.Stop()
	e.start()
}

func (e *Etcd) start() {
	e.t.Helper()
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", e.peer)
	args := []string{
		"--name", "default", "--data-dir", e.dir,
		"--listen-client-urls", e.Endpoint(), "--advertise-client-urls", e.Endpoint(),
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default=" + peerURL,
		"--log-level", "warn",
	}
	if e.noFsync {
		args = append(args, "--unsafe-no-fsync")
	}
	p := Start(e.t, e.bin, args...)
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	err := p.waitFor(15*time.Second, func() error {
		resp, err := client.Get(e.Endpoint() + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"health":"true"`) {
			return fmt.Errorf("/health: %s %s", resp.Status, b)
		}
		return nil
	})
	if err != nil {
		p.dumpLog(e.t)
		e.t.Fatalf("testenv: etcd on %s: %v", e.Endpoint(), err)
	}
}
