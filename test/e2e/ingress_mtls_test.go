package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestIngressAuthTLSServed translates an Ingress with auth-tls-secret and
// serves the result with the real pylon binary: its host requires a client
// certificate signed by the Secret's ca.crt.
func TestIngressAuthTLSServed(t *testing.T) {
	t.Parallel()
	serverCA, clientCA, otherCA := newCA(t), newCA(t), newCA(t)
	crt, key := serverCA.leaf(t, "secure.example.com")
	objs := &annotatedObjects{secrets: map[string]*corev1.Secret{
		"shop/site":      {Data: map[string][]byte{"tls.crt": []byte(crt), "tls.key": []byte(key)}},
		"shop/client-ca": {Data: map[string][]byte{"ca.crt": []byte(clientCA.PEM)}},
	}}
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "secure", Namespace: "shop", Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/auth-tls-secret":        "shop/client-ca",
			"nginx.ingress.kubernetes.io/auth-tls-verify-client": "on",
		}},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"secure.example.com"}, SecretName: "site"}},
			Rules: []networkingv1.IngressRule{{Host: "secure.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "main", Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
	}
	listen := testenv.FreeAddr(t)
	cfg := ir.Config{Listeners: []*ir.Listener{{Name: "websecure", Address: listen, Protocol: ir.ProtocolHTTPS}}}
	addTranslated(t, &cfg, ing, objs, map[string]string{"main": backends.StartHTTP(t, "main")})
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	startGateway(t, string(data))

	get := func(cert *tls.Certificate) (*http.Response, error) {
		tc := &tls.Config{RootCAs: serverCA.Pool}
		if cert != nil {
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialTo(listen), TLSClientConfig: tc, ForceAttemptHTTP2: true}}
		return c.Get("https://secure.example.com:" + port(listen) + "/")
	}
	good, bad := clientCA.client(t, "alice"), otherCA.client(t, "mallory")
	r, err := get(&good)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if e := readEcho(t, r); r.StatusCode != 200 || len(e.Headers["X-Client-Verify"]) != 1 || e.Headers["X-Client-Verify"][0] != "SUCCESS" {
		t.Fatalf("with a certificate from the Secret's CA: %d, upstream saw X-Client-Verify %q", r.StatusCode, e.Headers["X-Client-Verify"])
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA": &bad} {
		if r, err := get(cert); err == nil {
			r.Body.Close()
			t.Errorf("%s: got %d, want a failed handshake", name, r.StatusCode)
		}
	}
}
