package proxy

import (
	"crypto/tls"
	"encoding/pem"
	"net/url"
	"strings"
)

// clientAuth fills c's client certificate fields and reports whether the
// request is misdirected (421). Without TLS, or with no client-verifying
// certificate anywhere, it costs a branch and an atomic load and allocates
// nothing.
func (p *Proxy) clientAuth(c *Ctx) bool {
	if !c.tls || p.certs == nil || !p.certs.Active() {
		return false
	}
	var cs *tls.ConnectionState
	if c.fast != nil {
		cs = c.fast.TLSConnectionState()
	} else {
		cs = c.std.TLS
	}
	if cs == nil {
		return false
	}
	return p.verifyClient(c, cs)
}

func (p *Proxy) verifyClient(c *Ctx, cs *tls.ConnectionState) (misdirected bool) {
	chk := p.certs.CheckClientAuth(cs.ServerName, unsafeString(c.host))
	if chk.Misdirected {
		return true
	}
	if !chk.Verified {
		return false
	}
	if len(cs.PeerCertificates) == 0 {
		// Optional verification and no certificate sent.
		c.clientVerify = "NONE"
		return false
	}
	// The handshake verified the chain: a certificate that failed would
	// have ended it.
	leaf := cs.PeerCertificates[0]
	c.clientVerify = "SUCCESS"
	c.clientDN = leaf.Subject.String()
	if chk.PassCert {
		c.clientCert = escapeCert(leaf.Raw)
	}
	return false
}

// escapeCert is the leaf as URL-encoded PEM, as nginx's
// $ssl_client_escaped_cert, so it fits in one header line.
func escapeCert(der []byte) string {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20")
}
