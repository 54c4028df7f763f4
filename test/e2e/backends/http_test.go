package backends

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func getEcho(t *testing.T, c *http.Client, req *http.Request) (*http.Response, Echo) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode echo: %v", err)
	}
	return resp, e
}

func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func TestHTTPEcho(t *testing.T) {
	addr := StartHTTP(t, "one")
	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  string
	}{
		{"http1", &http.Client{}, "HTTP/1.1"},
		{"h2c", h2cClient(), "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+addr+"/a/b?x=1&x=2", strings.NewReader("hello"))
			req.Host = "echo.example.com"
			req.Header.Set("X-Test", "yes")
			resp, e := getEcho(t, tc.client, req)
			if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "one" {
				t.Fatalf("status %d, X-Backend %q", resp.StatusCode, resp.Header.Get("X-Backend"))
			}
			if e.Backend != "one" || e.Method != "POST" || e.Path != "/a/b" || e.RawQuery != "x=1&x=2" ||
				len(e.Query["x"]) != 2 || e.Host != "echo.example.com" || e.BodyLength != 5 ||
				e.Proto != tc.proto || e.Headers["X-Test"][0] != "yes" || e.TLS {
				t.Fatalf("unexpected echo %+v", e)
			}
		})
	}
}

func TestHTTPSEcho(t *testing.T) {
	addr, roots := StartHTTPS(t, "tls")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: TLSClientConfig(roots), ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	_, e := getEcho(t, c, req)
	if e.Proto != "HTTP/2.0" || !e.TLS || e.Backend != "tls" {
		t.Fatalf("unexpected echo %+v", e)
	}
}

func TestHTTPSpecialPaths(t *testing.T) {
	addr := StartHTTP(t, "b")
	base := "http://" + addr

	resp, err := http.Get(base + "/status/418")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 418 {
		t.Errorf("/status/418 answered %d", resp.StatusCode)
	}

	start := time.Now()
	resp, err = http.Get(base + "/delay/100")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("/delay/100 answered after %v", d)
	}

	resp, err = http.Get(base + "/bytes/100000")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 100000 || resp.ContentLength != 100000 {
		t.Errorf("/bytes/100000 gave %d bytes, Content-Length %d", len(b), resp.ContentLength)
	}

	resp, err = http.Get(base + "/stream?n=3&interval=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("/stream is not chunked: %v", resp.TransferEncoding)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if strings.Join(lines, "|") != "chunk 0|chunk 1|chunk 2" {
		t.Errorf("/stream gave %q", lines)
	}
}
