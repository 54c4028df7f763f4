package kubernetes

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/test/testenv"
)

// TestNodeZoneFollowsItsNode: the zone is read from the gateway's own
// Node at start and follows its relabelling; other Nodes do not count.
func TestNodeZoneFollowsItsNode(t *testing.T) {
	kube := testenv.StartKube(t)
	nodes := kube.Client.CoreV1().Nodes()
	for name, zone := range map[string]string{"gw-node": "zone-a", "other": "zone-x"} {
		mustCreate(t, nodes.Create, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}})
	}
	var mu sync.Mutex
	var heard []string
	nz := NewNodeZone(kube.Client, "gw-node", func(z string) { mu.Lock(); heard = append(heard, z); mu.Unlock() }, nil)
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(heard) == 0 {
			return "(none)"
		}
		return heard[len(heard)-1]
	}
	if z, err := nz.Read(context.Background()); err != nil || z != "zone-a" || last() != "zone-a" {
		t.Fatalf("Read: %q %v (heard %q), want zone-a", z, err, last())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- nz.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	relabel := func(name, zone string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := nodes.Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if zone == "" {
				delete(n.Labels, ZoneLabel)
			} else {
				n.Labels[ZoneLabel] = zone
			}
			_, err = nodes.Update(context.Background(), n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	relabel("other", "zone-y")
	relabel("gw-node", "zone-b")
	waitFor(t, "the relabelled zone", func() bool { return last() == "zone-b" })
	relabel("gw-node", "")
	waitFor(t, "the zone label removed", func() bool { return last() == "" })
	mu.Lock()
	for _, z := range heard {
		if z == "zone-x" || z == "zone-y" {
			t.Errorf("heard another Node's zone: %v", heard)
		}
	}
	mu.Unlock()
	if _, err := NewNodeZone(kube.Client, "missing", func(string) {}, nil).Read(context.Background()); err == nil {
		t.Error("a missing Node read without an error")
	}
}
