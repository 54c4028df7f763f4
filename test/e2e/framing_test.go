package e2e

import (
	"fmt"
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
