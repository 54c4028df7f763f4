package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/examples"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
)

// pemPair is a self-signed certificate and its key for host.
func pemPair(t *testing.T, host string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// extraConfig has one object of each kind the bundled example lacks, and
// a route using most route fields.
const extraConfig = `
routes:
  - name: rich
    hosts: ["a.example.com", "*.b.example.com"]
    priority: 7
    match:
      path: { regex: "^/v[0-9]+/" }
      methods: [GET, POST]
      headers: [{ name: X-Env, exact: prod }]
      query: [{ name: debug, exact: "1" }]
    timeouts: { request: 2500ms }
    retries: { attempts: 3, perTryTimeout: 1s, on: [502, 503] }
    backends: [{ service: echo, weight: 3 }]
  - name: to-https
    redirect: { scheme: https, code: 308 }
hostPolicies:
  - name: shop
    hosts: ["shop.example.com"]
    plugins: [{ name: cors, config: { allowOrigins: ["*"] } }]
consumers:
  - name: alice
    plugins: [{ name: key-auth, config: { keys: ["alice-key-0123456789"] } }]
discovery:
  - name: local-dns
    dns: { servers: ["127.0.0.1:5353"], minTTL: 1s }
`

// TestGetOutputApplies: what `get -o yaml|json` prints is a config file:
// parsed as `apply -f` parses it, it gives back the same objects, for one
// object and for a list, of every kind.
func TestGetOutputApplies(t *testing.T) {
	cert, key := pemPair(t, "tls.example.com")
	certConfig := "certificates:\n  - name: tls\n    cert: |\n" + indent(cert, 6) + "    key: |\n" + indent(key, 6)
	var objs []ir.Object
	for name, cfg := range map[string]string{"quickstart.yaml": string(examples.Quickstart), "extra.yaml": extraConfig, "cert.yaml": certConfig} {
		entries, errs, _ := file.ParseFile(name, []byte(cfg))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", name, errs)
		}
		for _, e := range entries {
			objs = append(objs, e.Object)
		}
	}
	byKind := map[ir.Kind][]ir.Object{}
	for _, o := range objs {
		byKind[o.Key.Kind] = append(byKind[o.Key.Kind], o)
	}
	for _, kind := range ir.Kinds {
		if len(byKind[kind]) == 0 {
			t.Fatalf("no %s to try", kind)
		}
	}
	for kind, list := range byKind {
		for _, output := range []string{"yaml", "json"} {
			for _, set := range [][]ir.Object{list[:1], list} {
				var items []envelope
				for _, o := range set {
					b, err := json.Marshal(o.Resource)
					if err != nil {
						t.Fatal(err)
					}
					items = append(items, envelope{Kind: kind, Version: 3, Source: "api", Object: b})
				}
				var out bytes.Buffer
				if err := printObjects(&out, output, kind, items); err != nil {
					t.Fatalf("%s -o %s: %v", kind, output, err)
				}
				entries, errs, ok := file.ParseFile("get."+output, out.Bytes())
				if len(errs) > 0 || !ok {
					t.Fatalf("%s -o %s (%d objects) does not apply: %v\n%s", kind, output, len(set), errs, out.String())
				}
				var got, want []string
				for _, e := range entries {
					got = append(got, fmt.Sprintf("%s %x", e.Object.Key.Name, e.Object.Hash))
				}
				for _, o := range set {
					want = append(want, fmt.Sprintf("%s %x", o.Key.Name, o.Hash))
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s -o %s: applies as %v, want %v (name and content hash)\n%s", kind, output, got, want, out.String())
				}
			}
		}
	}
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(pad + l)
		}
	}
	return b.String()
}

// TestTableShowsSource: the table names each object with its namespace,
// its source and its version, "-" when it was never written through the
// API.
func TestTableShowsSource(t *testing.T) {
	items := []envelope{
		{Kind: ir.KindRoute, Version: 12, Source: "api", Object: json.RawMessage(`{"name":"a","hosts":["a.test"],"backends":[{"service":"s"}]}`)},
		{Kind: ir.KindRoute, Source: "file", Object: json.RawMessage(`{"name":"echo"}`)},
		{Kind: ir.KindRoute, Source: "kubernetes", Namespace: "shop", Object: json.RawMessage(`{"name":"cart-0"}`)},
	}
	var out bytes.Buffer
	if err := printObjects(&out, "", ir.KindRoute, items); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{{"NAME", "SOURCE", "VERSION"}, {"a", "api", "12"}, {"echo", "file", "-"}, {"shop/cart-0", "kubernetes", "-"}}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, w := range want {
		if f := strings.Fields(lines[i]); len(f) < 3 || !slices.Equal(f[:3], w) {
			t.Errorf("line %d = %q, want it to begin %v", i, lines[i], w)
		}
	}
}
