package tlsindex

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"pylon.io/pylon/internal/ir"
)

// clientAuth is an entry's client certificate verification. The CA pool is
// parsed once, when the entry is; the handshake configs are built on the
// first handshake that needs them and then reused, so a handshake costs a
// lookup, not a parse.
type clientAuth struct {
	pool  *x509.CertPool
	mode  tls.ClientAuthType
	depth int
	// passCert sends the client's certificate upstream.
	passCert bool

	// confs holds the configs derived so far, one per listener config they
	// were derived from. The list is immutable once stored and short: a
	// listener's config changes only when the listener itself does.
	confs atomic.Pointer[[]derived]
	mu    sync.Mutex // serializes builders; readers never take it
}

type derived struct {
	base, conf *tls.Config
}

// maxDerived bounds the configs kept per entry; older listener generations
// drop out first.
const maxDerived = 4

func newClientAuth(c Cert) (*clientAuth, error) {
	pool, err := ir.ParseCAPool(string(c.ClientCAPEM))
	if err != nil {
		return nil, err
	}
	a := &clientAuth{pool: pool, mode: tls.RequireAndVerifyClientCert, depth: c.ClientDepth, passCert: c.ClientPassCert}
	if c.ClientOptional {
		a.mode = tls.VerifyClientCertIfGiven
	}
	return a, nil
}

// ClientAuth reports whether the entry verifies client certificates.
func (e *Entry) ClientAuth() bool { return e.client != nil }

// config returns the handshake config for this entry derived from the
// listener's base config: the same settings, the entry's certificate, and
// client certificate verification.
func (e *Entry) config(base *tls.Config) (*tls.Config, error) {
	a := e.client
	if l := a.confs.Load(); l != nil {
		for _, d := range *l {
			if d.base == base {
				return d.conf, nil
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var list []derived
	if l := a.confs.Load(); l != nil {
		for _, d := range *l {
			if d.base == base {
				return d.conf, nil
			}
		}
		list = append(list, *l...)
	}
	c := base.Clone()
	c.GetConfigForClient = nil
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return e.certificate() }
	c.ClientCAs = a.pool
	c.ClientAuth = a.mode
	if a.depth > 0 {
		depth := a.depth
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // optional mode without a certificate
			}
			for _, ch := range cs.VerifiedChains {
				if len(ch)-1 <= depth {
					return nil
				}
			}
			return fmt.Errorf("tlsindex: client certificate chain is deeper than %d", depth)
		}
	}
	if len(list) >= maxDerived {
		list = list[1:]
	}
	list = append(list, derived{base: base, conf: c})
	a.confs.Store(&list)
	return c, nil
}

// ConfigForClient returns a tls.Config.GetConfigForClient for a listener
// whose own config is base: for a name whose certificate verifies client
// certificates it returns that certificate's config (built once per entry
// and listener config, then cached); otherwise nil, so the listener's
// config applies. A client sending no name or an unknown one gets the
// listener's config; the proxy refuses requests whose Host needs client
// certificates on such connections (see MisdirectedClientAuth).
func (x *Index) ConfigForClient(base *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		e := x.cur.Load().lookup(hello.ServerName)
		if e == nil || e.client == nil {
			return nil, nil
		}
		return e.config(base)
	}
}

// ClientAuthCheck is what a request on a TLS connection learns from the
// index about client certificates.
type ClientAuthCheck struct {
	// Verified: the connection's certificate verifies client certificates,
	// so the request carries the verification result upstream.
	Verified bool
	// PassCert: the client's certificate goes upstream too.
	PassCert bool
	// Misdirected: the request's host needs client certificates but the
	// handshake was made for another certificate, so no client certificate
	// was checked against the host's CAs; the request must be refused (421).
	Misdirected bool
}

// Active reports whether any certificate verifies client certificates; when
// none does, requests skip CheckClientAuth (one atomic load).
func (x *Index) Active() bool { return x.cur.Load().clientAuth > 0 }

// CheckClientAuth compares the name a client sent in its handshake with the
// host of a request on that connection (a port, if any, is ignored). It
// takes no locks and does not allocate.
func (x *Index) CheckClientAuth(serverName, host string) ClientAuthCheck {
	r := x.cur.Load()
	if r.clientAuth == 0 {
		return ClientAuthCheck{}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	conn := r.lookup(serverName)
	var res ClientAuthCheck
	if conn != nil && conn.client != nil {
		res.Verified, res.PassCert = true, conn.client.passCert
	}
	if h := r.lookup(host); h != nil && h.client != nil && h != conn {
		res.Misdirected = true
	}
	return res
}
