package tlsindex

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// testKeys are shared by all generated certificates: key generation is the
// slow part, and certificates with the same key are still distinct.
var testKeys = func() []*ecdsa.PrivateKey {
	ks := make([]*ecdsa.PrivateKey, 4)
	for i := range ks {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
}()

var serial atomic.Int64

type testCert struct {
	certPEM, keyPEM, der []byte
}

// genCert makes a self-signed ECDSA P-256 leaf for the given SANs (and CN,
// which may be empty).
func genCert(tb testing.TB, cn string, sans ...string) testCert {
	tb.Helper()
	n := serial.Add(1)
	key := testKeys[int(n)%len(testKeys)]
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(n),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     sans,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		der:     der,
	}
}

func mustParse(tb testing.TB, key string, c testCert, sni ...string) *Entry {
	tb.Helper()
	e, err := Parse(Cert{Key: key, CertPEM: c.certPEM, KeyPEM: c.keyPEM, SNI: sni})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// serve starts a TLS listener on 127.0.0.1 backed by the index and returns
// its address.
func serve(t *testing.T, x *Index) string {
	t.Helper()
	return serveTLS(t, &tls.Config{GetCertificate: x.GetCertificate}, func(*tls.Conn) {})
}

// serveTLS accepts TLS connections with cfg, runs each handshake and hands
// the connection to answer on success; it returns the address.
func serveTLS(t *testing.T, cfg *tls.Config, answer func(*tls.Conn)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := c.(*tls.Conn)
				if tc.Handshake() == nil {
					answer(tc)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr with the given SNI and returns the leaf the server
// presented. Verification is skipped because the test identifies the
// certificate by its bytes, which is stricter than checking a name.
func handshake(t *testing.T, addr, sni string) ([]byte, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw, nil
}

func expectServed(t *testing.T, addr, sni string, want testCert) {
	t.Helper()
	got, err := handshake(t, addr, sni)
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	if !bytes.Equal(got, want.der) {
		t.Fatalf("handshake with SNI %q: served the wrong certificate", sni)
	}
}

func expectFailed(t *testing.T, addr, sni string) {
	t.Helper()
	if _, err := handshake(t, addr, sni); err == nil {
		t.Fatalf("handshake with SNI %q: succeeded, want an error", sni)
	}
}
