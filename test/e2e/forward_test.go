package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

func forwardConfig(web, h2c, backend string) string {
	return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
  - name: h2c
    address: %s
    protocol: h2c
services:
  - name: echo
    endpoints: [%q]
routes:
  - name: public
    hosts: ["public.example.com"]
    match: { path: { prefix: / } }
    backends: [{ service: echo }]
`, web, h2c, backend)
}

// h2Send opens a prior-knowledge h2c connection to addr, closed when the
// test ends, and sends one bodiless request with exactly fields.
func h2Send(t *testing.T, addr string, fields [][2]string) *http2.Framer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	return fr
}

// h2Request sends one HTTP/2 request with exactly the header fields given
// (as a hostile client could) over prior-knowledge h2c, and returns the
// response body.
func h2Request(t *testing.T, addr string, fields [][2]string) string {
	t.Helper()
	fr := h2Send(t, addr, fields)
	var body bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the response: %v (body so far %q)", err, body.String())
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			body.Write(f.Data())
			if f.StreamEnded() {
				return body.String()
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				return body.String()
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("goaway: %v", f.ErrCode)
		}
	}
}

// checkFramedOnAuthority checks an echo of a bodiless request sent to
// public.example.com: the upstream saw that host and no declared body.
func checkFramedOnAuthority(t *testing.T, body string) {
	t.Helper()
	var e backends.Echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an echo: %q", body)
	}
	if e.Host != "public.example.com" {
		t.Errorf("upstream saw Host %q, want the routed public.example.com", e.Host)
	}
	if cl := e.Headers["Content-Length"]; len(cl) > 0 && cl[0] != "0" {
		t.Errorf("upstream saw the client's Content-Length %q for a bodiless request", cl)
	}
}

// h2Outcome sends one HTTP/2 request like h2Request and reports whether it
// was reset, and with what code; an answer is not read.
func h2Outcome(t *testing.T, addr string, fields [][2]string) (http2.ErrCode, bool) {
	t.Helper()
	fr := h2Send(t, addr, fields)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			return 0, false
		case *http2.RSTStreamFrame:
			return f.ErrCode, true
		case *http2.GoAwayFrame:
			return f.ErrCode, true
		}
	}
}

// TestForwardingIsNotSmuggling: an HTTP/2 client cannot make an HTTP/1.1
// upstream see a body length, a Host or a path other than the ones Pylon
// framed and routed on.
func TestForwardingIsNotSmuggling(t *testing.T) {
	t.Parallel()
	backend := backends.StartHTTP(t, "echo")
	web, h2c := testenv.FreeAddr(t), testenv.FreeAddr(t)
	startGateway(t, forwardConfig(web, h2c, backend))

	t.Run("h2 content-length and host", func(t *testing.T) {
		// A Host that contradicts :authority makes the request malformed
		// (RFC 9113 8.3.1): the engine may reset it; if it serves it, it
		// serves it on :authority.
		fields := [][2]string{
			{":method", "GET"}, {":scheme", "http"}, {":authority", "public.example.com"}, {":path", "/x"},
			{"content-length", "40"}, {"host", "internal.example"},
		}
		if code, reset := h2Outcome(t, h2c, fields); reset && code != http2.ErrCodeProtocol {
			t.Errorf("Host beside :authority: reset with %v, want PROTOCOL_ERROR or an answer on :authority", code)
		} else if !reset {
			checkFramedOnAuthority(t, h2Request(t, h2c, fields))
		}
		// Without the Host, a content-length the stream's frames do not
		// carry never reaches the upstream.
		checkFramedOnAuthority(t, h2Request(t, h2c, fields[:5]))
	})

	t.Run("path routed is path forwarded", func(t *testing.T) {
		for _, p := range []string{"/admin/..%2Fx", "/a/%2e%2e/x", "/a//../x"} {
			res := rawRequest(t, web, "GET "+p+" HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n")
			if !strings.Contains(res.body, `"path":"/x"`) {
				t.Errorf("GET %s: upstream did not get the normalized path /x: %s", p, res.body)
			}
		}
	})
}

// TestResponsesStream: a response the upstream sends bit by bit (server-sent
// events, long polls) reaches the client bit by bit, over every pair of
// client and upstream protocols, instead of when the upstream finishes.
func TestResponsesStream(t *testing.T) {
	t.Parallel()
	backend := backends.StartHTTP(t, "echo")
	web, h2cAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
  - name: h2c
    address: %s
    protocol: h2c
services:
  - name: h1
    endpoints: [%q]
  - name: h2c
    endpoints: [%q]
    protocol: h2c
routes:
  - name: h1
    hosts: ["h1.example.com"]
    backends: [{ service: h1 }]
  - name: h2c
    hosts: ["h2c.example.com"]
    backends: [{ service: h2c }]
`, web, h2cAddr, backend, backend))
	for _, host := range []string{"h1.example.com", "h2c.example.com"} {
		t.Run(host, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", web, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			fmt.Fprintf(conn, "GET /stream?n=4&interval=500 HTTP/1.1\r\nHost: %s\r\n\r\n", host)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no first bytes: %v", err)
			}
			if first := time.Since(start); first > time.Second {
				t.Fatalf("first %d bytes after %v: the response was buffered, not streamed", n, first)
			}
		})
		t.Run("h2c client to "+host, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+h2cAddr+"/stream?n=4&interval=500", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			start := time.Now()
			resp, err := h2cClient(h2cAddr).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 4096)
			n, err := resp.Body.Read(buf)
			if n == 0 {
				t.Fatalf("no first bytes: %v", err)
			}
			if first := time.Since(start); first > time.Second {
				t.Fatalf("first %d bytes after %v: the response was buffered, not streamed", n, first)
			}
		})
	}
}

// TestPerTryTimeoutOnHTTP2Upstreams: an h2c endpoint that accepts but never
// answers costs one per-try timeout, then the request goes to another
// endpoint, instead of waiting out the whole request timeout.
func TestPerTryTimeoutOnHTTP2Upstreams(t *testing.T) {
	t.Parallel()
	good := backends.StartHTTP(t, "good")
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() { // accept and hold: a stuck upstream
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	web := testenv.FreeAddr(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: mixed
    endpoints: [%q, %q]
    protocol: h2c
routes:
  - name: mixed
    hosts: ["mixed.example.com"]
    backends: [{ service: mixed }]
    timeouts: { request: 10s }
    retries: { attempts: 2, perTryTimeout: 300ms }
`, web, hole.Addr().String(), good))
	c := newClient()
	for i := range 6 {
		start := time.Now()
		res := do(t, c, "GET", "http://"+web+"/x", "mixed.example.com")
		if res.Status != 200 {
			t.Fatalf("request %d: status %d: %s", i, res.Status, res.Body)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("request %d took %v: the per-try timeout did not move it on", i, took)
		}
	}
}
