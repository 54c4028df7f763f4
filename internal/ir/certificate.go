package ir

import (
	"crypto/tls"
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
}

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
	return p.err()
}
