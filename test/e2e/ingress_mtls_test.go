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
// certificate signed by the Secret's ca.crt, whose subject matches
// auth-tls-match-cn.
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
			"nginx.ingress.kubernetes.io/auth-tls-match-cn":      "CN=(alice|robot)",
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

	getProto := func(cert *tls.Certificate, h2 bool) (*http.Response, error) {
		tc := &tls.Config{RootCAs: serverCA.Pool}
		if cert != nil {
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		tr := &http.Transport{DialContext: dialTo(listen), TLSClientConfig: tc, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
		return c.Get("https://secure.example.com:" + port(listen) + "/")
	}
	get := func(cert *tls.Certificate) (*http.Response, error) { return getProto(cert, true) }
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
	// auth-tls-match-cn: the right CA but another subject gets 403, on
	// both engines; a matching subject gets through on both.
	bob := clientCA.client(t, "bob")
	for _, h2 := range []bool{false, true} {
		for _, tc := range []struct {
			cn   string
			cert *tls.Certificate
			want int
		}{{"bob", &bob, 403}, {"alice", &good, 200}} {
			r, err := getProto(tc.cert, h2)
			if err != nil {
				t.Fatalf("h2 %v: %v", h2, err)
			}
			r.Body.Close()
			if r.StatusCode != tc.want {
				t.Errorf("h2 %v, CN=%s: %d, want %d", h2, tc.cn, r.StatusCode, tc.want)
			}
		}
	}
}
