package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Dnsmasq is a real dnsmasq answering on a free port on 127.0.0.1 from a
// hosts file the test rewrites (SetHosts re-reads it with SIGHUP), with a
// TTL of 1 s, plus SRV records given at start. It is authoritative for
// .test (--local), so a name it does not hold is NXDOMAIN, not REFUSED.
type Dnsmasq struct {
	t     testing.TB
	bin   string
	port  int
	hosts string
	srv   []string
	proc  *Process
}

// StartDnsmasq starts dnsmasq (from hack/testenv.sh) with the given hosts
// file content ("127.0.0.2 api.service.test" lines) and --srv-host values
// ("_http._tcp.api.service.test,a.service.test,8080,10,5").
func StartDnsmasq(t testing.TB, hosts string, srv ...string) *Dnsmasq {
	t.Helper()
	d := &Dnsmasq{t: t, bin: Tool(t, "dnsmasq"), port: FreePort(t), hosts: filepath.Join(t.TempDir(), "hosts"), srv: srv}
	d.write(hosts)
	d.Start()
	t.Cleanup(d.Kill)
	return d
}

// Addr returns "127.0.0.1:PORT".
func (d *Dnsmasq) Addr() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

func (d *Dnsmasq) write(hosts string) {
	if err := os.WriteFile(d.hosts, []byte(hosts), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// Start starts dnsmasq on its port; it must not be running.
func (d *Dnsmasq) Start() {
	d.t.Helper()
	args := []string{"--no-daemon", "--port=" + strconv.Itoa(d.port), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--addn-hosts=" + d.hosts, "--local-ttl=1", "--local=/test/", "--user=root", "--pid-file="}
	for _, s := range d.srv {
		args = append(args, "--srv-host="+s)
	}
	d.proc = Start(d.t, d.bin, args...)
	d.proc.WaitTCP(d.t, d.Addr())
}

// SetHosts rewrites the hosts file and makes dnsmasq re-read it.
func (d *Dnsmasq) SetHosts(hosts string) {
	d.t.Helper()
	d.write(hosts)
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		d.t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // dnsmasq re-reads between queries
}

// Kill kills dnsmasq with SIGKILL and waits for it to exit.
func (d *Dnsmasq) Kill() {
	if d.proc != nil && !d.proc.Exited() {
		_ = syscall.Kill(-d.proc.Pid(), syscall.SIGKILL)
		_ = d.proc.Wait()
	}
}
