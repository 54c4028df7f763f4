package ingress

import (
	"strings"

	"pylon.io/pylon/internal/ir"
)

// authTLS puts auth-tls-secret's CA on the Ingress's certificates, so the
// handshakes for its TLS hosts verify client certificates. Every host the
// Ingress serves must have a TLS section with a Secret of its own: a host
// without one would be served without the verification its author asked
// for, so the Ingress is refused instead. With verification required, the
// Ingress's routes also refuse requests without a verified certificate, in
// case another Ingress's certificate for the same host wins the handshake.
func (t *translator) authTLS() {
	a := t.cfg.AuthTLS
	if a == nil || t.cfg.Canary.Enabled {
		return // a canary's hosts are its main Ingress's, with its TLS
	}
	ns := t.ing.Namespace
	if a.Secret.Namespace != "" && a.Secret.Namespace != ns {
		t.fail("annotation auth-tls-secret: secret %s/%s is in another namespace; only the Ingress's own namespace is allowed", a.Secret.Namespace, a.Secret.Name)
		return
	}
	sec, ok := t.l.Secret(ns, a.Secret.Name)
	if !ok || sec == nil {
		t.fail("annotation auth-tls-secret: secret %s/%s not found", ns, a.Secret.Name)
		return
	}
	ca := string(sec.Data["ca.crt"])
	if ca == "" {
		t.fail("annotation auth-tls-secret: secret %s/%s has no ca.crt", ns, a.Secret.Name)
		return
	}
	if _, err := ir.ParseCAPool(ca); err != nil {
		t.fail("annotation auth-tls-secret: secret %s/%s: ca.crt: %v", ns, a.Secret.Name, err)
		return
	}
	if t.ing.Spec.DefaultBackend != nil {
		t.fail("annotation auth-tls-secret: spec.defaultBackend serves every host, which client certificates cannot protect; use rules with hosts that have a TLS section")
	}
	covered := map[string]bool{}
	for _, c := range t.certs {
		for _, h := range c.SNI {
			covered[h] = true
		}
	}
	for i, r := range t.ing.Spec.Rules {
		h := strings.ToLower(r.Host)
		switch {
		case h == "":
			t.fail("annotation auth-tls-secret: spec.rules[%d] has no host; client certificates are verified per TLS host", i)
		case !t.tlsHosts[h]:
			t.fail("annotation auth-tls-secret: host %s has no TLS section (spec.tls), so client certificates cannot be verified for it", h)
		case !covered[h]:
			t.fail("annotation auth-tls-secret: host %s: its TLS section names no secretName; client certificates are verified only with the Ingress's own certificate", h)
		}
	}
	for _, c := range t.certs {
		c.ClientAuth = &ir.ClientAuth{CA: ca, Depth: a.Depth, PassCertificate: a.PassCert}
		if a.Optional {
			c.ClientAuth.Mode = ir.ClientAuthOptional
		}
	}
}

// requireClientCerts marks the Ingress's routes when client certificates
// are required (see authTLS), and with the subject they must have.
func (t *translator) requireClientCerts() {
	a := t.cfg.AuthTLS
	if a == nil {
		return
	}
	for _, r := range t.routes {
		r.route.RequireClientCertificate = !a.Optional
		r.route.ClientCertificateSubject = a.MatchCN
	}
}
