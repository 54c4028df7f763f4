package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"pylon.io/pylon/internal/ir"
	ingresstr "pylon.io/pylon/internal/source/kubernetes/ingress"
	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// annotatedIngresses exercise the ingress-nginx annotations whose effect is
// only visible in traffic. Services main, canary and errors are echo
// backends of those names.
const annotatedIngresses = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: paths, namespace: shop}
spec:
  rules:
  - host: paths.example.com
    http:
      paths:
      - {path: /foo, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /v2/$2
    nginx.ingress.kubernetes.io/upstream-vhost: internal.shop
spec:
  rules:
  - host: regex.example.com
    http:
      paths:
      - {path: /API(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: stable, namespace: shop}
spec:
  rules:
  - host: canary.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: preview
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-by-header: X-Canary
    nginx.ingress.kubernetes.io/canary-by-cookie: canary
    nginx.ingress.kubernetes.io/canary-weight: "30"
spec:
  rules:
  - host: canary.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: canary, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: guarded
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: users
    nginx.ingress.kubernetes.io/auth-realm: Shop staff
    nginx.ingress.kubernetes.io/whitelist-source-range: 127.0.0.0/8
    nginx.ingress.kubernetes.io/proxy-body-size: 1k
spec:
  rules:
  - host: auth.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: denied
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/denylist-source-range: 127.0.0.1
spec:
  rules:
  - host: deny.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: moved
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/permanent-redirect: https://new.example.com/landing
    nginx.ingress.kubernetes.io/permanent-redirect-code: "308"
spec:
  rules:
  - host: moved.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/app-root: /app
spec:
  tls:
  - hosts: [web.example.com]
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/enable-cors: "true"
    nginx.ingress.kubernetes.io/cors-allow-origin: https://ui.example.com
    nginx.ingress.kubernetes.io/custom-http-errors: "404"
    nginx.ingress.kubernetes.io/default-backend: errors
    nginx.ingress.kubernetes.io/limit-rpm: "60"
spec:
  rules:
  - host: api.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
      - {path: /v2, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: www
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/from-to-www-redirect: "true"
    nginx.ingress.kubernetes.io/server-alias: shop.example.net
spec:
  rules:
  - host: www.shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: main, port: {number: 80}}}}
---
apiVersion: v1
kind: Secret
metadata: {name: users, namespace: shop}
stringData:
  auth: "alice:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"
`

type annotatedObjects struct {
	ingresses []*networkingv1.Ingress
	secrets   map[string]*corev1.Secret
}

func (k *annotatedObjects) Service(ns, name string) (*corev1.Service, bool) {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	s.Name, s.Namespace = name, ns
	return s, true
}

func (k *annotatedObjects) Secret(ns, name string) (*corev1.Secret, bool) {
	s, ok := k.secrets[ns+"/"+name]
	return s, ok
}

// addTranslated translates ing and adds its services, certificates and
// routes to cfg, each service with the one endpoint its Kubernetes Service
// has in addrs (as EndpointSlices would fill it).
func addTranslated(t *testing.T, cfg *ir.Config, ing *networkingv1.Ingress, l ingresstr.Lookup, addrs map[string]string) ingresstr.Result {
	t.Helper()
	res := ingresstr.Translate(ing, l, ingresstr.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	refs := map[string]string{}
	for _, r := range res.Services {
		refs[r.Name] = r.Service
	}
	for _, o := range res.Objects {
		switch x := o.(type) {
		case *ir.Service:
			x.Endpoints, x.Discovered = []ir.Endpoint{{Address: addrs[refs[x.Name]]}}, false
			cfg.Services = append(cfg.Services, x)
		case *ir.Certificate:
			cfg.Certificates = append(cfg.Certificates, x)
		case *ir.Route:
			cfg.Routes = append(cfg.Routes, x)
		}
	}
	return res
}

// TestIngressAnnotationsServed translates Ingresses with the controller's
// translator, serves the result with the real pylon binary (endpoints filled
// as EndpointSlices would) and checks what clients see.
func TestIngressAnnotationsServed(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	addrs := map[string]string{
		"main": backends.StartHTTP(t, "main"), "canary": backends.StartHTTP(t, "canary"), "errors": backends.StartHTTP(t, "errors"),
	}
	sch := runtime.NewScheme()
	_ = corev1.AddToScheme(sch)
	_ = networkingv1.AddToScheme(sch)
	dec := serializer.NewCodecFactory(sch).UniversalDeserializer()
	objs := &annotatedObjects{secrets: map[string]*corev1.Secret{}}
	for _, doc := range strings.Split(annotatedIngresses, "\n---\n") {
		o, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch x := o.(type) {
		case *networkingv1.Ingress:
			objs.ingresses = append(objs.ingresses, x)
		case *corev1.Secret:
			x.Data = map[string][]byte{}
			for k, v := range x.StringData {
				x.Data[k] = []byte(v)
			}
			objs.secrets[x.Namespace+"/"+x.Name] = x
		}
	}
	cfg := ir.Config{Listeners: []*ir.Listener{{Name: "web", Address: listen, Protocol: ir.ProtocolHTTP}}}
	var canaries []ingresstr.Canary
	for _, ing := range objs.ingresses {
		res := addTranslated(t, &cfg, ing, objs, addrs)
		canaries = append(canaries, res.Canaries...)
	}
	for i, r := range cfg.Routes {
		for _, c := range canaries {
			if ingresstr.ConflictKey(r) == c.Key {
				cfg.Routes[i] = ingresstr.ApplyCanary(r, c)
			}
		}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	startGateway(t, string(data))
	c := newClient()
	url := "http://" + listen
	get := func(host, path string, headers ...string) response {
		return do(t, c, "GET", url+path, host, headers...)
	}

	t.Run("Prefix is element-wise, Exact is exact", func(t *testing.T) {
		for path, want := range map[string]int{"/foo": 200, "/foo/bar": 200, "/foobar": 404, "/exact": 200, "/exact/x": 404} {
			if got := get("paths.example.com", path).Status; got != want {
				t.Errorf("%s: %d, want %d", path, got, want)
			}
		}
	})
	t.Run("use-regex, rewrite-target, upstream-vhost", func(t *testing.T) {
		e := get("regex.example.com", "/api/users/7").echo(t)
		if e.Path != "/v2/users/7" || e.Host != "internal.shop" {
			t.Errorf("upstream got %s with Host %s", e.Path, e.Host)
		}
	})
	t.Run("canary by header, cookie and weight", func(t *testing.T) {
		if b := get("canary.example.com", "/", "X-Canary: always").echo(t).Backend; b != "canary" {
			t.Errorf("header always: %s", b)
		}
		if b := get("canary.example.com", "/", "Cookie: a=1; canary=always").echo(t).Backend; b != "canary" {
			t.Errorf("cookie always: %s", b)
		}
		n := map[string]int{}
		for range 200 {
			n[get("canary.example.com", "/").echo(t).Backend]++
			if b := get("canary.example.com", "/", "X-Canary: never", "Cookie: canary=always").echo(t).Backend; b != "main" {
				t.Fatalf("header never (over cookie always and the weight): %s", b)
			}
		}
		if n["canary"] < 30 || n["canary"] > 90 {
			t.Errorf("weight 30%%: %v", n)
		}
	})
	t.Run("basic auth, allowlist and body size", func(t *testing.T) {
		r := get("auth.example.com", "/")
		if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `realm="Shop staff"`) {
			t.Errorf("without credentials: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		if s := get("auth.example.com", "/", "Authorization: Basic YWxpY2U6c2VjcmV0").Status; s != 200 { // alice:secret
			t.Errorf("with credentials: %d", s)
		}
		req, _ := http.NewRequest("POST", url+"/", bytes.NewReader(make([]byte, 2048)))
		req.Host = "auth.example.com"
		req.Header.Set("Authorization", "Basic YWxpY2U6c2VjcmV0")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("2 KiB body over proxy-body-size 1k: %d", resp.StatusCode)
		}
	})
	t.Run("denylist", func(t *testing.T) {
		if s := get("deny.example.com", "/").Status; s != 403 {
			t.Errorf("denied address: %d", s)
		}
	})
	t.Run("from-to-www-redirect, server-alias", func(t *testing.T) {
		r := get("shop.example.com", "/x?y=1")
		if r.Status != 308 || r.Header.Get("Location") != "http://www.shop.example.com/x?y=1" {
			t.Errorf("from-to-www: %d %q", r.Status, r.Header.Get("Location"))
		}
		if r := get("shop.example.net", "/x"); r.Status != 200 || r.echo(t).Backend != "main" {
			t.Errorf("server-alias: %d", r.Status)
		}
	})
	t.Run("permanent-redirect", func(t *testing.T) {
		r := get("moved.example.com", "/old")
		if r.Status != 308 || r.Header.Get("Location") != "https://new.example.com/landing" {
			t.Errorf("%d %q", r.Status, r.Header.Get("Location"))
		}
	})
	t.Run("cors, custom errors, limit-rpm", func(t *testing.T) {
		r := do(t, c, "OPTIONS", url+"/x", "api.example.com", "Origin: https://ui.example.com", "Access-Control-Request-Method: PUT")
		if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" ||
			!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PUT") || r.Header.Get("Access-Control-Max-Age") != "1728000" {
			t.Errorf("preflight: %d %v", r.Status, r.Header)
		}
		if r := get("api.example.com", "/x", "Origin: https://evil.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("other origin allowed: %v", r.Header)
		}
		r = get("api.example.com", "/status/404")
		if e := r.echo(t); r.Status != 404 || e.Backend != "errors" || e.Headers["X-Ingress-Name"][0] != "api" || e.Headers["X-Service-Name"][0] != "main" {
			t.Errorf("custom error page: %d from %s %v", r.Status, e.Backend, e.Headers)
		}
		// 60 per minute with a burst of 5×, for the whole Ingress as in
		// ingress-nginx: of 400 quick requests spread over its two paths,
		// about 300 pass and the rest are refused with 503 (counted per
		// path, all 400 would pass).
		n := map[int]int{}
		for i := range 400 {
			path := "/"
			if i%2 == 1 {
				path = "/v2/orders"
			}
			n[get("api.example.com", path).Status]++
		}
		if n[503] < 50 || n[200] < 250 || n[200] > 320 {
			t.Errorf("limit-rpm 60 across the Ingress's paths: %v", n)
		}
	})
	t.Run("ssl-redirect, app-root", func(t *testing.T) {
		// web.example.com has a TLS section: plain HTTP goes to HTTPS first.
		r := get("web.example.com", "/app?x=1")
		if r.Status != 308 || r.Header.Get("Location") != "https://web.example.com/app?x=1" {
			t.Errorf("ssl-redirect: %d %q", r.Status, r.Header.Get("Location"))
		}
		if r := get("web.example.com", "/"); r.Status != 302 || r.Header.Get("Location") != "http://web.example.com/app" {
			t.Errorf("app-root: %d %q", r.Status, r.Header.Get("Location"))
		}
	})
}
