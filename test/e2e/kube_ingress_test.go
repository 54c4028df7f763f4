package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/testenv"
)

// TestKubeIngress runs pylon --kubernetes against a real kube-apiserver and
// checks with real requests what Ingress authors see. The subtests share
// one API server and one pylon, each in its own namespace.
func TestKubeIngress(t *testing.T) {
	t.Parallel()
	env := startKubeEnv(t)

	t.Run("PathTypesAndUpdates", func(t *testing.T) {
		ns := env.namespace(t, "paths")
		env.service(t, ns, "web1", 8081)
		env.service(t, ns, "web2", 8082)
		ing := ingress(ns, "app", "app.kube.test", "/app", networkingv1.PathTypePrefix, "web1")
		exact := networkingv1.PathTypeExact
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths,
			networkingv1.HTTPIngressPath{Path: "/exact", PathType: &exact, Backend: backend("web2")})
		env.create(t, ing)
		soon(t, "prefix path served", func() string { return want(env.get("app.kube.test", "/app/x"), 200, "web1") })
		if msg := want(env.get("app.kube.test", "/app"), 200, "web1"); msg != "" {
			t.Errorf("/app: %s", msg)
		}
		// Prefix matches whole path elements.
		if msg := want(env.get("app.kube.test", "/apple"), 404, ""); msg != "" {
			t.Errorf("/apple: %s", msg)
		}
		if msg := want(env.get("app.kube.test", "/exact"), 200, "web2"); msg != "" {
			t.Errorf("/exact: %s", msg)
		}
		if msg := want(env.get("app.kube.test", "/exact/more"), 404, ""); msg != "" {
			t.Errorf("/exact/more: %s", msg)
		}
		if msg := want(env.get("other.kube.test", "/app"), 404, ""); msg != "" {
			t.Errorf("other host: %s", msg)
		}

		env.update(t, ns, "app", func(ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].HTTP.Paths[0].Backend = backend("web2")
		})
		soon(t, "backend changed", func() string { return want(env.get("app.kube.test", "/app/x"), 200, "web2") })

		if err := env.kube.Client.NetworkingV1().Ingresses(ns).Delete(env.ctx(), "app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "deleted ingress gone", func() string { return want(env.get("app.kube.test", "/app/x"), 404, "") })
	})

	t.Run("EndpointSlices", func(t *testing.T) {
		ns := env.namespace(t, "endpoints")
		env.service(t, ns, "svc", 8081)
		env.create(t, ingress(ns, "eps", "eps.kube.test", "/", networkingv1.PathTypePrefix, "svc"))
		soon(t, "served by web1", func() string { return want(env.get("eps.kube.test", "/"), 200, "web1") })
		// Endpoints move without any Ingress change.
		env.slice(t, ns, "svc", "svc", 8082, true)
		soon(t, "moved to web2", func() string { return want(env.get("eps.kube.test", "/"), 200, "web2") })
		// A not-ready endpoint takes no traffic.
		env.slice(t, ns, "svc", "svc", 8082, false)
		soon(t, "not-ready endpoint dropped", func() string { return want(env.get("eps.kube.test", "/"), 503, "") })
		env.slice(t, ns, "svc", "svc", 8081, true)
		soon(t, "ready again", func() string { return want(env.get("eps.kube.test", "/"), 200, "web1") })
	})

	t.Run("TLS", func(t *testing.T) {
		ns := env.namespace(t, "tls")
		env.service(t, ns, "web1", 8081)
		crt, key := env.ca.leaf(t, "secure.kube.test")
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secure-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: []byte(crt), corev1.TLSPrivateKeyKey: []byte(key)}}
		if _, err := env.kube.Client.CoreV1().Secrets(ns).Create(env.ctx(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ing := ingress(ns, "secure", "secure.kube.test", "/", networkingv1.PathTypePrefix, "web1")
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"secure.kube.test"}, SecretName: "secure-tls"}}
		env.create(t, ing)
		soon(t, "HTTPS with SNI", func() string {
			a := env.getTLS("secure.kube.test", "/")
			if msg := want(a, 200, "web1"); msg != "" {
				return msg
			}
			if !a.echo.TLS && a.echo.Host != "secure.kube.test" {
				return "backend saw host " + a.echo.Host
			}
			return ""
		})
	})

	t.Run("DefaultBackend", func(t *testing.T) {
		ns := env.namespace(t, "fallback")
		env.service(t, ns, "web2", 8082)
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fallback"},
			Spec: networkingv1.IngressSpec{IngressClassName: ptr("pylon"), DefaultBackend: ptr(backend("web2"))}}
		env.create(t, ing)
		soon(t, "default backend for an unknown host", func() string { return want(env.get("nobody.kube.test", "/any"), 200, "web2") })
		if err := env.kube.Client.NetworkingV1().Ingresses(ns).Delete(env.ctx(), "fallback", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "default backend gone", func() string { return want(env.get("nobody.kube.test", "/any"), 404, "") })
	})

	t.Run("RejectedKeepsLastGood", func(t *testing.T) {
		ns := env.namespace(t, "rejected")
		env.service(t, ns, "web1", 8081)
		env.create(t, ingress(ns, "good", "good.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
		env.create(t, ingress(ns, "other", "other-good.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
		soon(t, "served", func() string { return want(env.get("good.kube.test", "/"), 200, "web1") })
		env.update(t, ns, "good", func(ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].HTTP.Paths[0].Backend = backend("missing")
		})
		soon(t, "Rejected event", func() string {
			if ev := env.events(t, ns, "good"); !strings.Contains(ev, "Rejected") || !strings.Contains(ev, "missing") {
				return "events: " + ev
			}
			return ""
		})
		if msg := want(env.get("good.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("last good version: %s", msg)
		}
		if msg := want(env.get("other-good.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("other ingress: %s", msg)
		}
		// Creating the missing Service heals the Ingress.
		env.service(t, ns, "missing", 8082)
		soon(t, "healed", func() string { return want(env.get("good.kube.test", "/"), 200, "web2") })
	})

	t.Run("ConflictOldestWins", func(t *testing.T) {
		ns := env.namespace(t, "conflict")
		env.service(t, ns, "web1", 8081)
		env.service(t, ns, "web2", 8082)
		env.create(t, ingress(ns, "first", "shared.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
		soon(t, "first served", func() string { return want(env.get("shared.kube.test", "/"), 200, "web1") })
		env.create(t, ingress(ns, "second", "shared.kube.test", "/", networkingv1.PathTypePrefix, "web2"))
		soon(t, "Conflict event on the newer", func() string {
			if ev := env.events(t, ns, "second"); !strings.Contains(ev, "Conflict") || !strings.Contains(ev, ns+"/first") {
				return "events: " + ev
			}
			return ""
		})
		if msg := want(env.get("shared.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("oldest keeps the host: %s", msg)
		}
		if err := env.kube.Client.NetworkingV1().Ingresses(ns).Delete(env.ctx(), "first", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "next oldest takes over", func() string { return want(env.get("shared.kube.test", "/"), 200, "web2") })
	})

	t.Run("StatusAndClasses", func(t *testing.T) {
		ns := env.namespace(t, "status")
		env.service(t, ns, "web1", 8081)
		env.create(t, ingress(ns, "mine", "mine.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
		other := ingress(ns, "theirs", "theirs.kube.test", "/", networkingv1.PathTypePrefix, "web1")
		other.Spec.IngressClassName = ptr("nginx")
		env.create(t, other)
		legacy := ingress(ns, "legacy", "legacy.kube.test", "/", networkingv1.PathTypePrefix, "web1")
		legacy.Spec.IngressClassName = nil
		legacy.Annotations = map[string]string{"kubernetes.io/ingress.class": "pylon"}
		env.create(t, legacy)
		soon(t, "status.loadBalancer", func() string {
			ing, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "mine", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if lb := ing.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != publishAddress {
				return "status " + ing.Status.String()
			}
			return ""
		})
		soon(t, "legacy annotation served", func() string { return want(env.get("legacy.kube.test", "/"), 200, "web1") })
		if msg := want(env.get("theirs.kube.test", "/"), 404, ""); msg != "" {
			t.Errorf("another class's Ingress: %s", msg)
		}
		ing, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "theirs", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("status written on another class's Ingress: %v", ing.Status)
		}
		// A status wiped by hand is put back without a spec change.
		wiped, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "mine", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wiped.Status.LoadBalancer.Ingress = nil
		if _, err := env.kube.Client.NetworkingV1().Ingresses(ns).UpdateStatus(env.ctx(), wiped, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "wiped status restored", func() string {
			ing, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "mine", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if lb := ing.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != publishAddress {
				return "status " + ing.Status.String()
			}
			return ""
		})
		// An Ingress that moves to another class stops being served and
		// loses the address Pylon wrote.
		env.update(t, ns, "mine", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = ptr("nginx") })
		soon(t, "moved Ingress not served", func() string { return want(env.get("mine.kube.test", "/"), 404, "") })
		soon(t, "moved Ingress's status cleared", func() string {
			ing, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "mine", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if lb := ing.Status.LoadBalancer.Ingress; len(lb) != 0 {
				return "status " + ing.Status.String()
			}
			return ""
		})
	})

	t.Run("AnnotationEvents", func(t *testing.T) {
		ns := env.namespace(t, "annotations")
		env.service(t, ns, "web1", 8081)
		ing := ingress(ns, "snippet", "snippet.kube.test", "/", networkingv1.PathTypePrefix, "web1")
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}
		env.create(t, ing)
		soon(t, "served without the snippet", func() string { return want(env.get("snippet.kube.test", "/"), 200, "web1") })
		soon(t, "AnnotationRejected event", func() string {
			if ev := env.events(t, ns, "snippet"); !strings.Contains(ev, "AnnotationRejected") || !strings.Contains(ev, "server-snippet") {
				return "events: " + ev
			}
			return ""
		})
		// An invalid value rejects the Ingress; its last good version stays.
		env.update(t, ns, "snippet", func(ing *networkingv1.Ingress) {
			ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "soon"}
			ing.Spec.Rules[0].HTTP.Paths[0].Path = "/v2"
		})
		soon(t, "Rejected event for the invalid value", func() string {
			if ev := env.events(t, ns, "snippet"); !strings.Contains(ev, "proxy-connect-timeout") || !strings.Contains(ev, "Rejected") {
				return "events: " + ev
			}
			return ""
		})
		if msg := want(env.get("snippet.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("last good version after an invalid annotation: %s", msg)
		}
	})

	t.Run("SecondReplica", func(t *testing.T) {
		ns := env.namespace(t, "replicas")
		env.service(t, ns, "web1", 8081)
		env.create(t, ingress(ns, "both", "both.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
		soon(t, "first replica serves", func() string { return want(env.get("both.kube.test", "/"), 200, "web1") })
		second := &kubeEnv{t: t, kube: env.kube, http: testenv.FreeAddr(t)}
		second.gw = startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", second.http),
			"--kubernetes", "--kubeconfig", env.kube.Kubeconfig, "--publish-address", "192.0.2.99")
		// Ready means synced and live: no wait.
		if msg := want(second.get("both.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("second replica: %s", msg)
		}
		// The first replica holds the Lease; the second does not write status.
		time.Sleep(500 * time.Millisecond)
		ing, err := env.kube.Client.NetworkingV1().Ingresses(ns).Get(env.ctx(), "both", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if lb := ing.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != publishAddress {
			t.Errorf("status written by the non-leader: %v", lb)
		}
		lease, err := env.kube.Client.CoordinationV1().Leases("default").Get(env.ctx(), "pylon-ingress-pylon", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("lease: %v", err)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			t.Errorf("lease without a holder: %v", lease.Spec)
		}
	})

	t.Run("DefaultClass", func(t *testing.T) {
		ns := env.namespace(t, "defaultclass")
		env.service(t, ns, "web2", 8082)
		ing := ingress(ns, "classless", "classless.kube.test", "/", networkingv1.PathTypePrefix, "web2")
		ing.Spec.IngressClassName = nil
		env.create(t, ing)
		// Without a default IngressClass an Ingress without a class is not ours.
		time.Sleep(300 * time.Millisecond)
		if msg := want(env.get("classless.kube.test", "/"), 404, ""); msg != "" {
			t.Fatalf("classless Ingress before a default class: %s", msg)
		}
		class := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: "pylon", Annotations: map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}},
			Spec:       networkingv1.IngressClassSpec{Controller: "pylon.io/ingress-controller"},
		}
		if _, err := env.kube.Client.NetworkingV1().IngressClasses().Create(env.ctx(), class, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = env.kube.Client.NetworkingV1().IngressClasses().Delete(env.ctx(), "pylon", metav1.DeleteOptions{})
		})
		soon(t, "served once pylon is the default class", func() string { return want(env.get("classless.kube.test", "/"), 200, "web2") })
	})
}
