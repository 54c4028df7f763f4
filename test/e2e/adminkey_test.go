//go:build linux

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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pylon.io/pylon/test/testenv"
)

// keyRun is one `pylon run` with the admin API on, started by a test that
// chooses its environment and where its stdin and stderr go.
type keyRun struct {
	admin, dataDir string
	cmd            *exec.Cmd
	done           chan struct{}
	err            error
}

// runArgs are the flags of a node with a listener, its admin API on a
// free address and the given data dir.
func runArgs(t *testing.T, admin, dataDir string, extra ...string) []string {
	cfg := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, cfg, nodeConfig(testenv.FreeAddr(t), "127.0.0.1:1"))
	return append([]string{"run", "--config", cfg, "--metrics-address", testenv.FreeAddr(t), "--data-dir", dataDir,
		"--admin-address", admin, "--access-log=false"}, extra...)
}

// startKeyRun starts cmd (its Stdin, Stderr and SysProcAttr set by the
// caller) and stops it when the test ends.
func startKeyRun(t *testing.T, cmd *exec.Cmd, admin string) *keyRun {
	t.Helper()
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir(), "PATH="+os.Getenv("PATH"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &keyRun{admin: admin, cmd: cmd, done: make(chan struct{})}
	go func() { r.err = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// exited waits up to timeout for the process to end and reports whether it
// did.
func (r *keyRun) exited(timeout time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// status GETs /api/v1/status with key, waiting for the admin API to listen.
func (r *keyRun) status(t *testing.T, key string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+r.admin+"/api/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if time.Now().After(deadline) || r.exited(0) {
			t.Fatalf("admin API at %s: %v (process exited: %v)", r.admin, err, r.exited(0))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdminKeyPrecedence: --admin-key-file wins over $PYLON_ADMIN_KEY, as
// run --help says; a key shorter than 16 bytes stops the start with an
// error saying so.
func TestAdminKeyPrecedence(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPylon(t)
	keyFile := func(k string) string {
		p := filepath.Join(t.TempDir(), "admin.key")
		writeFile(t, p, k+"\n")
		return p
	}
	const fileKey, envKey = "file-key-5c1e9a0b77d3", "env-key-04f2b8c6e1a9"

	t.Run("the file wins over the environment", func(t *testing.T) {
		admin := testenv.FreeAddr(t)
		cmd := exec.Command(bin, runArgs(t, admin, t.TempDir(), "--admin-key-file", keyFile(fileKey))...)
		cmd.Env = []string{"PYLON_ADMIN_KEY=" + envKey}
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		r := startKeyRun(t, cmd, admin)
		if code := r.status(t, fileKey); code != 200 {
			t.Errorf("the file's key: %d, want 200\n%s", code, log.String())
		}
		if code := r.status(t, envKey); code != 401 {
			t.Errorf("the environment's key beside a key file: %d, want 401", code)
		}
	})

	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"a short key file", "", []string{"--admin-key-file", keyFile("short-key")}, "is 9 bytes; a key needs at least 16"},
		{"a short environment key", "PYLON_ADMIN_KEY=tiny", nil, "$PYLON_ADMIN_KEY is 4 bytes; a key needs at least 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := testenv.FreeAddr(t)
			cmd := exec.Command(bin, runArgs(t, admin, t.TempDir(), tc.args...)...)
			cmd.Env = []string{tc.env}
			log := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = log, log
			r := startKeyRun(t, cmd, admin)
			if !r.exited(15 * time.Second) {
				t.Fatalf("pylon run with a short key still runs\n%s", log.String())
			}
			if r.err == nil || !strings.Contains(log.String(), tc.want) {
				t.Errorf("exit %v, want an error saying %q:\n%s", r.err, tc.want, log.String())
			}
		})
	}
}

// pty opens a pseudo-terminal: the side the test reads (what the terminal
// shows) and the side a process is given as its terminal.
func pty(t *testing.T) (screen *os.File, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return m, s
}

// recorder keeps what a reader yields, for a test to look at meanwhile.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func record(r io.Reader) *recorder {
	rec := &recorder{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			rec.mu.Lock()
			rec.buf.Write(b[:n])
			rec.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return rec
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.ReplaceAll(r.buf.String(), "\r\n", "\n")
}

var generatedKey = regexp.MustCompile(`\n {4}([A-Za-z0-9_-]{43})\n`)

// waitKey waits until the terminal shows a generated key, and returns it.
func waitKey(t *testing.T, screen *recorder) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := generatedKey.FindStringSubmatch(screen.String()); m != nil {
			return m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no generated key on the terminal:\n%s", screen.String())
	return ""
}

// checkJSONLog fails unless every line of log is a JSON object and none
// holds the key.
func checkJSONLog(t *testing.T, what, log, key string) {
	t.Helper()
	lines := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		lines++
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("%s: a line that is not JSON: %q", what, l)
		}
		if strings.Contains(l, key) {
			t.Errorf("%s: the generated key is in the log: %q", what, l)
		}
	}
	if lines == 0 {
		t.Errorf("%s: no log lines at all", what)
	}
}

// TestGeneratedKeyOnTerminal: without a key, pylon run generates one only
// where a person can read it once, on the terminal: stderr when that is
// the terminal, else the controlling terminal (`pylon run 2>log.json`), and
// never into the JSON log stream. With no terminal at all it refuses to
// start, saying how to give a key, and stores nothing.
func TestGeneratedKeyOnTerminal(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPylon(t)

	t.Run("no terminal", func(t *testing.T) {
		admin, dataDir := testenv.FreeAddr(t), t.TempDir()
		cmd := exec.Command(bin, runArgs(t, admin, dataDir)...)
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		r := startKeyRun(t, cmd, admin)
		if !r.exited(15 * time.Second) {
			t.Fatalf("pylon run without a key or a terminal still runs\n%s", log.String())
		}
		if r.err == nil || !strings.Contains(log.String(), "--admin-key-file") || !strings.Contains(log.String(), "no terminal") {
			t.Errorf("exit %v, want an error saying how to give a key:\n%s", r.err, log.String())
		}
		if generatedKey.MatchString(log.String()) {
			t.Errorf("a key was printed into the log:\n%s", log.String())
		}
		if _, err := os.Stat(filepath.Join(dataDir, "admin-key.sha256")); err == nil {
			t.Error("a key nobody saw was stored")
		}
	})

	t.Run("stderr is the terminal", func(t *testing.T) {
		admin, dataDir := testenv.FreeAddr(t), t.TempDir()
		screenFile, term := pty(t)
		cmd := exec.Command(bin, runArgs(t, admin, dataDir)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = term, io.Discard, term
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		r := startKeyRun(t, cmd, admin)
		term.Close()
		screen := record(screenFile)
		key := waitKey(t, screen)
		if code := r.status(t, key); code != 200 {
			t.Fatalf("the generated key: %d, want 200", code)
		}
		shown := screen.String()
		if n := strings.Count(shown, key); n != 1 {
			t.Errorf("the key is shown %d times, want once:\n%s", n, shown)
		}
		// Everything else on the terminal is the JSON log.
		log := generatedKey.ReplaceAllString(shown, "\n")
		var rest []string
		for _, l := range strings.Split(log, "\n") {
			if !strings.HasPrefix(l, "pylon: generated an admin API key") {
				rest = append(rest, l)
			}
		}
		checkJSONLog(t, "the terminal", strings.Join(rest, "\n"), key)
	})

	t.Run("stderr is a log file, the terminal is the controlling one", func(t *testing.T) {
		admin, dataDir := testenv.FreeAddr(t), t.TempDir()
		screenFile, term := pty(t)
		cmd := exec.Command(bin, runArgs(t, admin, dataDir)...)
		log := &syncBuffer{}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = term, io.Discard, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		r := startKeyRun(t, cmd, admin)
		term.Close()
		screen := record(screenFile)
		key := waitKey(t, screen)
		if code := r.status(t, key); code != 200 {
			t.Fatalf("the generated key: %d, want 200", code)
		}
		time.Sleep(200 * time.Millisecond) // the admin API's own start lines
		checkJSONLog(t, "stderr", log.String(), key)
	})
}

// syncBuffer is a buffer a process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
