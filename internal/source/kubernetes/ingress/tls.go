package ingress

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	corev1 "k8s.io/api/core/v1"

	"pylon.io/pylon/internal/ir"
)

// tls turns spec.tls into certificates with inline PEM, one per Secret,
// serving the hosts of every section that names it.
func (t *translator) tls() {
	t.tlsHosts = map[string]bool{}
	byName := map[string]*ir.Certificate{}
	for i, s := range t.ing.Spec.TLS {
		for _, h := range s.Hosts {
			t.tlsHosts[strings.ToLower(h)] = true
		}
		if s.SecretName == "" || t.cfg.Canary.Enabled {
			continue // the listener's default certificate; a canary's TLS is its main Ingress's
		}
		field := fmt.Sprintf("spec.tls[%d].secretName", i)
		sec, ok := t.l.Secret(t.ing.Namespace, s.SecretName)
		if !ok || sec == nil {
			t.fail("%s: secret %s/%s not found", field, t.ing.Namespace, s.SecretName)
			continue
		}
		crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
		if len(crt) == 0 || len(key) == 0 {
			t.fail("%s: secret %s/%s has no tls.crt and tls.key", field, t.ing.Namespace, s.SecretName)
			continue
		}
		name := t.prefix() + "tls/" + s.SecretName
		c, ok := byName[name]
		if !ok {
			c = &ir.Certificate{Name: name, Cert: secretText(crt), Key: secretText(key)}
			byName[name] = c
			t.certs = append(t.certs, c)
		}
		for _, h := range s.Hosts {
			h = strings.ToLower(h)
			if !slices.Contains(c.SNI, h) {
				c.SNI = append(c.SNI, h)
			}
		}
	}
}

// secretText returns a Secret's value as a string without copying it. The
// Secrets a Lister hands out are never modified (an update replaces the
// object), so the string keeps its value; and the certificates of every
// Ingress naming one Secret share its bytes instead of holding a copy each.
func secretText(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
