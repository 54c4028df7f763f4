package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// h2BodyTries is how often each client sends the oversized body: a reset
// that races the response shows up as some of the tries failing, not all.
const h2BodyTries = 15

// h2OversizeBody is over the default maxBodyBytes (64 MiB), the size the
// defect was reported with.
const h2OversizeBody = 70_000_000

// TestH2BodyLimitAnswers413: a request body over the listener's default
// maxBodyBytes, declared by Content-Length or streamed without one, is
// answered 413 over HTTP/2 on every try, to curl and to Go's HTTP/2 client,
// on the h2c and the TLS listener. The client must read the status, not a
// reset stream.
func TestH2BodyLimitAnswers413(t *testing.T) {
	t.Parallel()
	curlBin := testenv.Tool(t, "curl")
	env := startTLSEnv(t)
	data := make([]byte, h2OversizeBody)
	file := filepath.Join(t.TempDir(), "70MB.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	listeners := []struct {
		name, url string
		curlArgs  []string
		client    *http.Client
	}{
		{"h2c", "http://" + env.h2c + "/upload", []string{"--http2-prior-knowledge"}, h2cClient(env.h2c)},
		{"tls", "https://tls.example.com:" + port(env.https) + "/upload",
			[]string{"--http2", "-k", "--resolve", "tls.example.com:" + port(env.https) + ":127.0.0.1"},
			env.httpsClient(env.https, false)},
	}
	for _, l := range listeners {
		t.Run(l.name+"/curl", func(t *testing.T) {
			checkAll413(t, curlTries(t, curlBin, "", append(l.curlArgs, "--data-binary", "@"+file, l.url)...), "413 HTTP/2")
		})
		// Without a declared length, the body is cut off at the limit as
		// it streams through, and the 413 comes from there.
		t.Run(l.name+"/curl streamed", func(t *testing.T) {
			checkAll413(t, curlTries(t, curlBin, file, append(l.curlArgs, "-T", "-", l.url)...), "413 HTTP/2")
		})
		t.Run(l.name+"/go", func(t *testing.T) {
			client := *l.client
			client.Timeout = 60 * time.Second
			var got []string
			for range h2BodyTries {
				got = append(got, post413(&client, l.url, data))
			}
			checkAll413(t, got, "413 HTTP/2.0")
		})
	}
}

// curlTries runs curl h2BodyTries times with args, its stdin from the file
// stdin names (if any), and describes each answer as "status HTTP/version",
// or curl's error.
func curlTries(t *testing.T, bin, stdin string, args ...string) []string {
	t.Helper()
	var got []string
	for range h2BodyTries {
		cmd := exec.Command(bin, append([]string{"-sS", "--max-time", "60", "-o", "/dev/null",
			"-w", "%{http_code} HTTP/%{http_version}"}, args...)...)
		if stdin != "" {
			in, err := os.Open(stdin)
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdin = in
			defer in.Close()
		}
		out, err := cmd.CombinedOutput()
		res := strings.TrimSpace(string(out))
		if err != nil {
			res += fmt.Sprintf(" (%v)", err)
		}
		got = append(got, res)
	}
	return got
}

// post413 sends body and describes the answer as "status proto", or the error.
func post413(c *http.Client, url string, body []byte) string {
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Sprintf("%d %s, then reading the body: %v", resp.StatusCode, resp.Proto, err)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, resp.Proto)
}

func checkAll413(t *testing.T, got []string, want string) {
	t.Helper()
	ok := 0
	for _, g := range got {
		if g == want {
			ok++
		}
	}
	if ok != len(got) {
		t.Fatalf("want %q on all %d tries, got it on %d:\n%s", want, len(got), ok, strings.Join(got, "\n"))
	}
}
