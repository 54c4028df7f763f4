package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestAccessLogReopensOnSIGUSR1: logrotate moves the access log away and
// sends SIGUSR1; pylon goes on in a new file at the same path. Under load
// across the move, every answered request has exactly one whole line, in
// the old file or the new one.
// The file is named by the --access-log-path flag, or by a file sink of
// the telemetry block.
func TestAccessLogReopensOnSIGUSR1(t *testing.T) {
	t.Parallel()
	t.Run("flag", func(t *testing.T) { t.Parallel(); testAccessLogReopen(t, false) })
	t.Run("telemetry-block", func(t *testing.T) { t.Parallel(); testAccessLogReopen(t, true) })
}

func testAccessLogReopen(t *testing.T, block bool) {
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := liveConfig(listen, a, a, route("r1", "rotate.example.com", "a"))
	var gw *gateway
	if block {
		gw = startGateway(t, cfg+fmt.Sprintf("\ntelemetry:\n  accessLog:\n    sinks: [{ file: { path: %q } }]\n", logPath))
	} else {
		gw = startGateway(t, cfg, "--access-log=true", "--access-log-path", logPath)
	}
	waitServed(t, listen, "rotate.example.com", "a", 2*time.Second)

	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			c := newClient()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tryDo(c, "GET", fmt.Sprintf("http://%s/rotate/%d/%d", listen, w, i), "rotate.example.com")
				if err == nil && r.Status == 200 {
					answered.Add(1)
				}
			}
		})
	}
	waitAnswered := func(n int64) {
		eventually(t, 10*time.Second, fmt.Sprintf("%d requests answered", n), func() (bool, string) {
			return answered.Load() >= n, fmt.Sprint(answered.Load())
		})
	}
	waitAnswered(300)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := gw.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a new file at the log's path", func() (bool, string) {
		_, err := os.Stat(logPath)
		return err == nil, fmt.Sprint(err)
	})
	waitAnswered(answered.Load() + 300)
	close(stop)
	wg.Wait()
	if err := gw.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = gw.proc.Wait()

	count := func(path string) int64 {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var n int64
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e accessEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: not a whole JSON line: %q", path, sc.Text())
			}
			if strings.HasPrefix(e.Path, "/rotate/") && e.Status == 200 {
				n++
			}
		}
		return n
	}
	before, after := count(logPath+".1"), count(logPath)
	if before+after != answered.Load() || before == 0 || after == 0 {
		t.Errorf("%d lines in the moved file and %d in the new one, want %d in all, some in each", before, after, answered.Load())
	}
	reopened := false
	for _, r := range logRecords(gw.proc.Log()) {
		reopened = reopened || r["msg"] == "SIGUSR1: access log reopened" && r["path"] == logPath
	}
	if !reopened {
		t.Errorf("the reopen was not logged\n%s", gw.proc.Log())
	}
}

// TestAccessLogFormats: a text line from a template with nginx's names, a
// JSON line with chosen fields, and sampling that keeps every error.
func TestAccessLogFormats(t *testing.T) {
	t.Parallel()
	a := backends.StartHTTP(t, "a")
	lines := func(t *testing.T, args ...string) []string {
		listen := testenv.FreeAddr(t)
		logPath := filepath.Join(t.TempDir(), "access.log")
		gw := startGateway(t, liveConfig(listen, a, a, route("r1", "fmt.example.com", "a")),
			append([]string{"--access-log=true", "--access-log-path", logPath}, args...)...)
		c := newClient()
		for range 50 {
			do(t, c, "GET", "http://"+listen+"/ok?x=\"1\"", "fmt.example.com", "User-Agent: tester/1")
		}
		do(t, c, "GET", "http://"+listen+"/status/503", "fmt.example.com")
		if err := gw.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = gw.proc.Wait()
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}

	t.Run("text", func(t *testing.T) {
		t.Parallel()
		got := lines(t, "--access-log-format", "text", "--access-log-template", `$remote_addr "$request" $status $upstream_status "$http_user_agent" $route`)
		want := `127.0.0.1 "GET /ok?x=\x221\x22 HTTP/1.1" 200 200 "tester/1" r1`
		if len(got) != 51 || got[0] != want || !strings.HasPrefix(got[50], `127.0.0.1 "GET /status/503 HTTP/1.1" 503 503`) {
			t.Errorf("%d lines, first %q, last %q; want 51, the first %q", len(got), got[0], got[len(got)-1], want)
		}
	})
	t.Run("json fields", func(t *testing.T) {
		t.Parallel()
		got := lines(t, "--access-log-fields", "status,remote_addr,request")
		var first map[string]any
		if err := json.Unmarshal([]byte(got[0]), &first); err != nil {
			t.Fatalf("%v: %s", err, got[0])
		}
		if len(got) != 51 || len(first) != 3 || first["status"] != 200.0 || first["remote_addr"] != "127.0.0.1" || first["request"] != `GET /ok?x="1" HTTP/1.1` {
			t.Errorf("%d lines, the first %s", len(got), got[0])
		}
	})
	t.Run("sampled", func(t *testing.T) {
		t.Parallel()
		got := lines(t, "--access-log-sample", "0")
		if len(got) != 1 || !strings.Contains(got[0], `"status":503`) {
			t.Errorf("with a sample of 0: %q, want the 503's line alone", got)
		}
	})
	t.Run("per route", func(t *testing.T) {
		t.Parallel()
		listen := testenv.FreeAddr(t)
		logPath := filepath.Join(t.TempDir(), "access.log")
		gw := startGateway(t, liveConfig(listen, a, a,
			route("quiet", "quiet.example.com", "a", "accessLog: { enabled: false }"),
			route("sampled", "sampled.example.com", "a", "accessLog: { sample: 0 }"),
			route("loud", "loud.example.com", "a")),
			"--access-log=true", "--access-log-path", logPath, "--access-log-format", "text", "--access-log-template", "$route $status")
		c := newClient()
		for range 20 {
			for _, h := range []string{"quiet", "sampled", "loud"} {
				do(t, c, "GET", "http://"+listen+"/ok", h+".example.com")
			}
		}
		do(t, c, "GET", "http://"+listen+"/status/500", "quiet.example.com")
		do(t, c, "GET", "http://"+listen+"/status/500", "sampled.example.com")
		if err := gw.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = gw.proc.Wait()
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			count[l]++
		}
		want := map[string]int{"loud 200": 20, "sampled 500": 1}
		if len(count) != len(want) || count["loud 200"] != 20 || count["sampled 500"] != 1 {
			t.Errorf("lines %v, want %v (none for the route with the log off, only the error for the one sampled at 0)", count, want)
		}
	})
	t.Run("bad template", func(t *testing.T) {
		t.Parallel()
		out, err := exec.Command(testenv.BuildPylon(t), "run", "--access-log-format", "text", "--access-log-template", "$status $stauts",
			"--metrics-address", testenv.FreeAddr(t), "--admin-address", "off", "--data-dir", t.TempDir()).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--access-log-template") || !strings.Contains(string(out), "$stauts") {
			t.Errorf("a misspelt field: %v\n%s", err, out)
		}
	})
}
