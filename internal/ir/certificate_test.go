package ir

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestCertificateClientAuthValidate(t *testing.T) {
	ca := testCAPEM(t)
	for _, tc := range []struct {
		name string
		auth ClientAuth
		want []string // field paths expected in the error; none: valid
	}{
		{"inline", ClientAuth{CA: ca}, nil},
		{"file", ClientAuth{CAFile: "ca.crt", Mode: ClientAuthOptional, Depth: 2}, nil},
		{"missing", ClientAuth{}, []string{"clientAuth.ca"}},
		{"garbage", ClientAuth{CA: "hello"}, []string{"clientAuth.ca"}},
		{"mode", ClientAuth{CA: ca, Mode: "sometimes"}, []string{"clientAuth.mode"}},
		{"depth", ClientAuth{CA: ca, Depth: -1}, []string{"clientAuth.depth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.auth
			c := &Certificate{Name: "c", CertFile: "c.crt", KeyFile: "c.key", ClientAuth: &a}
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, f := range tc.want {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}
