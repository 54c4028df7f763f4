package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// engineClient is one way of reaching the gateway: HTTP/1.1 or HTTP/2, over
// TLS or not. Each lands on its own listener, so together they cover both
// engines with and without TLS.
type engineClient struct {
	name   string
	scheme string // http or https
	addr   string
	h2     bool
	c      *http.Client
}

// enginesGateway is a gateway with an http, an https and an h2c listener,
// and a client of each kind for them.
type enginesGateway struct {
	gw      *gateway
	clients []*engineClient
}

// startEnginesGateway runs pylon on body (services, routes and the rest)
// plus three listeners: http, https (with a certificate for certNames) and
// h2c. Its clients are HTTP/1.1 over plain TCP and over TLS, HTTP/2 over
// TLS and HTTP/2 with prior knowledge (h2c); none follows redirects.
func startEnginesGateway(t *testing.T, certNames []string, body string) *enginesGateway {
	t.Helper()
	web, secure, h2c := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	ca := newCA(t)
	cert, key := ca.leaf(t, certNames...)
	cfg := fmt.Sprintf(`listeners:
  - { name: web, address: %s, protocol: http }
  - { name: secure, address: %s, protocol: https, tls: { defaultCertificate: site } }
  - { name: h2c, address: %s, protocol: h2c }
certificates:
  - name: site
    cert: |
%s    key: |
%s%s`, web, secure, h2c, indent(cert, 6), indent(key, 6), body)
	env := &enginesGateway{gw: startGateway(t, cfg)}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h1tls := &http.Transport{DialContext: dialTo(secure),
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2tls := &http.Transport{DialContext: dialTo(secure), TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		ForceAttemptHTTP2: true}
	env.clients = []*engineClient{
		{name: "h1", scheme: "http", addr: web, c: &http.Client{Transport: &http.Transport{DialContext: dialTo(web)}}},
		{name: "h1tls", scheme: "https", addr: secure, c: &http.Client{Transport: h1tls}},
		{name: "h2tls", scheme: "https", addr: secure, h2: true, c: &http.Client{Transport: h2tls}},
		{name: "h2c", scheme: "http", addr: h2c, h2: true, c: h2cClient(h2c)},
	}
	for _, c := range env.clients {
		c.c.Timeout = 10 * time.Second
		c.c.CheckRedirect = noRedirects
		t.Cleanup(c.c.CloseIdleConnections)
	}
	return env
}

// do sends method to host+target (a path with its query) and reads the
// whole answer; it checks that the client spoke the protocol it stands for.
func (c *engineClient) do(t *testing.T, method, host, target string, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.scheme+"://"+host+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s%s: %v", c.name, method, host, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %s %s%s: body: %v", c.name, method, host, target, err)
	}
	if (resp.ProtoMajor == 2) != c.h2 {
		t.Fatalf("%s: the answer came over %s", c.name, resp.Proto)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}
