package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// compressionGateway runs a gateway whose h2c listener (HTTP/1.1 and
// HTTP/2 on one port) compresses every route.
func compressionGateway(t *testing.T) string {
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: h2c
services:
  - name: a
    endpoints: [%q]
  - name: h2
    endpoints: [%q]
    protocol: h2c
plugins:
  - name: compression
    config: { minLength: 100, types: ["text/*", application/json] }
routes:
  - name: a
    backends: [{ service: a }]
  - name: h2
    hosts: [h2.example.com]
    backends: [{ service: h2 }]
  - name: plain
    hosts: [plain.example.com]
    backends: [{ service: a }]
    plugins: [{ name: compression, disabled: true }]
`, listen, a, a))
	return listen
}

// decoder returns a reader decoding body in the given Content-Encoding.
func decoder(t *testing.T, enc string, body io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(body)
	case "zstd":
		zr, err := zstd.NewReader(body)
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("unexpected Content-Encoding %q", enc)
	return nil
}

// Real clients negotiate each coding over HTTP/1.1 and HTTP/2 and read the
// body back intact; responses the plugin must leave alone arrive as sent.
func TestCompressionEndToEnd(t *testing.T) {
	t.Parallel()
	listen := compressionGateway(t)
	clients := map[string]*http.Client{"HTTP/1.1": newClient(), "HTTP/2": h2cClient(listen)}
	closeIdle(t, clients)
	for proto, c := range clients {
		for _, enc := range []string{"gzip", "br", "zstd"} {
			t.Run(proto+"/"+enc, func(t *testing.T) {
				req, _ := http.NewRequest("GET", "http://"+listen+"/page?x="+strings.Repeat("y", 300), nil)
				req.Header.Set("Accept-Encoding", enc+", identity;q=0.5")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Proto != map[string]string{"HTTP/1.1": "HTTP/1.1", "HTTP/2": "HTTP/2.0"}[proto] {
					t.Fatalf("proto %s", resp.Proto)
				}
				if got := resp.Header.Get("Content-Encoding"); got != enc {
					t.Fatalf("Content-Encoding %q, want %q (headers %v)", got, enc, resp.Header)
				}
				if resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Fatalf("headers %v", resp.Header)
				}
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				// The upstream's length is dropped; HTTP/2 may state the
				// compressed one when the whole body is written at once.
				if resp.ContentLength != -1 && resp.ContentLength != int64(len(raw)) {
					t.Fatalf("Content-Length %d for %d compressed bytes", resp.ContentLength, len(raw))
				}
				b, err := io.ReadAll(decoder(t, enc, bytes.NewReader(raw)))
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !strings.Contains(string(b), `"rawQuery":"x=yyyy`) || !strings.HasSuffix(string(b), "}\n") {
					t.Fatalf("decoded body %q", b)
				}
			})
		}
	}

	t.Run("curl --compressed", func(t *testing.T) {
		for _, args := range [][]string{{"--http1.1"}, {"--http2-prior-knowledge"}} {
			r := curl(t, append(args, "--compressed", "http://"+listen+"/page?x="+strings.Repeat("y", 300))...)
			if r.Status != 200 || r.Header.Get("Content-Encoding") != "zstd" || !strings.Contains(r.Body, `"rawQuery":"x=yyyy`) {
				t.Fatalf("%v: %d %v\n%s", args, r.Status, r.Header, r.Body)
			}
		}
	})

	t.Run("left alone", func(t *testing.T) {
		c := newClient()
		for name, tc := range map[string]struct {
			method, path, ae string
		}{
			"binary type":        {"GET", "/bytes/5000", "gzip"},
			"small":              {"GET", "/bytes/10", "gzip"},
			"HEAD":               {"HEAD", "/page?x=" + strings.Repeat("y", 300), "gzip"},
			"no Accept-Encoding": {"GET", "/page?x=" + strings.Repeat("y", 300), "identity"},
			"304":                {"GET", "/status/304", "gzip"},
		} {
			r := do(t, c, tc.method, "http://"+listen+tc.path, "", "Accept-Encoding: "+tc.ae)
			if r.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: compressed: %v", name, r.Header)
			}
		}
	})
}

// A streamed response (server-sent events, long polls) stays a stream
// through compression: each chunk the upstream flushes reaches the client,
// decoded, long before the stream ends.
func TestCompressionStreams(t *testing.T) {
	t.Parallel()
	listen := compressionGateway(t)
	clients := map[string]*http.Client{"HTTP/1.1": newClient(), "HTTP/2": h2cClient(listen)}
	closeIdle(t, clients)
	for proto, c := range clients {
		for _, enc := range []string{"gzip", "br", "zstd"} {
			t.Run(proto+"/"+enc, func(t *testing.T) {
				const n, interval, slack = 3, 400 * time.Millisecond, 300 * time.Millisecond
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/stream?n=%d&interval=%d", listen, n, interval.Milliseconds()), nil)
				req.Header.Set("Accept-Encoding", enc)
				if proto == "HTTP/2" {
					// An HTTP/2 client's stream goes to an HTTP/2 upstream:
					// the HTTP/2 → HTTP/1.1 bridge reads whole responses.
					req.Host = "h2.example.com"
				}
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Header.Get("Content-Encoding") != enc {
					t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
				lines := bufio.NewReader(decoder(t, enc, resp.Body))
				for i := range n {
					line, err := lines.ReadString('\n')
					if err != nil {
						t.Fatalf("chunk %d: %v", i, err)
					}
					at := time.Since(start)
					if line != fmt.Sprintf("chunk %d\n", i) {
						t.Fatalf("chunk %d: %q", i, line)
					}
					// Chunk i is sent at i×interval; it must not wait for
					// the next one (or the end of the stream).
					if limit := time.Duration(i)*interval + slack; at > limit {
						t.Fatalf("chunk %d arrived after %v, want before %v", i, at, limit)
					}
				}
				if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
					t.Fatalf("end of stream: %q %v", rest, err)
				}
			})
		}
	}
}

// closeIdle closes the clients' idle connections before the gateway stops,
// so its graceful drain does not wait for them.
func closeIdle(t *testing.T, clients map[string]*http.Client) {
	t.Cleanup(func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	})
}
