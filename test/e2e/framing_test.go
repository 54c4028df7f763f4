package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestHTTP1AmbiguousFraming sends request-smuggling shapes and oversized
// requests on raw TCP connections: each must be refused with the right status.
func TestHTTP1AmbiguousFraming(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
    limits: { maxHeaderBytes: 2048, maxBodyBytes: 1024 }
services:
  - name: echo
    endpoints: [%q]
routes:
  - name: all
    backends: [{ service: echo }]
`, listen, backends.StartHTTP(t, "echo")))

	const head = "POST /f HTTP/1.1\r\nHost: f.example.com\r\n"
	cases := []struct {
		name   string
		raw    string
		status int
		closed bool // the connection must be closed after the error
	}{
		{"valid request", head + "Content-Length: 5\r\n\r\nhello", 200, false},
		{"valid chunked request", head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, false},
		{"content-length and transfer-encoding", head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"transfer-encoding and content-length, lower case", head + "transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n", 400, true},
		{"two different content-lengths", head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, true},
		{"signed content-length", head + "Content-Length: +5\r\n\r\nhello", 400, true},
		{"space before colon", head + "X-Bad : value\r\nContent-Length: 0\r\n\r\n", 400, true},
		{"NUL in a header value", head + "X-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n", 400, true},
		{"header over maxHeaderBytes", head + "X-Big: " + strings.Repeat("a", 4096) + "\r\nContent-Length: 0\r\n\r\n", 431, true},
		{"body over maxBodyBytes", head + "Content-Length: 2000\r\n\r\n" + strings.Repeat("b", 2000), 413, true},
		{"chunked body over maxBodyBytes", head + "Transfer-Encoding: chunked\r\n\r\n7d0\r\n" + strings.Repeat("b", 2000) + "\r\n0\r\n\r\n", 413, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := rawRequest(t, listen, tc.raw)
			if res.status() != tc.status {
				t.Fatalf("status %d (%q), want %d", res.status(), res.body, tc.status)
			}
			if tc.status == 200 {
				if e := (response{Status: 200, Body: res.body}).echo(t); e.BodyLength != 5 {
					t.Fatalf("backend got %d body bytes, want 5", e.BodyLength)
				}
			}
			if tc.closed && !res.closed {
				t.Fatalf("connection left open after %d", tc.status)
			}
		})
	}
}

// An HTTP/2 body without a declared length is counted as it streams: past
// the listener's maxBodyBytes it is cut off and answered 413, to an
// HTTP/1.1 upstream (buffered on the way) and to an h2c one (streamed).
func TestHTTP2StreamedBodyOverListenerLimit(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: h2c
    limits: { maxBodyBytes: 4096 }
services:
  - name: h1
    endpoints: [%q]
  - name: h2c
    endpoints: [%q]
    protocol: h2c
routes:
  - name: h1
    hosts: [h1.example.com]
    backends: [{ service: h1 }]
  - name: h2c
    hosts: [h2c.example.com]
    backends: [{ service: h2c }]
`, listen, echo, echo))
	c := h2cClient(listen)
	for _, host := range []string{"h1.example.com", "h2c.example.com"} {
		for n, want := range map[int]int{4096: 200, 64 << 10: 413} {
			req, err := http.NewRequest("POST", "http://"+listen+"/", io.MultiReader(strings.NewReader(strings.Repeat("b", n))))
			if err != nil {
				t.Fatal(err)
			}
			req.Host, req.ContentLength = host, -1
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", host, n, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s, %d bytes streamed: %d %q, want %d", host, n, resp.StatusCode, body, want)
			}
		}
	}
}
