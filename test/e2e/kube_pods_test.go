package e2e

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/test/testenv"
)

// TestKubeSelectorPods covers the path most clusters take: a Service with a
// selector, Pods, and kube-controller-manager writing the EndpointSlices.
// There is no kubelet, so the test plays it: it runs the backend in a
// network namespace and marks the Pod Ready with that address through the
// status subresource.
func TestKubeSelectorPods(t *testing.T) {
	t.Parallel()
	kube := testenv.StartKube(t)
	kube.StartControllerManager(t)
	netns := testenv.StartNetns(t)
	netns.StartEcho(t, "pod-web", 8081)
	env := &kubeEnv{t: t, kube: kube, netns: netns, http: testenv.FreeAddr(t)}
	env.gw = startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", env.http),
		"--kubernetes", "--kubeconfig", kube.Kubeconfig)

	ns := env.namespace(t, "pods")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8081)}}}}
	if _, err := kube.Client.CoreV1().Services(ns).Create(env.ctx(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The EndpointSlice controller skips Pods whose Node it cannot find.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fake-node"}}
	if _, err := kube.Client.CoreV1().Nodes().Create(env.ctx(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "fake-node", Containers: []corev1.Container{{Name: "web", Image: "echo",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}}}}}}
	if _, err := kube.Client.CoreV1().Pods(ns).Create(env.ctx(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setReady := func(ready bool) {
		t.Helper()
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := kube.Client.CoreV1().Pods(ns).Get(env.ctx(), "web-0", metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Phase = corev1.PodRunning
			cur.Status.PodIP = netns.IP
			cur.Status.PodIPs = []corev1.PodIP{{IP: netns.IP}}
			cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}, {Type: corev1.ContainersReady, Status: st}}
			_, err = kube.Client.CoreV1().Pods(ns).UpdateStatus(env.ctx(), cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("pod status: %v", err)
		}
	}
	env.create(t, ingress(ns, "web", "pods.kube.test", "/", networkingv1.PathTypePrefix, "web"))
	setReady(true)
	soon(t, "served by the ready Pod", func() string { return want(env.get("pods.kube.test", "/"), 200, "pod-web") })
	setReady(false)
	soon(t, "unready Pod taken out", func() string { return want(env.get("pods.kube.test", "/"), 503, "") })
	setReady(true)
	soon(t, "ready again", func() string { return want(env.get("pods.kube.test", "/"), 200, "pod-web") })
}
