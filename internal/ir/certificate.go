package ir

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// Certificate is a TLS certificate chain and key, inline PEM or files. SNI
// names come from the certificate's DNS names unless SNI is given.
type Certificate struct {
	Name     string   `json:"name" yaml:"name"`
	Cert     string   `json:"cert,omitempty" yaml:"cert,omitempty"`
	Key      string   `json:"key,omitempty" yaml:"key,omitempty"`
	CertFile string   `json:"certFile,omitempty" yaml:"certFile,omitempty"`
	KeyFile  string   `json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
	SNI      []string `json:"sni,omitempty" yaml:"sni,omitempty"`
	// ClientAuth, when set, makes handshakes for this certificate's names
	// ask for a client certificate signed by the given CAs (mTLS).
	ClientAuth *ClientAuth `json:"clientAuth,omitempty" yaml:"clientAuth,omitempty"`
}

// ClientAuth is client certificate verification for a certificate's names.
type ClientAuth struct {
	// CA holds the PEM certificates of the CAs that sign client
	// certificates; CAFile names a file holding them.
	CA     string `json:"ca,omitempty" yaml:"ca,omitempty"`
	CAFile string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// Mode is require (the default: no valid client certificate, no
	// handshake) or optional (a certificate, if sent, must be valid).
	Mode ClientAuthMode `json:"mode,omitempty" yaml:"mode,omitempty"`
	// Depth, when positive, bounds the verified chain: the number of
	// certificates above the client's own (1: signed directly by a CA).
	Depth int `json:"depth,omitempty" yaml:"depth,omitempty"`
	// PassCertificate sends the client's verified certificate to the
	// upstream in X-Client-Cert (URL-encoded PEM).
	PassCertificate bool `json:"passCertificate,omitempty" yaml:"passCertificate,omitempty"`
}

// ClientAuthMode says whether a client certificate is required.
type ClientAuthMode string

// Client certificate modes.
const (
	ClientAuthRequire  ClientAuthMode = "require"
	ClientAuthOptional ClientAuthMode = "optional"
)

func (c *Certificate) ResourceKind() Kind   { return KindCertificate }
func (c *Certificate) ResourceName() string { return c.Name }

// Validate checks the certificate. Files must have been resolved into Cert
// and Key by the source before the pair can be checked.
func (c *Certificate) Validate() error {
	p := &problems{kind: KindCertificate, name: c.Name}
	checkName(p, c.Name)
	if c.Cert == "" && c.CertFile == "" {
		p.add("cert", "cert or certFile is required")
	}
	if c.Key == "" && c.KeyFile == "" {
		p.add("key", "key or keyFile is required")
	}
	if c.Cert != "" && c.Key != "" {
		if _, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key)); err != nil {
			p.add("cert", "%v", err)
		}
	}
	for i, n := range c.SNI {
		if err := ValidateHost(n); err != nil {
			p.add(fmt.Sprintf("sni[%d]", i), "%v", err)
		}
	}
	if a := c.ClientAuth; a != nil {
		if a.CA == "" && a.CAFile == "" {
			p.add("clientAuth.ca", "ca or caFile is required")
		}
		if a.CA != "" {
			if _, err := ParseCAPool(a.CA); err != nil {
				p.add("clientAuth.ca", "%v", err)
			}
		}
		switch a.Mode {
		case "", ClientAuthRequire, ClientAuthOptional:
		default:
			p.add("clientAuth.mode", "must be require or optional (got %q)", a.Mode)
		}
		if a.Depth < 0 {
			p.add("clientAuth.depth", "must not be negative")
		}
	}
	return p.err()
}

// ParseCAPool parses PEM text holding one or more CA certificates. Blocks
// other than CERTIFICATE are skipped; at least one certificate is required
// and every certificate must parse.
func ParseCAPool(caPEM string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := []byte(caPEM); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE block found")
	}
	return pool, nil
}
