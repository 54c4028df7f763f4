package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// refusalTime bounds how long a refusal may take: a malformed request is
// answered when it is read, never at a read timeout.
const refusalTime = 2 * time.Second

// badInputEnv is a gateway with an HTTP/1.1, an h2c and an HTTPS listener,
// all with small limits, routing everything to a backend that records every
// byte it receives, and writing its access log to a file.
type badInputEnv struct {
	gw                 *gateway
	web, h2c, https    string
	upstream           *backends.Raw
	ca                 *testCA
	accessLog          string
	maxHeader, maxBody int
}

func startBadInputEnv(t *testing.T) *badInputEnv {
	t.Helper()
	env := &badInputEnv{
		web: testenv.FreeAddr(t), h2c: testenv.FreeAddr(t), https: testenv.FreeAddr(t),
		upstream: backends.StartRaw(t), ca: newCA(t),
		accessLog: filepath.Join(t.TempDir(), "access.log"),
		maxHeader: 8192, maxBody: 1024,
	}
	cert, key := env.ca.leaf(t, "bad.example.com")
	limits := fmt.Sprintf("limits: { maxHeaderBytes: %d, maxBodyBytes: %d }", env.maxHeader, env.maxBody)
	env.gw = startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
    %s
  - name: h2c
    address: %s
    protocol: h2c
    %s
  - name: tls
    address: %s
    protocol: https
    tls: { defaultCertificate: bad }
    %s
certificates:
  - name: bad
    cert: |
%s    key: |
%s
services:
  - name: raw
    endpoints: [%q]
routes:
  - name: all
    backends: [{ service: raw }]
`, env.web, limits, env.h2c, limits, env.https, limits, indent(cert, 6), indent(key, 6), env.upstream.Addr),
		"--access-log=true", "--access-log-path", env.accessLog)
	return env
}

// accessEntry is the part of an access log line these tests read.
type accessEntry struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Protocol string `json:"protocol"`
	Status   int    `json:"status"`
}

func (env *badInputEnv) accessEntries(t *testing.T) []accessEntry {
	t.Helper()
	b, err := os.ReadFile(env.accessLog)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []accessEntry
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e accessEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("access log line is not JSON: %v: %s", err, line)
		}
		out = append(out, e)
	}
	return out
}

// requestsWithCode sums pylon_requests_total over all series with code.
func (env *badInputEnv) requestsWithCode(code int) int {
	sum := 0
	label := fmt.Sprintf(`code="%d"`, code)
	for _, line := range strings.Split(env.gw.get("/metrics"), "\n") {
		if !strings.HasPrefix(line, "pylon_requests_total{") || !strings.Contains(line, label) {
			continue
		}
		if n, err := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:]); err == nil {
			sum += n
		}
	}
	return sum
}

// recorded runs send and then checks what every refusal must leave behind:
// the upstream never saw the request (marker is in the bytes it would have
// received), and, when send says it was answered with status (not 0: a
// reset HTTP/2 stream is no answer), one access log line and one
// pylon_requests_total sample with that status were added. path is the
// path the log line may name.
func (env *badInputEnv) recorded(t *testing.T, marker, path string, want int, send func() int) {
	t.Helper()
	logged := len(env.accessEntries(t))
	counted := env.requestsWithCode(want)
	status := send()
	if t.Failed() {
		return
	}
	if seen := env.upstream.Seen(); bytes.Contains(seen, []byte(marker)) {
		t.Fatalf("the upstream received the refused request (%s):\n%s", marker, seen)
	}
	if status == 0 {
		return
	}
	var last string
	eventually(t, refusalTime, fmt.Sprintf("an access log line for the %d", status), func() (bool, string) {
		for _, e := range env.accessEntries(t)[logged:] {
			if e.Status == status && (e.Path == "" || e.Path == path) {
				return true, ""
			}
			last = fmt.Sprintf("%+v", e)
		}
		return false, "new lines: " + last
	})
	eventually(t, refusalTime, fmt.Sprintf("a pylon_requests_total sample for the %d", status), func() (bool, string) {
		n := env.requestsWithCode(status)
		return n > counted, fmt.Sprintf("%d before, %d now", counted, n)
	})
}

// rawAnswer is what came back for raw HTTP/1.1 bytes.
type rawAnswer struct {
	status int
	closed bool
	took   time.Duration
}

// sendHTTP1 writes raw on a new connection and reads one response, waiting
// no longer than refusalTime for it.
func sendHTTP1(t *testing.T, addr, raw string) rawAnswer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(refusalTime))
	// The gateway may refuse before the client finished writing (an
	// oversize head or body): a failed write is no failure, the answer is.
	_, _ = io.WriteString(c, raw)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", refusalTime, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := rawAnswer{status: resp.StatusCode, took: time.Since(start)}
	// A closed connection reads EOF, or a reset when the gateway closed it
	// with request bytes unread; an open one times out.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	a.closed = errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	return a
}

// TestBadInputHTTP1 sends malformed and oversize requests on raw TCP to an
// HTTP/1.1 listener. Each must be refused at once with nginx's status (431
// where nginx says 400 for a header too large: RFC 6585's status for it),
// its connection closed, the upstream never seeing it, and the refusal in
// the access log and the metrics.
func TestBadInputHTTP1(t *testing.T) {
	t.Parallel()
	env := startBadInputEnv(t)
	const host = "Host: bad.example.com\r\n"
	cases := []struct {
		name   string
		head   func(path string) string // the request, sent to path
		status int
	}{
		{"header name with a space", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\n" + host + "X Bad: 1\r\n\r\n"
		}, 400},
		{"Transfer Encoding with a space", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Transfer Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		}, 400},
		{"Content Length with a space, a request in the body", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Content Length: 5\r\n\r\nGET " + p + "-smuggled HTTP/1.1\r\n" + host + "\r\n"
		}, 400},
		{"NUL in a header value", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n"
		}, 400},
		{"bare CR in a header value", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n"
		}, 400},
		{"folded header line", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n"
		}, 400},
		{"bare LF line ends", func(p string) string {
			return "GET " + p + " HTTP/1.1\nHost: bad.example.com\n\n"
		}, 400},
		{"HTTP/2.0 request line", func(p string) string {
			return "GET " + p + " HTTP/2.0\r\n" + host + "\r\n"
		}, 505},
		{"5,000-byte method", func(p string) string {
			return strings.Repeat("M", 5000) + " " + p + " HTTP/1.1\r\n" + host + "\r\n"
		}, 400},
		{"header block over maxHeaderBytes", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", env.maxHeader) + "\r\n\r\n"
		}, 431},
		{"body over maxBodyBytes", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + fmt.Sprintf("Content-Length: %d\r\n\r\n", 2*env.maxBody) + strings.Repeat("b", 2*env.maxBody)
		}, 413},
		{"both Transfer-Encoding and Content-Length", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
		}, 400},
		{"two different Content-Lengths", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
		}, 400},
		// RFC 9112 6.1: 501 for a transfer coding the server does not
		// know, as nginx answers.
		{"Transfer-Encoding gzip, chunked", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
		}, 501},
		{"unknown Transfer-Encoding", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\n" + host + "Transfer-Encoding: foo\r\n\r\n0\r\n\r\n"
		}, 501},
	}

	// The backend records what it gets: a valid request must reach it, or
	// "never reached the upstream" below would prove nothing.
	if a := sendHTTP1(t, env.web, "GET /bad-valid HTTP/1.1\r\n"+host+"\r\n"); a.status != 200 {
		t.Fatalf("a valid request got %d", a.status)
	}
	if !bytes.Contains(env.upstream.Seen(), []byte("/bad-valid")) {
		t.Fatal("the recording backend did not record a valid request")
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("/bad-h1-%02d", i)
			env.recorded(t, path, path, tc.status, func() int {
				a := sendHTTP1(t, env.web, tc.head(path))
				if a.status != tc.status || a.took > refusalTime {
					t.Fatalf("answered %d after %v, want %d", a.status, a.took, tc.status)
				}
				if !a.closed {
					t.Fatalf("connection left open after the %d", a.status)
				}
				return a.status
			})
		})
	}
}
