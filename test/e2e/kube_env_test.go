package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// kubeEnv is one kube-apiserver, a network namespace with two echo
// backends (web1 on :8081, web2 on :8082) and a pylon serving the cluster's
// Ingresses of class "pylon" on an HTTP and an HTTPS listener. Subtests
// share it, each in a Kubernetes namespace of its own.
type kubeEnv struct {
	t           *testing.T
	kube        *testenv.Kube
	netns       *testenv.Netns
	gw          *gateway
	http, https string
	ca          *testCA
	// dns is the DNS server of the discovery provider "test-dns" in
	// pylon's discovery list, for Services that name a provider's service.
	dns *testenv.Dnsmasq
}

const publishAddress = "192.0.2.10"

func startKubeEnv(t *testing.T, pylonArgs ...string) *kubeEnv {
	t.Helper()
	env := &kubeEnv{t: t, kube: testenv.StartKube(t), netns: testenv.StartNetns(t),
		http: testenv.FreeAddr(t), https: testenv.FreeAddr(t), ca: newCA(t), dns: testenv.StartDnsmasq(t, "")}
	env.netns.StartEcho(t, "web1", 8081)
	env.netns.StartEcho(t, "web2", 8082)
	cfg := fmt.Sprintf(`
discovery:
  - name: test-dns
    dns: { servers: [%q], minTTL: 1s, maxTTL: 1s }
listeners:
  - name: web
    address: %s
    protocol: http
  - name: secure
    address: %s
    protocol: https
`, env.dns.Addr(), env.http, env.https)
	args := append([]string{"--kubernetes", "--kubeconfig", env.kube.Kubeconfig, "--publish-address", publishAddress}, pylonArgs...)
	env.gw = startGateway(t, cfg, args...)
	return env
}

func (e *kubeEnv) ctx() context.Context { return context.Background() }

// namespace creates a namespace for one subtest.
func (e *kubeEnv) namespace(t *testing.T, name string) string {
	t.Helper()
	_, err := e.kube.Client.CoreV1().Namespaces().Create(e.ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// service creates a Service without a selector (port 80 named http → 8080)
// and its EndpointSlice naming the netns backend on port.
func (e *kubeEnv) service(t *testing.T, ns, name string, port int32) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(port)}}},
	}
	if _, err := e.kube.Client.CoreV1().Services(ns).Create(e.ctx(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	e.slice(t, ns, name, name, port, true)
}

// slice creates or replaces the EndpointSlice name of Service svc with the
// netns address on port, ready or not.
func (e *kubeEnv) slice(t *testing.T, ns, svc, name string, port int32, ready bool) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{e.netns.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}},
	}
	c := e.kube.Client.DiscoveryV1().EndpointSlices(ns)
	cur, err := c.Get(e.ctx(), name, metav1.GetOptions{})
	if err == nil {
		s.ResourceVersion = cur.ResourceVersion
		_, err = c.Update(e.ctx(), s, metav1.UpdateOptions{})
	} else {
		_, err = c.Create(e.ctx(), s, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("endpointslice %s/%s: %v", ns, name, err)
	}
}

// ingress builds an Ingress of class pylon with one rule.
func ingress(ns, name, host, path string, pt networkingv1.PathType, svc string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("pylon"),
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt, Backend: backend(svc)}},
			}}}},
		},
	}
}

func backend(svc string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}
}

func (e *kubeEnv) create(t *testing.T, ing *networkingv1.Ingress) {
	t.Helper()
	if _, err := e.kube.Client.NetworkingV1().Ingresses(ing.Namespace).Create(e.ctx(), ing, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress %s/%s: %v", ing.Namespace, ing.Name, err)
	}
}

// update reads the Ingress, lets edit change it and writes it back, again
// on a conflict (Pylon's status writes race with the test's).
func (e *kubeEnv) update(t *testing.T, ns, name string, edit func(*networkingv1.Ingress)) {
	t.Helper()
	c := e.kube.Client.NetworkingV1().Ingresses(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := c.Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(ing)
		_, err = c.Update(e.ctx(), ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update ingress %s/%s: %v", ns, name, err)
	}
}

// answer is what one request through pylon got.
type answer struct {
	status  int
	backend string
	echo    backends.Echo
	err     error
}

// get sends GET path with Host: host to the HTTP listener.
func (e *kubeEnv) get(host, path string) answer {
	req, _ := http.NewRequest("GET", "http://"+e.http+path, nil)
	req.Host = host
	return doKube(&http.Client{Timeout: 3 * time.Second}, req)
}

// getTLS sends GET https://host/path to the HTTPS listener with SNI host,
// trusting the test CA.
func (e *kubeEnv) getTLS(host, path string) answer {
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, RootCAs: e.ca.Pool}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+e.https+path, nil)
	req.Host = host
	return doKube(&http.Client{Timeout: 3 * time.Second, Transport: tr}, req)
}

func doKube(c *http.Client, req *http.Request) answer {
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, backend: resp.Header.Get("X-Backend")}
	_ = json.Unmarshal(b, &a.echo)
	return a
}

// soon polls f until it returns "" (success) or 15 s pass.
func soon(t *testing.T, what string, f func() string) {
	t.Helper()
	eventually(t, 15*time.Second, what, func() (bool, string) {
		msg := f()
		return msg == "", msg
	})
}

// want checks that a request answers status from backend ("" = any).
func want(a answer, status int, backend string) string {
	if a.err != nil {
		return a.err.Error()
	}
	if a.status != status || (backend != "" && a.backend != backend) {
		return fmt.Sprintf("status %d from backend %q (want %d from %q)", a.status, a.backend, status, backend)
	}
	return ""
}

// events lists the reasons and messages of the Events on an Ingress.
func (e *kubeEnv) events(t *testing.T, ns, name string) string {
	t.Helper()
	list, err := e.kube.Client.CoreV1().Events(ns).List(e.ctx(), metav1.ListOptions{FieldSelector: "involvedObject.kind=Ingress,involvedObject.name=" + name})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var b strings.Builder
	for _, ev := range list.Items {
		fmt.Fprintf(&b, "%s %s: %s\n", ev.Type, ev.Reason, ev.Message)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
