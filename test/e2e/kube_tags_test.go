package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/test/testenv"
)

const grayHost = "gray.kube.test"

// TestKubeGrayTags: full-link gray from Pod labels. Service web has 4
// endpoints, each naming its Pod (targetRef): gray-1 and gray-2 labelled
// pylon.io/tag: gray, stable-1 and stable-2 unlabelled (the Pods stay
// Pending, with no kubelet; the test writes the EndpointSlices and runs
// the backends in two network namespaces). The Ingress reads the tag from
// X-Pylon-Tag (pylon.io/tag-header). Tagged requests reach only the gray
// Pods and untagged ones only the stable Pods; with the gray endpoints not
// ready, tagged requests fall back to the stable ones, none failing; with
// the gray Pods' label removed, their endpoints are untagged and serve
// every request.
func TestKubeGrayTags(t *testing.T) {
	t.Parallel()
	kube := testenv.StartKube(t)
	a, b := testenv.StartNetns(t), testenv.StartNetns(t)
	a.StartEcho(t, "gray-1", 8081)
	b.StartEcho(t, "gray-2", 8081)
	a.StartEcho(t, "stable-1", 8082)
	b.StartEcho(t, "stable-2", 8082)
	env := &kubeEnv{t: t, kube: kube, http: testenv.FreeAddr(t)}
	env.gw = startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", env.http),
		"--kubernetes", "--kubeconfig", kube.Kubeconfig)

	ns := env.namespace(t, "gray")
	cs := kube.Client
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8081)}}}}
	if _, err := cs.CoreV1().Services(ns).Create(env.ctx(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	uids := map[string]types.UID{}
	for _, p := range []string{"gray-1", "gray-2", "stable-1", "stable-2"} {
		labels := map[string]string{"app": "web"}
		if strings.HasPrefix(p, "gray") {
			labels["pylon.io/tag"] = "gray"
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo"}}}}
		created, err := cs.CoreV1().Pods(ns).Create(env.ctx(), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[p] = created.UID
	}
	// slice writes the EndpointSlice web-<set> of Pods <set>-1 (in netns a)
	// and <set>-2 (in netns b) on port, ready or not.
	slice := func(set string, port int32, ready bool) {
		t.Helper()
		ep := func(ip, pod string) discoveryv1.Endpoint {
			return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, UID: uids[pod]}}
		}
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-" + set, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{ep(a.IP, set+"-1"), ep(b.IP, set+"-2")},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}},
		}
		c := cs.DiscoveryV1().EndpointSlices(ns)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.Get(env.ctx(), s.Name, metav1.GetOptions{})
			if err != nil {
				_, err = c.Create(env.ctx(), s, metav1.CreateOptions{})
				return err
			}
			s.ResourceVersion = cur.ResourceVersion
			_, err = c.Update(env.ctx(), s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("endpointslice %s: %v", s.Name, err)
		}
	}
	slice("gray", 8081, true)
	slice("stable", 8082, true)
	ing := ingress(ns, "web", grayHost, "/", networkingv1.PathTypePrefix, "web")
	ing.Annotations = map[string]string{"pylon.io/tag-header": "x-pylon-tag"}
	env.create(t, ing)

	client := &http.Client{Timeout: 3 * time.Second}
	// reached sends 40 requests (tagged tag unless "") and lists the
	// backends that answered, and the failures.
	reached := func(tag string) string {
		seen, failed := map[string]bool{}, 0
		for range 40 {
			req, _ := http.NewRequest("GET", "http://"+env.http+"/", nil)
			req.Host = grayHost
			if tag != "" {
				req.Header.Set("X-Pylon-Tag", tag)
			}
			if a := doKube(client, req); a.err != nil || a.status != 200 {
				failed++
			} else {
				seen[a.backend] = true
			}
		}
		out := strings.Join(slices.Sorted(maps.Keys(seen)), " ")
		if failed > 0 {
			out += fmt.Sprintf(" (%d failed)", failed)
		}
		return out
	}
	expect := func(what, tag, want string) {
		t.Helper()
		soon(t, what, func() string {
			if got := reached(tag); got != want {
				return fmt.Sprintf("requests tagged %q reached %q, want %q", tag, got, want)
			}
			return ""
		})
	}
	expect("tagged requests reach the gray Pods only", "gray", "gray-1 gray-2")
	expect("untagged requests reach the stable Pods only", "", "stable-1 stable-2")
	expect("a tag no Pod has goes to the stable Pods", "blue", "stable-1 stable-2")

	// The gray endpoints not ready: tagged requests fall back, none failing.
	slice("gray", 8081, false)
	expect("tagged requests fall back to the stable Pods", "gray", "stable-1 stable-2")
	slice("gray", 8081, true)
	expect("tagged requests back on the gray Pods", "gray", "gray-1 gray-2")
	expect("untagged requests still on the stable Pods", "", "stable-1 stable-2")

	// The gray Pods' label removed: their endpoints are untagged now.
	for _, p := range []string{"gray-1", "gray-2"} {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			pod, err := cs.CoreV1().Pods(ns).Get(env.ctx(), p, metav1.GetOptions{})
			if err != nil {
				return err
			}
			delete(pod.Labels, "pylon.io/tag")
			_, err = cs.CoreV1().Pods(ns).Update(env.ctx(), pod, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	all := "gray-1 gray-2 stable-1 stable-2"
	expect("untagged requests reach every Pod", "", all)
	expect("tagged requests reach every Pod (no gray endpoint left)", "gray", all)
}
