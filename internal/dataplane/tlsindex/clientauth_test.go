package tlsindex

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCA is a CA that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, cn string) testCA {
	t.Helper()
	key := testKeys[0]
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client issues a client certificate for cn.
func (ca testCA) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func parseClientAuth(t testing.TB, key string, c testCert, caPEM []byte, optional bool) *Entry {
	t.Helper()
	e, err := Parse(Cert{Key: key, CertPEM: c.certPEM, KeyPEM: c.keyPEM, ClientCAPEM: caPEM, ClientOptional: optional})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serveClientAuth serves the index the way the listener does and answers
// each connection with the subject of the client's certificate, or "none".
func serveClientAuth(t *testing.T, x *Index) string {
	t.Helper()
	base := &tls.Config{GetCertificate: x.ForListener(""), NextProtos: []string{"h2", "http/1.1"}}
	base.GetConfigForClient = x.ConfigForClient(base.Clone())
	return serveTLS(t, base, func(tc *tls.Conn) {
		who := "none"
		if p := tc.ConnectionState().PeerCertificates; len(p) > 0 {
			who = p[0].Subject.CommonName
		}
		io.WriteString(tc, who)
	})
}

// dialClient connects with an optional client certificate and returns what
// the server answered. With TLS 1.3 a refused client certificate surfaces on
// the first read, so the answer is read before reporting success.
func dialClient(addr, sni string, cert *tls.Certificate) (string, error) {
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
	if cert != nil {
		// Sent whatever CAs the server names; Go's client would otherwise
		// hold back a certificate from a CA the server did not list.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", io.ErrUnexpectedEOF
	}
	return string(b), nil
}

func TestClientAuthHandshake(t *testing.T) {
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other-ca")
	good, bad := ca.client(t, "alice"), other.client(t, "mallory")
	x := New()
	x.Apply([]*Entry{
		parseClientAuth(t, "f/d/a", genCert(t, "", "a.example.com"), ca.pem, false),
		parseClientAuth(t, "f/d/opt", genCert(t, "", "opt.example.com"), ca.pem, true),
		mustParse(t, "f/d/b", genCert(t, "", "b.example.com")),
	}, nil)
	addr := serveClientAuth(t, x)

	cases := []struct {
		sni  string
		cert *tls.Certificate
		want string // "" means the handshake must fail
	}{
		{"a.example.com", &good, "alice"},
		{"a.example.com", nil, ""},
		{"a.example.com", &bad, ""},
		{"opt.example.com", nil, "none"},
		{"opt.example.com", &good, "alice"},
		{"opt.example.com", &bad, ""},
		{"b.example.com", nil, "none"},
		{"b.example.com", &good, "none"}, // not asked for, not sent
	}
	for _, tc := range cases {
		got, err := dialClient(addr, tc.sni, tc.cert)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s cert=%v: answered %q, want a failed handshake", tc.sni, tc.cert != nil, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%s cert=%v: got %q, %v; want %q", tc.sni, tc.cert != nil, got, err, tc.want)
		}
	}
}

func TestConfigForClientIsBuiltOnce(t *testing.T) {
	ca := newTestCA(t, "ca")
	x := New()
	x.Apply([]*Entry{parseClientAuth(t, "f/d/a", genCert(t, "", "a.example.com"), ca.pem, false), mustParse(t, "f/d/b", genCert(t, "", "b.example.com"))}, nil)
	base := &tls.Config{NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS13}
	get := x.ConfigForClient(base)
	a1, err := get(&tls.ClientHelloInfo{ServerName: "a.example.com"})
	if err != nil || a1 == nil {
		t.Fatalf("a: %v, %v", a1, err)
	}
	if a1.ClientAuth != tls.RequireAndVerifyClientCert || a1.ClientCAs == nil || a1.MinVersion != tls.VersionTLS13 || len(a1.NextProtos) != 2 {
		t.Fatalf("derived config lost settings: auth %v, min %x, protos %v", a1.ClientAuth, a1.MinVersion, a1.NextProtos)
	}
	a2, _ := get(&tls.ClientHelloInfo{ServerName: "A.example.com"})
	if a1 != a2 {
		t.Fatal("config rebuilt for a second handshake")
	}
	if b, err := get(&tls.ClientHelloInfo{ServerName: "b.example.com"}); b != nil || err != nil {
		t.Fatalf("b: got %v, %v; want the listener's config (nil)", b, err)
	}
	if n, err := get(&tls.ClientHelloInfo{}); n != nil || err != nil {
		t.Fatalf("no SNI: got %v, %v", n, err)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = get(&tls.ClientHelloInfo{ServerName: "a.example.com"}) })
	if allocs > 1 { // the ClientHelloInfo literal itself may escape
		t.Errorf("ConfigForClient allocates %.0f times per call", allocs)
	}
}

func TestCheckClientAuth(t *testing.T) {
	ca := newTestCA(t, "ca")
	x := New()
	if x.Active() {
		t.Fatal("empty index is active")
	}
	x.Apply([]*Entry{parseClientAuth(t, "f/d/a", genCert(t, "", "a.example.com"), ca.pem, false), mustParse(t, "f/d/b", genCert(t, "", "b.example.com"))}, nil)
	if !x.Active() {
		t.Fatal("index with client auth is not active")
	}
	for _, tc := range []struct {
		sni, host         string
		verified, misdird bool
	}{
		{"a.example.com", "a.example.com", true, false},
		{"a.example.com", "a.example.com:8443", true, false},
		{"a.example.com", "b.example.com", true, false},
		{"b.example.com", "a.example.com", false, true},
		{"", "a.example.com:443", false, true},
		{"b.example.com", "b.example.com", false, false},
	} {
		got := x.CheckClientAuth(tc.sni, tc.host)
		if got.Verified != tc.verified || got.Misdirected != tc.misdird {
			t.Errorf("sni %q host %q: %+v", tc.sni, tc.host, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { x.CheckClientAuth("b.example.com", "a.example.com:443") }); n != 0 {
		t.Errorf("CheckClientAuth allocates %.0f times", n)
	}
	x.Apply([]*Entry{mustParse(t, "f/d/a", genCert(t, "", "a.example.com"))}, nil)
	if x.Active() {
		t.Fatal("still active after the client-auth certificate was replaced by one without")
	}
}

func TestParseClientCA(t *testing.T) {
	c := genCert(t, "", "a.example.com")
	_, err := Parse(Cert{Key: "f/d/a", CertPEM: c.certPEM, KeyPEM: c.keyPEM, ClientCAPEM: []byte("not pem")})
	if err == nil || !strings.Contains(err.Error(), "clientCAPEM") {
		t.Fatalf("err = %v, want a clientCAPEM error", err)
	}
}

// BenchmarkClientAuth measures what client certificate verification adds:
// the per-handshake config lookup and the per-request host check.
func BenchmarkClientAuth(b *testing.B) {
	x := New()
	loadMany(b, x, 10_000)
	ca := newTestCA(b, "ca")
	x.Apply([]*Entry{parseClientAuth(b, "f/d/a", genCert(b, "", "a.example.com"), ca.pem, false)}, nil)
	get := x.ConfigForClient(&tls.Config{})
	hello := &tls.ClientHelloInfo{ServerName: "a.example.com"}
	if c, err := get(hello); c == nil || err != nil {
		b.Fatal(c, err)
	}
	b.Run("ConfigForClient", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = get(hello)
		}
	})
	b.Run("CheckClientAuth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.CheckClientAuth("a.example.com", "host-42.example.com:443")
		}
	})
}
