package kubernetes

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
	"pylon.io/pylon/test/testenv"
)

// cluster is a real API server with a source feeding a real compiler.
type cluster struct {
	kube  *testenv.Kube
	src   *Source
	comp  *compile.Compiler
	pools *upstream.Registry
}

func startSource(t *testing.T, kube *testenv.Kube, o Options) *cluster {
	t.Helper()
	return startSourceSink(t, kube, o, func(c *compile.Compiler) Sink { return c })
}

// startSourceSink is startSource feeding sink(compiler) instead.
func startSourceSink(t *testing.T, kube *testenv.Kube, o Options, sink func(*compile.Compiler) Sink) *cluster {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pools := upstream.NewRegistry(upstream.WithLogger(log))
	t.Cleanup(pools.Close)
	comp := compile.New(compile.Deps{Router: router.New[*proxy.Route](), Pools: pools, Certs: tlsindex.New(), Metrics: telemetry.NewMetrics(), Log: log})
	o.Kubeconfig, o.Log = kube.Kubeconfig, log
	src, err := New(o, pools)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx, sink(comp)); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-src.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("source not ready")
	}
	return &cluster{kube: kube, src: src, comp: comp, pools: pools}
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
}

func testIngress(ns, name, host, svc string) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	class := "pylon"
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: networkingv1.IngressSpec{
		IngressClassName: &class,
		Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
	}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *cluster) routes() int { return c.comp.Counts()[string(ir.KindRoute)] }

// TestChangeTranslatesOnlyWhatItTouches: at 300 Ingresses, one Ingress
// change translates one Ingress; a Service change translates its users.
func TestChangeTranslatesOnlyWhatItTouches(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	ns := "apps"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	for s := 0; s < 3; s++ {
		mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, fmt.Sprintf("svc%d", s)))
	}
	const n = 300
	for i := 0; i < n; i++ {
		mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, fmt.Sprintf("ing%d", i), fmt.Sprintf("h%d.test", i), fmt.Sprintf("svc%d", i%3)))
	}
	// The one Ingress of svc-solo, and an Ingress of another class.
	mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, "solo"))
	mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, "solo", "solo.test", "solo"))
	other := testIngress(ns, "other", "other.test", "solo")
	other.Spec.IngressClassName = nil
	mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, other)

	c := startSource(t, kube, Options{})
	if got := c.routes(); got != n+1 {
		t.Fatalf("routes after sync: %d, want %d", got, n+1)
	}
	base := c.src.Translations()

	ing, err := cs.NetworkingV1().Ingresses(ns).Get(context.Background(), "ing7", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Spec.Rules[0].Host = "renamed.test"
	if _, err := cs.NetworkingV1().Ingresses(ns).Update(context.Background(), ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one translation", func() bool { return c.src.Translations() == base+1 })
	waitFor(t, "renamed route live", func() bool {
		for _, o := range c.comp.Objects() {
			if r, ok := o.Resource.(*ir.Route); ok && len(r.Hosts) == 1 && r.Hosts[0] == "renamed.test" {
				return true
			}
		}
		return false
	})

	svc, err := cs.CoreV1().Services(ns).Get(context.Background(), "solo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels = map[string]string{"touched": "yes"}
	if _, err := cs.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Service's one user translated", func() bool { return c.src.Translations() == base+2 })
	time.Sleep(200 * time.Millisecond)
	if got := c.src.Translations(); got != base+2 {
		t.Errorf("translations after two changes: %d more, want 2", got-base)
	}
}

// TestEndpointsAndWatchNamespace: with --watch-namespace the source lists
// Secrets only there, and EndpointSlices feed the pool without translation.
func TestEndpointsAndWatchNamespace(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	for _, ns := range []string{"mine", "elsewhere"} {
		mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, StringData: map[string]string{"k": "v"}})
		mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, "web"))
		mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, "web", ns+".test", "web"))
	}
	c := startSource(t, kube, Options{WatchNamespace: "mine"})
	keys := c.src.w.in.secrets.GetStore().ListKeys()
	if len(keys) != 1 || keys[0] != "mine/token" {
		t.Errorf("secrets cached: %v, want only mine/token", keys)
	}
	if got := c.routes(); got != 1 {
		t.Errorf("routes: %d, want 1 (only the watched namespace)", got)
	}
	base := c.src.Translations()
	ready, port := true, int32(8080)
	mustCreate(t, cs.DiscoveryV1().EndpointSlices("mine").Create, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "mine", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.2.3"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: &port}},
	})
	var pool string
	for _, o := range c.comp.Objects() {
		if o.Key.Kind == ir.KindService {
			pool = o.Key.DisplayName()
		}
	}
	waitFor(t, "endpoint in the pool", func() bool {
		p := c.pools.Get(pool)
		return p != nil && len(p.Endpoints()) == 1 && p.Endpoints()[0].Address() == "10.1.2.3:8080"
	})
	if got := c.src.Translations(); got != base {
		t.Errorf("an EndpointSlice change translated %d Ingresses", got-base)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestIngressesShareServices: Ingresses with the same backend and shape
// share one upstream pool; a different shape gets its own.
func TestIngressesShareServices(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	ns := "shared"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, "web"))
	for i := 0; i < 20; i++ {
		mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, fmt.Sprintf("ing%d", i), fmt.Sprintf("h%d.test", i), "web"))
	}
	shaped := testIngress(ns, "shaped", "shaped.test", "web")
	shaped.Annotations = map[string]string{"nginx.ingress.kubernetes.io/load-balance": "ewma"}
	mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, shaped)
	c := startSource(t, kube, Options{})
	if got := c.comp.Counts()[string(ir.KindService)]; got != 2 {
		t.Errorf("services: %d, want 2 (one shared, one shaped by an annotation)", got)
	}
	if got := c.routes(); got != 21 {
		t.Errorf("routes: %d, want 21", got)
	}
	// Deleting all but one user keeps the shared service; the last takes it.
	for i := 0; i < 20; i++ {
		if err := cs.NetworkingV1().Ingresses(ns).Delete(context.Background(), fmt.Sprintf("ing%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "shared service released", func() bool { return c.comp.Counts()[string(ir.KindService)] == 1 && c.routes() == 1 })
}
