package proxy

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/dataplane/tlsindex"
)

// Headers that carry the client certificate verification upstream, named
// after ingress-nginx's ssl-client-verify, ssl-client-subject-dn and
// ssl-client-escaped-cert. A client's own copies are always removed, so an
// upstream can trust them.
const (
	hdrClientVerify  = "X-Client-Verify"
	hdrClientSubject = "X-Client-Subject-Dn"
	hdrClientCert    = "X-Client-Cert"
)

// SetClientAuth sets the certificate index consulted for client
// certificate verification; nil (the default) means none.
func (p *Proxy) SetClientAuth(x *tlsindex.Index) { p.certs = x }

// fastClientAuth fills c's client certificate fields for an HTTP/1.1
// request and reports whether the request is misdirected (421). Without
// TLS, or with no client-verifying certificate anywhere, it costs a branch
// and an atomic load and allocates nothing.
func (p *Proxy) fastClientAuth(fc *fasthttp.RequestCtx, c *Ctx) bool {
	if !c.tls || p.certs == nil || !p.certs.Active() {
		return false
	}
	cs := fc.TLSConnectionState()
	if cs == nil {
		return false
	}
	return p.clientAuth(c, cs)
}

// stdClientAuth is fastClientAuth for the HTTP/2 engine.
func (p *Proxy) stdClientAuth(r *http.Request, c *Ctx) bool {
	if r.TLS == nil || p.certs == nil || !p.certs.Active() {
		return false
	}
	return p.clientAuth(c, r.TLS)
}

func (p *Proxy) clientAuth(c *Ctx, cs *tls.ConnectionState) (misdirected bool) {
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

// setFastClientHeaders removes the client's own verification headers and
// sets Pylon's, if the connection had client certificate verification.
func setFastClientHeaders(c *Ctx, h *fasthttp.RequestHeader) {
	h.Del(hdrClientVerify)
	h.Del(hdrClientSubject)
	h.Del(hdrClientCert)
	if c.clientVerify == "" {
		return
	}
	h.Set(hdrClientVerify, c.clientVerify)
	if c.clientDN != "" {
		h.Set(hdrClientSubject, c.clientDN)
	}
	if c.clientCert != "" {
		h.Set(hdrClientCert, c.clientCert)
	}
}

// setStdClientHeaders is setFastClientHeaders for net/http headers.
func setStdClientHeaders(c *Ctx, h http.Header) {
	delete(h, hdrClientVerify)
	delete(h, hdrClientSubject)
	delete(h, hdrClientCert)
	if c.clientVerify == "" {
		return
	}
	h[hdrClientVerify] = []string{c.clientVerify}
	if c.clientDN != "" {
		h[hdrClientSubject] = []string{c.clientDN}
	}
	if c.clientCert != "" {
		h[hdrClientCert] = []string{c.clientCert}
	}
}
