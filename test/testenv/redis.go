package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a real redis-server started by a test on a free port on
// 127.0.0.1, without persistence. It is stopped in t.Cleanup.
type Redis struct {
	t    testing.TB
	bin  string
	port int

	mu   sync.Mutex
	proc *Process
}

// StartRedis starts redis-server (from hack/testenv.sh) and waits until it
// answers PING. Under CI a missing redis-server fails the test; elsewhere
// it skips.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: Tool(t, "redis"), port: FreePort(t)}
	r.start()
	return r
}

// Addr returns "127.0.0.1:PORT".
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// Kill kills redis-server with SIGKILL, as a crash would, and waits for it
// to exit. Its data is gone: it keeps none on disk.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.proc.Exited() {
		_ = syscall.Kill(-r.proc.Pid(), syscall.SIGKILL)
	}
	_ = r.proc.Wait()
}

// Restart kills redis-server if it runs and starts it again on the same
// port, then waits until it answers.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}

// Do sends one command and returns the first line of the reply, for tests
// that check what Redis holds ("DBSIZE", "GET key").
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	msg := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		msg += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = line[:len(line)-2]
	switch line[0] {
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		if line == "$-1" {
			return "", nil
		}
		v, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		return v[:len(v)-2], nil
	}
	return line[1:], nil
}

func (r *Redis) start() {
	r.t.Helper()
	p := Start(r.t, r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	err := p.waitFor(10*time.Second, func() error {
		v, err := r.Do("PING")
		if err == nil && v != "PONG" {
			err = fmt.Errorf("PING answered %q", v)
		}
		return err
	})
	if err != nil {
		p.dumpLog(r.t)
		r.t.Fatalf("testenv: redis on %s: %v", r.Addr(), err)
	}
}
