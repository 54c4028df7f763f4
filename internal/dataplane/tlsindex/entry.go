// Package tlsindex serves TLS certificates by SNI name from an index that
// holds 100,000 certificates compactly and is updated one certificate at a
// time.
//
// Folder and package are both tlsindex, so callers import it next to
// crypto/tls without renaming either.
package tlsindex

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Cert is a certificate as the config pipeline hands it over.
type Cert struct {
	// Key identifies the certificate, e.g. "file/default/example". When two
	// certificates cover the same name, the lexically smallest Key serves it.
	Key string
	// CertPEM holds the leaf first, then any intermediates.
	CertPEM []byte
	// KeyPEM holds the private key matching the leaf.
	KeyPEM []byte
	// SNI lists the names to serve the certificate for. When empty, the
	// names are the leaf's DNS SANs, or its Common Name if it has no SANs.
	// A wildcard is written "*.example.com" and covers exactly one label.
	SNI []string
	// ClientCAPEM, when set, turns on client certificate verification for
	// the certificate's names: clients must present a certificate signed by
	// one of these CAs (or may present none if ClientOptional).
	ClientCAPEM    []byte
	ClientOptional bool
	// ClientDepth, when positive, bounds the number of certificates above
	// the client's own in its verified chain.
	ClientDepth int
	// ClientPassCert sends a verified client certificate to the upstream.
	ClientPassCert bool
}

// Entry is a validated certificate ready for the Index. It keeps only the
// PEM bytes; the tls.Certificate is parsed on the first handshake that needs
// it, because a parsed chain with its private key costs several kilobytes
// and most of 100,000 certificates may never be asked for on a given node.
// Once parsed, it keeps the DER chain and the key, not the PEM.
type Entry struct {
	key    string
	names  []string    // lowercased, without a trailing dot
	pem    []byte      // cert PEM followed by key PEM in one allocation
	split  int         // pem[:split] is the cert, pem[split:] the key
	client *clientAuth // nil: no client certificate verification
	// notAfter is when the leaf certificate expires, for the metrics.
	notAfter time.Time

	once sync.Once
	cert *tls.Certificate
	err  error
}

// Key returns the certificate's key.
func (e *Entry) Key() string { return e.key }

// NotAfter returns when the certificate expires.
func (e *Entry) NotAfter() time.Time { return e.notAfter }

// Names returns the names the certificate is served for. The slice must not
// be modified.
func (e *Entry) Names() []string { return e.names }

// certificate returns the parsed certificate, parsing it once. After the
// first call it neither locks (sync.Once's fast path is one atomic load) nor
// allocates.
func (e *Entry) certificate() (*tls.Certificate, error) {
	e.once.Do(func() {
		c, err := tls.X509KeyPair(e.pem[:e.split], e.pem[e.split:])
		if err != nil {
			e.err = fmt.Errorf("tlsindex: certificate %q: %w", e.key, err)
			return
		}
		// A server handshake sends the DER chain and signs with the key; it
		// does not read the parsed leaf (only a client choosing among
		// certificates does), and the parsed form costs more than the DER
		// it comes from. The PEM is not read again either.
		c.Leaf = nil
		e.cert, e.pem = &c, nil
	})
	return e.cert, e.err
}

// Parse validates a certificate and its key and works out the names it
// covers. Errors name the certificate's key and the field at fault.
func Parse(c Cert) (*Entry, error) {
	fail := func(field string, err error) error {
		return fmt.Errorf("certificate %q: %s: %w", c.Key, field, err)
	}
	if c.Key == "" {
		return nil, fail("key", errors.New("must not be empty"))
	}
	// Parse the leaf on its own first so that a broken certificate is
	// reported against certPEM rather than as a generic key pair error.
	leaf, err := parseLeaf(c.CertPEM)
	if err != nil {
		return nil, fail("certPEM", err)
	}
	if _, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		return nil, fail("keyPEM", err)
	}
	names, err := coveredNames(c.SNI, leaf)
	if err != nil {
		return nil, fail("sni", err)
	}
	pem := make([]byte, 0, len(c.CertPEM)+len(c.KeyPEM))
	pem = append(append(pem, c.CertPEM...), c.KeyPEM...)
	e := &Entry{key: c.Key, names: names, pem: pem, split: len(c.CertPEM), notAfter: leaf.NotAfter}
	if len(c.ClientCAPEM) > 0 {
		if e.client, err = newClientAuth(c); err != nil {
			return nil, fail("clientCAPEM", err)
		}
	}
	return e, nil
}

func parseLeaf(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no CERTIFICATE block found")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func coveredNames(sni []string, leaf *x509.Certificate) ([]string, error) {
	from := sni
	if len(from) == 0 {
		from = leaf.DNSNames
	}
	if len(from) == 0 && leaf.Subject.CommonName != "" {
		from = []string{leaf.Subject.CommonName}
	}
	if len(from) == 0 {
		return nil, errors.New("no names given and the leaf has no DNS SANs or Common Name")
	}
	var errs []error
	names := make([]string, 0, len(from))
	seen := make(map[string]bool, len(from))
	for _, n := range from {
		norm, err := normalizeName(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[norm] {
			seen[norm] = true
			names = append(names, norm)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return names, nil
}

// normalizeName lowercases a name and checks that a wildcard, if any, is a
// whole first label, which is the only form TLS clients accept.
func normalizeName(n string) (string, error) {
	s := strings.ToLower(strings.TrimSuffix(n, "."))
	switch {
	case s == "":
		return "", fmt.Errorf("name %q is empty", n)
	case len(s) > maxNameLen:
		return "", fmt.Errorf("name %q is longer than %d bytes", n, maxNameLen)
	case strings.Contains(s[1:], "*"):
		return "", fmt.Errorf("name %q: a wildcard must be the whole first label", n)
	case s[0] == '*' && (len(s) < 3 || s[1] != '.'):
		return "", fmt.Errorf("name %q: a wildcard must be the whole first label", n)
	}
	return s, nil
}

// maxNameLen is the longest DNS name (RFC 1035), which also bounds the stack
// buffer used to lowercase names during lookups.
const maxNameLen = 253
