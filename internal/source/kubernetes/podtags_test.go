package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
	"pylon.io/pylon/test/testenv"
)

// tagInput is a request carrying a tag, as the proxy's request context is.
type tagInput struct{ tag string }

func (tagInput) Header(string) ([]byte, bool) { return nil, false }
func (tagInput) Cookie(string) ([]byte, bool) { return nil, false }
func (tagInput) ClientIP() []byte             { return nil }
func (tagInput) Path() []byte                 { return nil }
func (t tagInput) Tag() []byte                { return []byte(t.tag) }

var _ upstream.Tagged = tagInput{}

// pod is a Pod with no kubelet to run it: it stays Pending, which is all
// its labels need.
func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
}

// relabel sets (or, with tag "", removes) the Pod's tag label.
func relabel(t *testing.T, cs kubernetes.Interface, ns, name string, tag *string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		if tag == nil {
			delete(p.Labels, TagLabel)
		} else {
			p.Labels[TagLabel] = *tag
		}
		_, err = cs.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPodTagsReachThePool: the pylon.io/tag label of the Pods an
// EndpointSlice's endpoints name tags those endpoints in the pool; a label
// that appears, changes or goes, and a Pod deleted, re-tag them without the
// slice changing; a Pod without the label, an endpoint naming no Pod and
// a label value that cannot be a tag leave the endpoint untagged; a Pod
// labelled after its slice named it is tagged when it arrives.
func TestPodTagsReachThePool(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	ns := "tags"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, "web"))
	mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, "web", "web.test", "web"))
	gray := map[string]string{TagLabel: "gray", "app": "web"}
	mustCreate(t, cs.CoreV1().Pods(ns).Create, pod(ns, "gray-0", gray))
	mustCreate(t, cs.CoreV1().Pods(ns).Create, pod(ns, "gray-1", gray))
	mustCreate(t, cs.CoreV1().Pods(ns).Create, pod(ns, "stable-0", map[string]string{"app": "web"}))
	mustCreate(t, cs.CoreV1().Pods(ns).Create, pod(ns, "empty-0", map[string]string{TagLabel: ""}))
	ready, port := true, int32(8080)
	at := func(ip, pod string) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
		if pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID("uid-" + pod)}
		}
		return e
	}
	// 10.1.0.6 names a Pod that does not exist yet.
	mustCreate(t, cs.DiscoveryV1().EndpointSlices(ns).Create, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{at("10.1.0.1", "gray-0"), at("10.1.0.2", "gray-1"), at("10.1.0.3", "stable-0"),
			at("10.1.0.4", "empty-0"), at("10.1.0.5", ""), at("10.1.0.6", "late-0")},
		Ports: []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: &port}},
	})
	c := startSource(t, kube, Options{})
	var name string
	for _, o := range c.comp.Objects() {
		if o.Key.Kind == ir.KindService {
			name = o.Key.DisplayName()
		}
	}
	pool := c.pools.Get(name)
	if pool == nil {
		t.Fatalf("no pool %s", name)
	}
	// picked lists the endpoints 200 picks of a request with tag reach.
	picked := func(tag string) string {
		got := map[string]bool{}
		for range 200 {
			if e := pool.Pick(tagInput{tag}, nil); e != nil {
				got[strings.TrimSuffix(strings.TrimPrefix(e.Address(), "10.1.0."), ":8080")] = true
			}
		}
		var out []string
		for a := range got {
			out = append(out, a)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	check := func(what, tag, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for got := picked(tag); got != want; got = picked(tag) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: requests tagged %q reach %q, want %q", what, tag, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// From the first apply: gray Pods' endpoints serve gray requests only;
	// the unlabelled Pod's, the empty label's and the Pod-less one's the
	// rest.
	if got := picked("gray"); got != "1 2" {
		t.Errorf("gray requests at start reach %q, want the gray Pods' 1 2", got)
	}
	if got := picked(""); got != "3 4 5 6" {
		t.Errorf("untagged requests at start reach %q, want 3 4 5 6", got)
	}
	p := pool
	// The Pod the slice named arrives, labelled: its endpoint is re-tagged.
	mustCreate(t, cs.CoreV1().Pods(ns).Create, pod(ns, "late-0", gray))
	check("the late Pod's endpoint tagged", "gray", "1 2 6")
	check("the late Pod's endpoint out of untagged traffic", "", "3 4 5")
	// A label that changes moves the endpoint to the new tag.
	relabel(t, cs, ns, "gray-1", ptrTo("blue"))
	check("gray-1 relabelled blue", "blue", "2")
	check("gray-1 no longer gray", "gray", "1 6")
	// A label that appears tags an endpoint that was untagged.
	relabel(t, cs, ns, "stable-0", ptrTo("gray"))
	check("stable-0 labelled gray", "gray", "1 3 6")
	check("stable-0 out of untagged traffic", "", "4 5")
	// A label that goes, and a Pod deleted, leave their endpoints untagged.
	relabel(t, cs, ns, "stable-0", nil)
	check("stable-0 unlabelled", "", "3 4 5")
	if err := cs.CoreV1().Pods(ns).Delete(context.Background(), "gray-0", metav1.DeleteOptions{GracePeriodSeconds: ptrTo(int64(0))}); err != nil {
		t.Fatal(err)
	}
	check("gray-0 deleted: its endpoint untagged", "", "1 3 4 5")
	check("gray requests without gray-0", "gray", "6")
	// A tag no endpoint has goes to the untagged ones.
	if got := picked("green"); got != "1 3 4 5" {
		t.Errorf("a tag no Pod has reaches %q, want the untagged 1 3 4 5", got)
	}
	if c.pools.Get(name) != p {
		t.Error("a tag change replaced the pool")
	}
}

// TestPodTransformKeepsTheTagOnly: a cached Pod holds its name, namespace,
// version and tag label, nothing else.
func TestPodTransformKeepsTheTagOnly(t *testing.T) {
	in := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: "7", UID: "u",
		Labels: map[string]string{TagLabel: "gray", "app": "web"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}}
	out, err := podTransform(in)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	want := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: "7", Labels: map[string]string{TagLabel: "gray"}}}
	if p.Namespace != want.Namespace || p.Name != want.Name || p.ResourceVersion != want.ResourceVersion || len(p.Labels) != 1 || p.Labels[TagLabel] != "gray" ||
		p.UID != "" || p.Annotations != nil || len(p.Spec.Containers) != 0 || p.Status.PodIP != "" {
		t.Errorf("transformed pod %+v, want only %+v", p, want)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Endpoints: []discoveryv1.Endpoint{
		{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "p", UID: "u", ResourceVersion: "9"}},
		{Addresses: []string{"10.0.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Node", Name: "n"}},
		{Addresses: []string{"10.0.0.3"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "q"}},
	}}
	if _, err := transform(slice); err != nil {
		t.Fatal(err)
	}
	if r := slice.Endpoints[0].TargetRef; r == nil || *r != (corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "p"}) {
		t.Errorf("a Pod target kept as %+v, want its kind, namespace and name", r)
	}
	if slice.Endpoints[1].TargetRef != nil {
		t.Errorf("a target that is no Pod kept: %+v", slice.Endpoints[1].TargetRef)
	}
	keys, _ := slicePodKeys(slice)
	if !slices.Equal(keys, []string{"ns/p", "ns/q"}) {
		t.Errorf("slice indexed under Pods %v, want ns/p ns/q (a target without namespace is in the slice's)", keys)
	}
}
