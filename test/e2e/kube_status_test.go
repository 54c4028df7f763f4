package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// TestKubeStatusOnlyWhenServing: kubectl's ADDRESS column is written on
// the Ingresses Pylon serves and on no other. A rejected Ingress that never
// served, and one whose host and path an older Ingress serves, get their
// Event and no address, even when the leader looks at them again (here:
// someone wrote a stale address into their status). A rejected new version
// of a serving Ingress leaves its last good version serving, and the
// address with it.
func TestKubeStatusOnlyWhenServing(t *testing.T) {
	t.Parallel()
	env := startKubeEnv(t)
	ns := env.namespace(t, "shop")
	env.service(t, ns, "web1", 8081)
	env.create(t, ingress(ns, "good", "good.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
	soon(t, "good served", func() string { return want(env.get("good.kube.test", "/"), 200, "web1") })
	soon(t, "good's address", func() string { return env.wantAddress(t, ns, "good", publishAddress) })

	broken := ingress(ns, "broken", "broken.kube.test", "/", networkingv1.PathTypePrefix, "web1")
	broken.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "soon"}
	env.create(t, broken)
	soon(t, "broken's Rejected Event", func() string { return env.wantEvent(t, ns, "broken", "Rejected", "not served") })
	if msg := want(env.get("broken.kube.test", "/"), 404, ""); msg != "" {
		t.Errorf("broken: %s", msg)
	}
	env.staleAddress(t, ns, "broken")
	soon(t, "no address on the rejected Ingress", func() string { return env.wantAddress(t, ns, "broken", "") })

	env.create(t, ingress(ns, "younger", "good.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
	soon(t, "younger's Conflict Event", func() string { return env.wantEvent(t, ns, "younger", "Conflict", "served by the older Ingress") })
	env.staleAddress(t, ns, "younger")
	soon(t, "no address on the Ingress that serves nothing", func() string { return env.wantAddress(t, ns, "younger", "") })

	// Fixed, it serves and gets the address.
	env.update(t, ns, "broken", func(ing *networkingv1.Ingress) { ing.Annotations = nil })
	soon(t, "broken served once fixed", func() string { return want(env.get("broken.kube.test", "/"), 200, "web1") })
	soon(t, "broken's address once fixed", func() string { return env.wantAddress(t, ns, "broken", publishAddress) })

	// Broken again: its last good version serves, and keeps the address.
	env.update(t, ns, "broken", func(ing *networkingv1.Ingress) {
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "later"}
	})
	soon(t, "the second Rejected Event", func() string {
		return env.wantEvent(t, ns, "broken", "Rejected", "the last accepted version stays live")
	})
	if msg := want(env.get("broken.kube.test", "/"), 200, "web1"); msg != "" {
		t.Errorf("last good version of broken: %s", msg)
	}
	env.staleAddress(t, ns, "broken")
	soon(t, "the address of the last good version", func() string { return env.wantAddress(t, ns, "broken", publishAddress) })
}

// TestKubeStatusWhenAnotherSourceMakesWay: an Ingress whose host and path
// a file route serves is refused by the compile stage and gets no address.
// Once the file route goes, the compile stage lets the Ingress's route in
// without any change to the Ingress, and the Ingress gets its address.
func TestKubeStatusWhenAnotherSourceMakesWay(t *testing.T) {
	t.Parallel()
	env := startKubeEnv(t)
	ns := env.namespace(t, "yield")
	env.service(t, ns, "web1", 8081)
	base, err := os.ReadFile(env.gw.config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, env.gw.config, string(base)+fmt.Sprintf(`services:
  - name: filesvc
    endpoints: ["%s:8082"]
routes:
  - name: taken
    hosts: ["taken.kube.test"]
    match: { path: { prefix: / } }
    backends: [{ service: filesvc }]
`, env.netns.IP))
	soon(t, "the file route served", func() string { return want(env.get("taken.kube.test", "/"), 200, "web2") })

	env.create(t, ingress(ns, "waits", "taken.kube.test", "/", networkingv1.PathTypePrefix, "web1"))
	soon(t, "the Ingress's Rejected Event", func() string { return env.wantEvent(t, ns, "waits", "Rejected", "conflicts") })
	env.staleAddress(t, ns, "waits")
	soon(t, "no address while the file route is in the way", func() string { return env.wantAddress(t, ns, "waits", "") })

	writeFile(t, env.gw.config, string(base))
	soon(t, "the Ingress served once the file route went", func() string { return want(env.get("taken.kube.test", "/"), 200, "web1") })
	soon(t, "the Ingress's address", func() string { return env.wantAddress(t, ns, "waits", publishAddress) })
}

// wantAddress returns "" if the Ingress's status.loadBalancer lists
// exactly addr ("" = nothing), else what it lists.
func (e *kubeEnv) wantAddress(t *testing.T, ns, name, addr string) string {
	t.Helper()
	ing, err := e.kube.Client.NetworkingV1().Ingresses(ns).Get(e.ctx(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	var got []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		got = append(got, lb.IP+lb.Hostname)
	}
	if strings.Join(got, ",") != addr {
		return "address " + strings.Join(got, ",") + ", want " + addr
	}
	return ""
}

// wantEvent returns "" once the Ingress has an Event with reason whose
// message contains text.
func (e *kubeEnv) wantEvent(t *testing.T, ns, name, reason, text string) string {
	t.Helper()
	evs := e.events(t, ns, name)
	for _, l := range strings.Split(evs, "\n") {
		if strings.Contains(l, " "+reason+": ") && strings.Contains(l, text) {
			return ""
		}
	}
	return "events: " + evs
}

// staleAddress writes an address of no gateway into the Ingress's status,
// as an old controller might have left it. The status change makes the
// leader look at the Ingress again.
func (e *kubeEnv) staleAddress(t *testing.T, ns, name string) {
	t.Helper()
	c := e.kube.Client.NetworkingV1().Ingresses(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := c.Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.77"}}
		_, err = c.UpdateStatus(e.ctx(), ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("status of %s/%s: %v", ns, name, err)
	}
}
