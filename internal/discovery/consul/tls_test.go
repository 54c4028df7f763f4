package consul

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/test/testenv"
)

// pki writes a CA, a server certificate for 127.0.0.1 and consul.test, and
// a client certificate, all signed by the CA, into dir.
func pki(t *testing.T, dir string) (ca, cert, key, clientCert, clientKey string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	cert, key = leaf(2, "server", x509.ExtKeyUsageServerAuth, []string{"consul.test"}, []net.IP{net.ParseIP("127.0.0.1")})
	clientCert, clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth, nil, nil)
	return
}

func TestHTTPS(t *testing.T) {
	ca, cert, key, clientCert, clientKey := pki(t, t.TempDir())
	c := testenv.StartConsul(t, testenv.ConsulHTTPS(cert, key, ca))
	c.Register("o1", "orders", "127.0.0.2", 80, nil, nil)
	q := discovery.Query{Name: "orders"}
	for _, tc := range []struct {
		name string
		tls  *TLS
		want string // an error it must contain; "" for success
	}{
		{"verified, with a client certificate", &TLS{CAFile: ca, CertFile: clientCert, KeyFile: clientKey}, ""},
		{"server name", &TLS{CAFile: ca, CertFile: clientCert, KeyFile: clientKey, ServerName: "consul.test"}, ""},
		{"insecureSkipVerify", &TLS{CertFile: clientCert, KeyFile: clientKey, InsecureSkipVerify: true}, ""},
		{"wrong server name", &TLS{CAFile: ca, CertFile: clientCert, KeyFile: clientKey, ServerName: "other.test"}, "other.test"},
		{"unknown CA", &TLS{CertFile: clientCert, KeyFile: clientKey}, "certificate signed by unknown authority"},
		// With TLS 1.3 the agent refuses the missing certificate after the
		// handshake, so the client sees the alert or, when it is still
		// writing, the closed connection.
		// HTTP/2 reports a handshake the server ended as a connection
		// that could not be established.
		{"no client certificate", &TLS{CAFile: ca}, "certificate required|broken pipe|connection reset|client conn could not be established"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newProvider(t, Config{Servers: []string{c.HTTPSAddr()}, Scheme: "https", TLS: tc.tls})
			set, err := p.Resolve(context.Background(), q)
			switch {
			case tc.want == "" && (err != nil || addrs(set) != "127.0.0.2:80"):
				t.Fatalf("Resolve = %+v, %v", set, err)
			case tc.want != "" && (err == nil || !containsAny(err.Error(), tc.want) || !strings.Contains(err.Error(), c.HTTPSAddr())):
				t.Fatalf("Resolve error = %v; want it to name %s and say %q", err, c.HTTPSAddr(), tc.want)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
	// Plain HTTP to the HTTPS port is refused, and a CA file that is not
	// there fails New.
	p, _ := newProvider(t, Config{Servers: []string{c.HTTPSAddr()}})
	if _, err := p.Resolve(context.Background(), q); err == nil {
		t.Error("Resolve over http to the https port succeeded")
	}
	if _, err := New(Config{Servers: []string{c.HTTPSAddr()}, Scheme: "https", TLS: &TLS{CAFile: filepath.Join(t.TempDir(), "none.pem")}}, nil); err == nil {
		t.Error("New with a missing CA file succeeded")
	}
}

// containsAny reports whether s contains one of the |-separated wants.
func containsAny(s, wants string) bool {
	for w := range strings.SplitSeq(wants, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
