package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// When the test binary is started with PYLON_TESTENV_HELPER set it acts as a
// small real server, so that Start can be tested without other binaries.
func TestMain(m *testing.M) {
	switch os.Getenv("PYLON_TESTENV_HELPER") {
	case "http":
		fmt.Println("helper: serving", os.Args[len(os.Args)-1])
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		_ = http.ListenAndServe(os.Args[len(os.Args)-1], nil)
		os.Exit(0)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("helper: ignoring SIGTERM")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseToolLines(t *testing.T) {
	got := parseToolLines([]byte("CURL=/usr/bin/curl\nnoise\nH2SPEC=/c/h2spec-2.2.1+incompatible/h2spec\nBAD LINE=x\nEMPTY=\n"))
	want := map[string]string{"CURL": "/usr/bin/curl", "H2SPEC": "/c/h2spec-2.2.1+incompatible/h2spec"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestToolFromEnv(t *testing.T) {
	t.Setenv("PYLON_TEST_SOMETOOL", "/opt/sometool")
	if got := Tool(t, "sometool"); got != "/opt/sometool" {
		t.Fatalf("Tool = %q", got)
	}
}

func TestToolCurl(t *testing.T) {
	curl := Tool(t, "curl")
	out, err := exec.Command(curl, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "curl ") {
		t.Fatalf("%s --version: %v\n%s", curl, err, out)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l.Close()
}

func TestFreePortStaysReserved(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice in one test", p)
		}
		seen[p] = true
		if p < ports.lo || p > ports.hi {
			t.Fatalf("port %d outside %d..%d", p, ports.lo, ports.hi)
		}
		// Another test process asking now finds the lock taken.
		if f, ok := lockPort(p); ok {
			f.Close()
			t.Fatalf("port %d could be locked again while reserved", p)
		}
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	var eLo, eHi int
	if _, err := fmt.Sscan(string(b), &eLo, &eHi); err != nil {
		t.Fatal(err)
	}
	if ports.hi >= eLo && ports.lo <= eHi {
		t.Fatalf("test ports %d..%d overlap the ephemeral range %d..%d", ports.lo, ports.hi, eLo, eHi)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/hack/testenv.sh"); err != nil {
		t.Fatalf("repo root %s has no hack/testenv.sh: %v", root, err)
	}
}

func TestStartWaitHTTPAndStop(t *testing.T) {
	addr := FreeAddr(t)
	t.Setenv("PYLON_TESTENV_HELPER", "http")
	p := Start(t, os.Args[0], addr)
	p.WaitHTTP(t, "http://"+addr+"/", 10*time.Second)
	p.WaitTCP(t, addr)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	if !p.Exited() {
		t.Fatal("process still running after Wait")
	}
	if !strings.Contains(p.Log(), "helper: serving") {
		t.Fatalf("log does not hold the helper's output: %q", p.Log())
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("takes five seconds")
	}
	t.Setenv("PYLON_TESTENV_HELPER", "ignore-term")
	p := Start(t, os.Args[0])
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log(), "ignoring SIGTERM") {
		if time.Now().After(deadline) {
			t.Fatal("helper did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_ = p.Stop()
	if d := time.Since(start); d < stopGrace || d > stopGrace+3*time.Second {
		t.Fatalf("Stop took %v, want about %v", d, stopGrace)
	}
}

func FuzzParseToolLines(f *testing.F) {
	f.Add("CURL=/usr/bin/curl\nH2SPEC=/c/h2spec\n")
	f.Add("=\n==\nA=B=C\n")
	f.Fuzz(func(t *testing.T, s string) {
		for name, path := range parseToolLines([]byte(s)) {
			if name == "" || path == "" || strings.ContainsAny(name, " \t=\n") {
				t.Fatalf("bad entry %q=%q", name, path)
			}
		}
	})
}

func TestToolMissingSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	var sub *testing.T
	t.Run("missing", func(t *testing.T) {
		sub = t
		Tool(t, "no-such-component")
		t.Error("Tool returned for a missing component")
	})
	if !sub.Skipped() {
		t.Fatal("a missing component did not skip the test")
	}
}
