package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// tlsEnv is a gateway with an HTTPS listener (with a default certificate), a
// strict HTTPS listener (without one), an h2c listener and an HTTP/1.1
// listener, in front of HTTP/1.1, HTTP/2-over-TLS, h2c, gRPC and WebSocket
// backends.
type tlsEnv struct {
	gw                       *gateway
	https, strict, h2c, http string
	ca                       *testCA
	dir                      string
}

func startTLSEnv(t *testing.T) *tlsEnv {
	t.Helper()
	env := &tlsEnv{
		https: testenv.FreeAddr(t), strict: testenv.FreeAddr(t),
		h2c: testenv.FreeAddr(t), http: testenv.FreeAddr(t),
		ca: newCA(t), dir: t.TempDir(),
	}
	// The exact-name certificate is in files next to the config (relative
	// paths); the others are inline.
	exactCert, exactKey := env.ca.leaf(t, "tls.example.com")
	writeFile(t, filepath.Join(env.dir, "exact.crt"), exactCert)
	writeFile(t, filepath.Join(env.dir, "exact.key"), exactKey)
	wildCert, wildKey := env.ca.leaf(t, "*.wild.example.com")
	defCert, defKey := env.ca.leaf(t, "default.example.com")
	h2Addr, h2CA := backends.StartHTTPSPEM(t, "echo-h2")

	cfg := fmt.Sprintf(`
listeners:
  - name: tls
    address: %s
    protocol: https
    tls: { defaultCertificate: default }
  - name: strict
    address: %s
    protocol: https
  - name: h2c
    address: %s
    protocol: h2c
  - name: web
    address: %s
    protocol: http
certificates:
  - name: exact
    certFile: exact.crt
    keyFile: exact.key
  - name: wild
    cert: |
%s    key: |
%s  - name: default
    cert: |
%s    key: |
%s
services:
  - name: echo
    endpoints: [%q]
  - name: echo-h2
    endpoints: [%q]
    protocol: http2
    tls:
      serverName: example.com
      ca: |
%s  - name: echo-h2c
    endpoints: [%q]
    protocol: h2c
  - name: grpc
    endpoints: [%q]
    protocol: h2c
  - name: ws
    endpoints: [%q]
routes:
  - name: echo
    backends: [{ service: echo }]
  - name: h2-upstream
    hosts: ["h2up.example.com"]
    backends: [{ service: echo-h2 }]
  - name: h2c-upstream
    hosts: ["h2cup.example.com"]
    backends: [{ service: echo-h2c }]
  - name: grpc
    match: { path: { prefix: /pylon.test.v1.Echo/ } }
    backends: [{ service: grpc }]
  - name: websocket
    hosts: ["ws.example.com"]
    backends: [{ service: ws }]
`, env.https, env.strict, env.h2c, env.http,
		indent(wildCert, 6), indent(wildKey, 6), indent(defCert, 6), indent(defKey, 6),
		backends.StartHTTP(t, "echo"), h2Addr, indent(h2CA, 8),
		backends.StartHTTP(t, "echo-h2c"), backends.StartGRPC(t), backends.StartWebSocket(t))
	path := filepath.Join(env.dir, "pylon.yaml")
	writeFile(t, path, cfg)
	env.gw = startGatewayAt(t, path)
	return env
}

// dialTo returns a dial function that connects to addr whatever the URL says,
// so URLs can carry real host names.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// httpsClient speaks HTTP/2 (or HTTP/1.1 when h1 is set) over TLS to addr,
// trusting the test CA.
func (env *tlsEnv) httpsClient(addr string, h1 bool) *http.Client {
	tr := &http.Transport{
		DialContext:       dialTo(addr),
		TLSClientConfig:   &tls.Config{RootCAs: env.ca.Pool},
		ForceAttemptHTTP2: !h1,
	}
	if h1 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP to addr.
func h2cClient(addr string) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			return dialTo(addr)(ctx, network, "")
		},
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// port returns the port of a host:port address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
