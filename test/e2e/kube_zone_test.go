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
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/test/testenv"
)

// zoneCluster is a kube-apiserver with kube-controller-manager (whose
// EndpointSlice controller writes the zones, node names and hints), three
// Nodes (node-a1 and node-a2 in zone-a, node-b1 in zone-b) and on each a
// Pod of Service web, played by an echo backend in a network namespace of
// its own (answering X-Backend a1, a2 or b1).
type zoneCluster struct {
	*kubeEnv
	ns    string
	echos map[string]*testenv.Process
	ips   map[string]string
}

const zoneHost = "zone.kube.test"

func startZoneCluster(t *testing.T) *zoneCluster {
	t.Helper()
	kube := testenv.StartKube(t)
	kube.StartControllerManager(t)
	c := &zoneCluster{kubeEnv: &kubeEnv{t: t, kube: kube}, echos: map[string]*testenv.Process{}, ips: map[string]string{}}
	c.ns = c.namespace(t, "zones")
	for _, n := range []struct{ name, zone string }{{"node-a1", "zone-a"}, {"node-a2", "zone-a"}, {"node-b1", "zone-b"}, {"node-gw", "zone-b"}} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{corev1.LabelTopologyZone: n.zone}}}
		if _, err := kube.Client.CoreV1().Nodes().Create(c.ctx(), node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports:               []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			TrafficDistribution: ptr(corev1.ServiceTrafficDistributionPreferSameNode)}}
	if _, err := kube.Client.CoreV1().Services(c.ns).Create(c.ctx(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"a1", "a2", "b1"} {
		netns := testenv.StartNetns(t)
		c.ips[b] = netns.IP
		c.echos[b] = netns.StartEcho(t, b, 8080)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "web-" + b, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-" + b, Containers: []corev1.Container{{Name: "web", Image: "echo",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		if _, err := kube.Client.CoreV1().Pods(c.ns).Create(c.ctx(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.podReady(b, true)
	}
	c.create(t, ingress(c.ns, "web", zoneHost, "/", networkingv1.PathTypePrefix, "web"))
	return c
}

// podReady plays the kubelet: the Pod of backend b runs at its address,
// ready or not.
func (c *zoneCluster) podReady(b string, ready bool) {
	c.t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pods := c.kube.Client.CoreV1().Pods(c.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(c.ctx(), "web-"+b, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodRunning
		cur.Status.PodIP = c.ips[b]
		cur.Status.PodIPs = []corev1.PodIP{{IP: c.ips[b]}}
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}, {Type: corev1.ContainersReady, Status: st}}
		_, err = pods.UpdateStatus(c.ctx(), cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		c.t.Fatalf("pod web-%s status: %v", b, err)
	}
}

// setTrafficDistribution changes the Service's spec.trafficDistribution
// (nil: unset) and waits until the EndpointSlice controller's hints say
// so: hints.forNodes for PreferSameNode, hints.forZones alone for the
// zone values, no hints without one.
func (c *zoneCluster) setTrafficDistribution(td *string) {
	c.t.Helper()
	svcs := c.kube.Client.CoreV1().Services(c.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := svcs.Get(c.ctx(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.TrafficDistribution = td
		_, err = svcs.Update(c.ctx(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		c.t.Fatal(err)
	}
	soon(c.t, fmt.Sprintf("hints for trafficDistribution %v", deref(td)), func() string {
		got := c.hints()
		wantNodes, wantZones := td != nil && *td == corev1.ServiceTrafficDistributionPreferSameNode, td != nil
		for _, h := range got {
			if (len(h.ForNodes) > 0) != wantNodes || (len(h.ForZones) > 0) != wantZones {
				return fmt.Sprintf("hints %v", got)
			}
		}
		return ""
	})
}

// hints lists the hints of the ready endpoints of web's EndpointSlices.
func (c *zoneCluster) hints() map[string]discoveryv1.EndpointHints {
	c.t.Helper()
	list, err := c.kube.Client.DiscoveryV1().EndpointSlices(c.ns).List(c.ctx(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]discoveryv1.EndpointHints{}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				var h discoveryv1.EndpointHints
				if e.Hints != nil {
					h = *e.Hints
				}
				out[e.Addresses[0]] = h
			}
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "(unset)"
	}
	return *s
}

// spread sends n requests to listener addr and returns the backends that
// answered, sorted, and the failures.
func spread(addr string, n int) (backends string, failed []string) {
	seen := map[string]bool{}
	c := &http.Client{Timeout: 3 * time.Second}
	for range n {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = zoneHost
		a := doKube(c, req)
		if a.err != nil || a.status != 200 {
			failed = append(failed, fmt.Sprintf("%d %v", a.status, a.err))
			continue
		}
		seen[a.backend] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(seen)), " "), failed
}

// soonSpread waits until n requests to addr all succeed from exactly the
// backends want.
func soonSpread(t *testing.T, what, addr, want string) {
	t.Helper()
	soon(t, what, func() string {
		got, failed := spread(addr, 30)
		if got != want || len(failed) > 0 {
			return fmt.Sprintf("answered by %q (want %q), %d failed %v", got, want, len(failed), failed)
		}
		return ""
	})
}

// steadySpread checks that n more requests all succeed from want.
func steadySpread(t *testing.T, what, addr, want string) {
	t.Helper()
	if got, failed := spread(addr, 60); got != want || len(failed) > 0 {
		t.Errorf("%s: answered by %q (want %q), %d failed %v", what, got, want, len(failed), failed)
	}
}

// TestKubeTrafficDistribution: a gateway on node-a1, told only its Node's
// name, learns its zone from the Node's label and follows the hints the
// EndpointSlice controller writes for each trafficDistribution:
// PreferSameNode keeps to node-a1's Pod, PreferSameZone and PreferClose
// (the same value under two names, as Kubernetes defines them) to zone-a's
// two, and no value spreads over all three. A data plane of a split
// deployment decides by its own zone. Then the local Pods fail one after
// the other and traffic spills over: to the zone, then to the other zone,
// with no failed request once Kubernetes has taken the dead Pod out.
func TestKubeTrafficDistribution(t *testing.T) {
	t.Parallel()
	c := startZoneCluster(t)
	etcd := testenv.StartEtcd(t, testenv.WithoutFsync())
	store := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	listen := testenv.FreeAddr(t)
	listeners := func(addr string) string {
		return fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", addr)
	}
	// The gateway on node-a1 also publishes for a fleet.
	startGateway(t, listeners(listen), "--kubernetes", "--kubeconfig", c.kube.Kubeconfig,
		"--kubernetes-node", "node-a1", "--kubernetes-publish", store)
	// A data plane in zone-b, which never sees the cluster: it decides by
	// the zones and hints published with the endpoints.
	fleet := testenv.FreeAddr(t)
	startGateway(t, listeners(fleet), "--store", store, "--zone", "zone-b", "--node-name", "fleet-b")
	// And one told its zone by flag on node-gw (labelled zone-b, no Pod):
	// the flag wins over the Node's label.
	flagged := testenv.FreeAddr(t)
	startGateway(t, listeners(flagged), "--kubernetes", "--kubeconfig", c.kube.Kubeconfig,
		"--kubernetes-node", "node-gw", "--zone", "zone-a")

	soonSpread(t, "PreferSameNode: node-a1's Pod only", listen, "a1")
	if h := c.hints()[c.ips["a1"]]; len(h.ForNodes) != 1 || h.ForNodes[0].Name != "node-a1" || len(h.ForZones) != 1 || h.ForZones[0].Name != "zone-a" {
		t.Fatalf("the controller's hints for a1: %+v", h)
	}
	soonSpread(t, "PreferSameNode on a gateway whose Node has no Pod: its zone's (by --zone)", flagged, "a1 a2")
	soonSpread(t, "PreferSameNode on the zone-b data plane, no Node known: its zone's", fleet, "b1")

	for _, td := range []string{corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferClose} {
		c.setTrafficDistribution(ptr(td))
		soonSpread(t, td+": zone-a's Pods", listen, "a1 a2")
		soonSpread(t, td+": the zone-b data plane keeps to zone-b", fleet, "b1")
		soonSpread(t, td+": --zone zone-a wins over node-gw's label (zone-b)", flagged, "a1 a2")
	}
	c.setTrafficDistribution(nil)
	soonSpread(t, "no trafficDistribution: every Pod", listen, "a1 a2 b1")
	soonSpread(t, "no trafficDistribution: every Pod, from the data plane too", fleet, "a1 a2 b1")

	// Spill-over, PreferSameNode: node-a1's Pod dies, the kubelet marks
	// it unready, the controller drops it; zone-a's other Pod takes over,
	// not zone-b's. Then that one dies too and zone-b's takes over.
	c.setTrafficDistribution(ptr(corev1.ServiceTrafficDistributionPreferSameNode))
	soonSpread(t, "PreferSameNode again", listen, "a1")
	_ = c.echos["a1"].Stop() // killed: its exit status says so
	c.podReady("a1", false)
	soonSpread(t, "node-a1's Pod gone: zone-a's other Pod", listen, "a2")
	steadySpread(t, "after node-a1's Pod left", listen, "a2")
	_ = c.echos["a2"].Stop() // killed: its exit status says so
	c.podReady("a2", false)
	soonSpread(t, "zone-a empty: zone-b's Pod", listen, "b1")
	steadySpread(t, "after zone-a emptied", listen, "b1")
}

// TestKubeZoneFromNodeLabel: a gateway given only its Node's name reads
// the zone from the Node's label before it serves, and follows the label
// when it changes.
func TestKubeZoneFromNodeLabel(t *testing.T) {
	t.Parallel()
	c := startZoneCluster(t)
	c.setTrafficDistribution(ptr(corev1.ServiceTrafficDistributionPreferSameZone))
	listen := testenv.FreeAddr(t)
	gw := startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", listen),
		"--kubernetes", "--kubeconfig", c.kube.Kubeconfig, "--kubernetes-node", "node-gw")
	// Ready means the Ingress is live; the zone was read before that.
	steadySpread(t, "node-gw is in zone-b", listen, "b1")
	if !strings.Contains(gw.proc.Log(), `"zone":"zone-b"`) {
		t.Errorf("the log does not name zone-b as the gateway's zone (%s)", gw.proc.LogPath)
	}
	nodes := c.kube.Client.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(c.ctx(), "node-gw", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Labels[corev1.LabelTopologyZone] = "zone-a"
		_, err = nodes.Update(c.ctx(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	soonSpread(t, "node-gw relabelled to zone-a", listen, "a1 a2")
}
