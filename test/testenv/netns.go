package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
)

// Netns is a network namespace a test created to host backends on an
// address of their own: Kubernetes EndpointSlices refuse loopback
// addresses, and a test must not use the host's other interfaces. A veth
// pair links it to the host: HostIP on the host side, IP inside, both in a
// /30 of 10.213.0.0/16 unique on this machine. It is deleted in t.Cleanup.
type Netns struct {
	Name   string
	IP     string // the namespace side, where backends listen
	HostIP string // the host side
}

// StartNetns creates a network namespace with a veth pair to the host.
// Creating one needs root (CAP_NET_ADMIN) and the ip command; without them
// the test fails under CI and is skipped elsewhere.
func StartNetns(t testing.TB) *Netns {
	t.Helper()
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		unavailable(t, "testenv: netns: the ip command is missing: %v", err)
	}
	for try := 0; try < 20; try++ {
		idx := rand.IntN(1 << 14) // a /30 of 10.213.0.0/16
		a, b := idx>>6, (idx&63)*4
		n := &Netns{
			Name:   fmt.Sprintf("pylon-t-%d", idx),
			HostIP: fmt.Sprintf("10.213.%d.%d", a, b+1),
			IP:     fmt.Sprintf("10.213.%d.%d", a, b+2),
		}
		if addrInUse(n.HostIP) {
			continue
		}
		vh, vn := fmt.Sprintf("pyh%d", idx), fmt.Sprintf("pyn%d", idx)
		if out, err := exec.Command(ipBin, "netns", "add", n.Name).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "File exists") {
				continue
			}
			unavailable(t, "testenv: ip netns add %s: %v: %s", n.Name, err, out)
		}
		t.Cleanup(func() { _ = exec.Command(ipBin, "netns", "del", n.Name).Run() })
		steps := [][]string{
			{"link", "add", vh, "type", "veth", "peer", "name", vn},
			{"link", "set", vn, "netns", n.Name},
			{"addr", "add", n.HostIP + "/30", "dev", vh},
			{"link", "set", vh, "up"},
			{"netns", "exec", n.Name, "ip", "addr", "add", n.IP + "/30", "dev", vn},
			{"netns", "exec", n.Name, "ip", "link", "set", vn, "up"},
			{"netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if out, err := exec.Command(ipBin, s...).CombinedOutput(); err != nil {
				t.Fatalf("testenv: netns %s: ip %s: %v: %s", n.Name, strings.Join(s, " "), err, out)
			}
		}
		return n
	}
	t.Fatalf("testenv: netns: no free subnet in 10.213.0.0/16")
	return nil
}

// Start runs a program inside the namespace; it is stopped in t.Cleanup
// before the namespace is deleted.
func (n *Netns) Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return Start(t, "ip", append([]string{"netns", "exec", n.Name, bin}, args...)...)
}

// StartEcho runs the echo backend (test/testenv/echoserver) inside the
// namespace on port and waits until it answers. Its answers carry
// X-Backend: name.
func (n *Netns) StartEcho(t testing.TB, name string, port int) *Process {
	t.Helper()
	bin := BuildProgram(t, "./test/testenv/echoserver")
	addr := net.JoinHostPort(n.IP, fmt.Sprint(port))
	p := n.Start(t, bin, "-listen", addr, "-name", name)
	p.WaitTCP(t, addr)
	return p
}

func addrInUse(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), ip+"/") {
			return true
		}
	}
	return false
}
