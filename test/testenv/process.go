package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before it is
// killed.
const stopGrace = 5 * time.Second

// Process is a real process started by a test. Its stdout and stderr go to a
// log file in the test's temp dir, which is printed when the test fails.
type Process struct {
	Name    string // the binary as given to Start
	LogPath string // stdout and stderr of the process

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error
	stopOnce sync.Once
}

// Start runs name with args and stops it in t.Cleanup: SIGTERM first, then
// SIGKILL after five seconds. The process gets its own process group so that
// its children are stopped with it.
func Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	p := &Process{Name: name, LogPath: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its exit error, if any.
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group, waits up to five seconds, then
// sends SIGKILL. It returns the exit error. Calling Stop again is harmless.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		pgid := -p.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p.Wait()
}

// Log returns what the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

func (p *Process) dumpLog(t testing.TB) {
	t.Helper()
	t.Logf("--- log of %s (%s) ---\n%s", filepath.Base(p.Name), p.LogPath, lastLines(p.Log(), 200))
}

// WaitHTTP waits until a GET of url answers with any status, and fails the
// test after timeout or if the process exits first.
func (p *Process) WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	err := p.waitFor(timeout, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		p.dumpLog(t)
		t.Fatalf("testenv: %s: waiting for %s: %v", filepath.Base(p.Name), url, err)
	}
}

// WaitTCP waits until addr accepts a TCP connection, for at most ten seconds.
func (p *Process) WaitTCP(t testing.TB, addr string) {
	t.Helper()
	err := p.waitFor(10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		p.dumpLog(t)
		t.Fatalf("testenv: %s: waiting for %s: %v", filepath.Base(p.Name), addr, err)
	}
}

// waitFor polls check until it succeeds, the process exits, or timeout
// passes.
func (p *Process) waitFor(timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("process exited (%v) before it was ready: %w", p.waitErr, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(tick):
		}
		if tick < 200*time.Millisecond {
			tick *= 2
		}
	}
}
