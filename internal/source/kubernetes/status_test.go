package kubernetes

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/test/testenv"
)

// refusingSink is a compile stage that refuses the routes whose names
// start with prefix, as it refuses a route it cannot compile: the source
// hears of it only through the Result.
type refusingSink struct {
	Sink
	prefix string
}

func (r refusingSink) Apply(ch ir.Change) ir.Result {
	refused := map[ir.Key]error{}
	kept := ch
	kept.Upserts = nil
	for _, o := range ch.Upserts {
		if o.Key.Kind == ir.KindRoute && strings.HasPrefix(o.Key.Name, r.prefix) {
			refused[o.Key] = errors.New("route refused by the compile stage")
			continue
		}
		kept.Upserts = append(kept.Upserts, o)
	}
	res := r.Sink.Apply(kept)
	if res.Rejected == nil {
		res.Rejected = map[ir.Key]error{}
	}
	maps.Copy(res.Rejected, refused)
	return res
}

// TestStatusOnlyForServingIngresses: the leader writes the address only on
// Ingresses that serve. One rejected before it ever served, one whose
// routes the compile stage refuses and one whose only route an older
// Ingress serves get an Event and no address; each gets it once it serves.
// An Ingress whose new version is rejected keeps the address while its last
// good version serves.
func TestStatusOnlyForServingIngresses(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	ctx := context.Background()
	const ns, addr = "status", "192.0.2.10"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(t, cs.CoreV1().Services(ns).Create, service(ns, "web"))
	ings := cs.NetworkingV1().Ingresses(ns)
	mustCreate(t, ings.Create, testIngress(ns, "good", "good.test", "web"))
	broken := testIngress(ns, "broken", "broken.test", "web")
	broken.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "soon"}
	mustCreate(t, ings.Create, broken)
	mustCreate(t, ings.Create, testIngress(ns, "refused", "refused.test", "web"))
	// Same host and path as good; good is older (or, created in the same
	// second, first by name), so good serves them.
	mustCreate(t, ings.Create, testIngress(ns, "younger", "good.test", "web"))

	startSourceSink(t, kube, Options{PublishAddress: []string{addr}}, func(c *compile.Compiler) Sink {
		return refusingSink{Sink: c, prefix: "ingress/" + ns + "/refused/"}
	})
	address := func(name string) string {
		ing, err := ings.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		var out []string
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			out = append(out, lb.IP+lb.Hostname)
		}
		return strings.Join(out, ",")
	}
	waitFor(t, "good's address", func() bool { return address("good") == addr })
	// The leader checks every Ingress once when it starts leading, then
	// those that change: an Ingress created now is written after that
	// first pass, so its address means the pass is over.
	settled := func(name, host string) {
		t.Helper()
		mustCreate(t, ings.Create, testIngress(ns, name, host, "web"))
		waitFor(t, name+"'s address", func() bool { return address(name) == addr })
	}
	settled("late", "late.test")
	for _, name := range []string{"broken", "refused", "younger"} {
		if got := address(name); got != "" {
			t.Errorf("%s does not serve but has the address %q", name, got)
		}
	}
	events := func(name string) string {
		list, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Ingress,involvedObject.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, ev := range list.Items {
			b.WriteString(ev.Reason + ": " + ev.Message + "\n")
		}
		return b.String()
	}
	for name, reason := range map[string]string{"broken": "Rejected", "refused": "Rejected", "younger": "Conflict"} {
		waitFor(t, name+"'s "+reason+" Event", func() bool { return strings.Contains(events(name), reason+": ") })
	}

	// Each gets the address once it serves.
	if err := ings.Delete(ctx, "good", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "younger's address once it serves good.test", func() bool { return address("younger") == addr })
	update := func(name string, edit func(*networkingv1.Ingress)) {
		t.Helper()
		ing, err := ings.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(ing)
		if _, err := ings.Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update("broken", func(ing *networkingv1.Ingress) { ing.Annotations = nil })
	waitFor(t, "broken's address once fixed", func() bool { return address("broken") == addr })

	// A rejected new version leaves the last good one serving, and the
	// address with it, also when the status is checked again (here: after
	// someone wiped it).
	update("younger", func(ing *networkingv1.Ingress) {
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "soon"}
	})
	waitFor(t, "younger's Rejected Event", func() bool { return strings.Contains(events("younger"), "Rejected: ") })
	wiped, err := ings.Get(ctx, "younger", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wiped.Status.LoadBalancer.Ingress = nil
	if _, err := ings.UpdateStatus(ctx, wiped, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "younger's address put back while its last good version serves", func() bool { return address("younger") == addr })
}
