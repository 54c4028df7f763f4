package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// client issues a client certificate (ExtKeyUsageClientAuth) for cn.
func (ca *testCA) client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"pylon e2e"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSClientCertificates runs one https listener with a host that
// requires a client certificate (mtls.example.com) and one that needs none
// (open.example.com), over HTTP/2 and HTTP/1.1.
func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	serverCA, clientCA, otherCA := newCA(t), newCA(t), newCA(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "clients.crt"), clientCA.PEM)
	mCert, mKey := serverCA.leaf(t, "mtls.example.com")
	oCert, oKey := serverCA.leaf(t, "open.example.com")
	addr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`
listeners:
  - name: tls
    address: %s
    protocol: https
certificates:
  - name: mtls
    cert: |
%s    key: |
%s    clientAuth: { caFile: clients.crt, passCertificate: true }
  - name: open
    cert: |
%s    key: |
%s
services:
  - name: echo
    endpoints: [%q]
routes:
  - name: echo
    backends: [{ service: echo }]
  - name: open
    hosts: ["open.example.com"]
    backends: [{ service: echo }]
  - name: locked
    hosts: ["open.example.com"]
    match: { path: { prefix: /locked } }
    requireClientCertificate: true
    backends: [{ service: echo }]
`, addr, indent(mCert, 6), indent(mKey, 6), indent(oCert, 6), indent(oKey, 6), backends.StartHTTP(t, "echo"))
	path := filepath.Join(dir, "pylon.yaml")
	writeFile(t, path, cfg)
	startGatewayAt(t, path)

	good, bad := clientCA.client(t, "alice"), otherCA.client(t, "mallory")
	client := func(h1 bool, cert *tls.Certificate, sni string) *http.Client {
		tc := &tls.Config{RootCAs: serverCA.Pool, ServerName: sni}
		if cert != nil {
			// Offered whatever CAs the server names, to test the server's check.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		tr := &http.Transport{DialContext: dialTo(addr), TLSClientConfig: tc, ForceAttemptHTTP2: !h1}
		if h1 {
			tc.NextProtos = []string{"http/1.1"}
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return &http.Client{Transport: tr, Timeout: 5 * time.Second}
	}
	get := func(c *http.Client, host string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "https://"+host+":"+port(addr)+"/x", nil)
		// A client's own verification headers must never reach the upstream.
		req.Header.Set("X-Client-Verify", "SUCCESS")
		req.Header.Set("X-Client-Subject-DN", "CN=forged")
		return c.Do(req)
	}

	for _, proto := range []struct {
		name string
		h1   bool
		want string
	}{{"h2", false, "HTTP/2.0"}, {"http1.1", true, "HTTP/1.1"}} {
		t.Run(proto.name, func(t *testing.T) {
			t.Run("verified client", func(t *testing.T) {
				r, err := get(client(proto.h1, &good, ""), "mtls.example.com")
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				if r.StatusCode != 200 || r.Proto != proto.want {
					t.Fatalf("got %s %d, want %s 200", r.Proto, r.StatusCode, proto.want)
				}
				e := readEcho(t, r)
				if v := e.Headers["X-Client-Verify"]; len(v) != 1 || v[0] != "SUCCESS" {
					t.Errorf("upstream saw X-Client-Verify %q, want [SUCCESS]", v)
				}
				if v := e.Headers["X-Client-Subject-Dn"]; len(v) != 1 || v[0] != "CN=alice,O=pylon e2e" {
					t.Errorf("upstream saw X-Client-Subject-Dn %q", v)
				}
				v := e.Headers["X-Client-Cert"]
				if len(v) != 1 {
					t.Fatalf("upstream saw X-Client-Cert %q", v)
				}
				if p, err := url.QueryUnescape(v[0]); err != nil || !strings.HasPrefix(p, "-----BEGIN CERTIFICATE-----\n") {
					t.Errorf("X-Client-Cert is not URL-encoded PEM: %q (%v)", v[0], err)
				}
			})
			t.Run("no client certificate", func(t *testing.T) {
				if r, err := get(client(proto.h1, nil, ""), "mtls.example.com"); err == nil {
					r.Body.Close()
					t.Fatalf("got %d without a client certificate, want a failed handshake", r.StatusCode)
				}
			})
			t.Run("certificate from another CA", func(t *testing.T) {
				if r, err := get(client(proto.h1, &bad, ""), "mtls.example.com"); err == nil {
					r.Body.Close()
					t.Fatalf("got %d with a certificate from another CA, want a failed handshake", r.StatusCode)
				}
			})
			t.Run("open host on the same listener", func(t *testing.T) {
				r, err := get(client(proto.h1, nil, ""), "open.example.com")
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				if r.StatusCode != 200 {
					t.Fatalf("got %d, want 200", r.StatusCode)
				}
				e := readEcho(t, r)
				for _, h := range []string{"X-Client-Verify", "X-Client-Subject-Dn", "X-Client-Cert"} {
					if v, ok := e.Headers[h]; ok {
						t.Errorf("upstream saw the client's forged %s %q", h, v)
					}
				}
			})
			t.Run("route requiring a certificate on the open host", func(t *testing.T) {
				req, _ := http.NewRequest("GET", "https://open.example.com:"+port(addr)+"/locked", nil)
				r, err := client(proto.h1, nil, "").Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode != http.StatusForbidden {
					t.Fatalf("got %d, want 403", r.StatusCode)
				}
			})
			t.Run("mtls host on the open host's connection", func(t *testing.T) {
				// Handshake for open.example.com, then ask for the mTLS host:
				// no client certificate was checked, so it is refused.
				r, err := get(client(proto.h1, nil, "open.example.com"), "mtls.example.com")
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode != http.StatusMisdirectedRequest {
					t.Fatalf("got %d, want 421", r.StatusCode)
				}
			})
		})
	}
}
