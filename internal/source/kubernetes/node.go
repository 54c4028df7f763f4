package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ZoneLabel is the Node label that names its availability zone.
const ZoneLabel = corev1.LabelTopologyZone

// NodeZone follows the zone of the one Node this gateway runs on (its
// topology.kubernetes.io/zone label): read once at start, then watched, so
// a relabelled Node moves the gateway's preference. It lists and watches
// only that Node (a metadata.name field selector), and keeps only its
// labels: a Node's status (images, volumes) can be large.
type NodeZone struct {
	client kubernetes.Interface
	node   string
	set    func(zone string)
	log    *slog.Logger
}

// NewNodeZone follows the Node named node; set hears its zone ("" while
// the Node has no zone label) at start and on every change.
func NewNodeZone(client kubernetes.Interface, node string, set func(zone string), log *slog.Logger) *NodeZone {
	if log == nil {
		log = slog.Default()
	}
	return &NodeZone{client: client, node: node, set: set, log: log.With("node", node)}
}

// Read gets the Node once and reports its zone, for the start: the gateway
// then serves with its zone known from the first request.
func (n *NodeZone) Read(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.node, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("kubernetes: node %q: %w", n.node, err)
	}
	zone := node.Labels[ZoneLabel]
	n.set(zone)
	return zone, nil
}

// Run watches the Node until ctx ends. A deleted Node leaves the last zone
// in place: the gateway on it is going away too.
func (n *NodeZone) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", n.node).String()
		}),
		informers.WithTransform(func(obj any) (any, error) {
			if node, ok := obj.(*corev1.Node); ok {
				return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node.Name, ResourceVersion: node.ResourceVersion, Labels: node.Labels}}, nil
			}
			return obj, nil
		}))
	inf := f.Core().V1().Nodes().Informer()
	last, known := "", false
	report := func(obj any) {
		node, ok := obj.(*corev1.Node)
		if !ok || node.Name != n.node {
			return
		}
		zone := node.Labels[ZoneLabel]
		if known && zone == last {
			return
		}
		if known {
			n.log.Info("kubernetes: node zone changed", "zone", zone, "was", last)
		}
		last, known = zone, true
		n.set(zone)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: report, UpdateFunc: func(_, obj any) { report(obj) },
	}); err != nil {
		return fmt.Errorf("kubernetes: node %q: %w", n.node, err)
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	return nil
}
