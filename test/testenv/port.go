package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Ports handed to tests come from below the kernel's ephemeral range, so
// neither a listener on port 0 nor the source port of an outgoing connection
// can take one between FreePort returning and the server binding it. Test
// processes running in parallel keep apart through a lock file per port,
// held until the test that asked for it ends.
var ports struct {
	sync.Mutex
	lo, hi int
	next   int
	dir    string
	err    error
	once   sync.Once
}

func initPorts() {
	ports.lo, ports.hi = 10000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			eLo, err1 := strconv.Atoi(f[0])
			eHi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				// The wider side of the ephemeral range, within 1024..65535.
				below, above := eLo-1-1024, 65535-eHi-1
				if below >= above {
					ports.lo, ports.hi = max(1024, eLo-1-20000), eLo-1
				} else {
					ports.lo, ports.hi = eHi+1, 65535
				}
			}
		}
	}
	ports.next = ports.lo + rand.IntN(ports.hi-ports.lo+1)
	ports.dir = filepath.Join(os.TempDir(), "pylon-test-ports")
	ports.err = os.MkdirAll(ports.dir, 0o777)
}

// FreePort returns a TCP (and UDP) port on 127.0.0.1 that is free and stays
// reserved for this test until it ends: no other FreePort in any test process
// returns it meanwhile, and the kernel does not hand it out on its own.
func FreePort(t testing.TB) int {
	t.Helper()
	ports.once.Do(initPorts)
	if ports.err != nil {
		t.Fatalf("testenv: free port: %v", ports.err)
	}
	ports.Lock()
	defer ports.Unlock()
	n := ports.hi - ports.lo + 1
	for range n {
		p := ports.next
		ports.next++
		if ports.next > ports.hi {
			ports.next = ports.lo
		}
		f, ok := lockPort(p)
		if !ok {
			continue
		}
		if !bindable(p) {
			f.Close()
			continue
		}
		t.Cleanup(func() { f.Close() }) // closing releases the lock
		return p
	}
	t.Fatalf("testenv: no free port in %d..%d", ports.lo, ports.hi)
	return 0
}

// lockPort takes the cross-process lock of port p, or reports that another
// test holds it.
func lockPort(p int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(ports.dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// bindable reports whether TCP and UDP port p on 127.0.0.1 can be bound now.
func bindable(p int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// FreeAddr returns "127.0.0.1:PORT" for a free port (see FreePort).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}
