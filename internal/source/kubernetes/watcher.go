package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"pylon.io/pylon/internal/ir"
)

// watcher owns the informers and the translation state. Everything below
// `state` is touched only by the one worker goroutine (loop).
type watcher struct {
	s      *Source
	sink   Sink
	in     *informerSet
	synced []cache.InformerSynced // per handler: every initial object delivered
	// podsForbidden is set when the apiserver refuses to list Pods: gray
	// tags from Pod labels are off and every endpoint is untagged.
	podsForbidden atomic.Bool
	syncNames     []string // per handler: the resource it watches
	q             *queue
	events        record.EventBroadcaster
	recorder      record.EventRecorder
	onApplied     func(nsName) // the status writer's queue

	// state
	ings        map[nsName]*ingState
	claims      map[string][]*ingState // conflict key → the Ingresses whose routes want it
	canaries    map[string][]*ingState // conflict key → canary Ingresses targeting it
	shared      map[ir.Key]*sharedObj  // services and certificates
	sentShared  map[ir.Key]uint64      // what the sink holds, with endpoints filled in
	refused     map[ir.Key]bool        // deletes the sink refused, sent again
	routeOwner  map[ir.Key]*ingState
	svcUsers    map[nsName]map[nsName]struct{} // Service → Ingresses that looked it up
	secretUsers map[nsName]map[nsName]struct{}
	svcObjs     map[nsName]map[ir.Key]struct{} // Service → IR services fed by its slices
	live        map[ir.Key]struct{}            // routes the sink holds a version of
	slices      sliceCache                     // each EndpointSlice's endpoints, by version
	refreshed   map[nsName]time.Time           // when a Service's endpoints were last set (see holdEndpoints)
	held        map[nsName]bool                // Services whose slice changes wait for endpointsEvery

	serving servingSet // read by the status writer
}

func newWatcher(s *Source, sink Sink) *watcher {
	w := &watcher{
		s: s, sink: sink, q: newQueue(),
		ings: map[nsName]*ingState{}, claims: map[string][]*ingState{}, canaries: map[string][]*ingState{}, shared: map[ir.Key]*sharedObj{},
		sentShared: map[ir.Key]uint64{}, refused: map[ir.Key]bool{}, routeOwner: map[ir.Key]*ingState{},
		svcUsers: map[nsName]map[nsName]struct{}{}, secretUsers: map[nsName]map[nsName]struct{}{},
		svcObjs: map[nsName]map[ir.Key]struct{}{}, live: map[ir.Key]struct{}{}, slices: sliceCache{},
		refreshed: map[nsName]time.Time{}, held: map[nsName]bool{},
	}
	w.events = record.NewBroadcaster()
	w.recorder = w.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "pylon"})
	return w
}

func (w *watcher) start(ctx context.Context) error {
	w.in = w.newInformers()
	for _, r := range []struct {
		inf  cache.SharedIndexInformer
		kind qkind
		name string
	}{{w.in.ingresses, kIngress, "ingresses"}, {w.in.classes, kClass, "ingressclasses"}, {w.in.services, kService, "services"},
		{w.in.slices, kSlice, "endpointslices"}, {w.in.secrets, kSecret, "secrets"}, {w.in.pods, kPod, "pods (" + TagLabel + ")"}} {
		reg, err := r.inf.AddEventHandler(w.handler(r.kind))
		if err != nil {
			return fmt.Errorf("kubernetes: informer handler: %w", err)
		}
		synced := reg.HasSynced
		if r.kind == kPod {
			// Pods the RBAC does not let Pylon list (a role from before
			// gray tags) turn the tags off rather than keep the controller
			// from ever being ready.
			synced = func() bool { return reg.HasSynced() || w.podsForbidden.Load() }
		}
		w.synced = append(w.synced, synced)
		w.syncNames = append(w.syncNames, r.name)
	}
	w.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: w.s.client.CoreV1().Events("")})
	w.in.factory.Start(ctx.Done())
	w.in.cluster.Start(ctx.Done())
	w.in.podFactory.Start(ctx.Done())
	return nil
}

// waitSynced waits for every informer's first list and for its handler to
// have queued every object of it (a store is synced before its handlers
// have seen everything: at 100k objects, seconds before), so that the
// first change holds the whole cluster and Ready means every Ingress is
// live. It logs while it takes.
func (w *watcher) waitSynced(ctx context.Context) bool {
	done := make(chan bool, 1)
	go func() { done <- cache.WaitForCacheSync(ctx.Done(), w.synced...) }()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case ok := <-done:
			return ok
		case <-t.C:
			var waiting []string
			for i, ok := range w.synced {
				if !ok() {
					waiting = append(waiting, w.syncNames[i])
				}
			}
			// A list that never ends is most often one the controller's
			// RBAC does not grant (the client's log says "forbidden").
			w.s.log.Info("kubernetes: waiting for the informers' first list", "waiting", strings.Join(waiting, ", "))
		}
	}
}

// processAll applies everything queued so far: after the first sync, the
// whole cluster as one change.
func (w *watcher) processAll() { w.process(w.q.drain()) }

func (w *watcher) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.q.signal:
			w.process(w.q.drain())
		}
	}
}

// process handles one drained set of keys: it translates again the
// Ingresses they touch, sends one change, and refreshes the endpoints of
// the Services whose slices changed.
func (w *watcher) process(keys map[qkey]struct{}) {
	if len(keys) == 0 {
		return
	}
	start := time.Now()
	dirty := map[nsName]struct{}{}
	endpoints := map[nsName]struct{}{}
	svcChanged := map[nsName]bool{}
	reclass := false
	var revived []ir.Key
	for k := range keys {
		nn := k.nn()
		switch k.kind {
		case kIngress:
			dirty[nn] = struct{}{}
		case kClass:
			reclass = true
		case kService:
			for u := range w.svcUsers[nn] {
				dirty[u] = struct{}{}
			}
			endpoints[nn] = struct{}{}
			svcChanged[nn] = true
		case kSecret:
			for u := range w.secretUsers[nn] {
				dirty[u] = struct{}{}
			}
		case kSlice:
			endpoints[nn] = struct{}{}
		case kPod:
			w.retag(nn, endpoints)
		case kRevived:
			revived = append(revived, ir.Key{Kind: ir.KindRoute, Source: SourceName, Namespace: k.ns, Name: k.name})
		}
	}
	if reclass {
		// A class change can move every Ingress in or out: rare, so a full pass.
		for _, obj := range w.in.ingresses.GetStore().List() {
			ing := obj.(*networkingv1.Ingress)
			dirty[nsName{ing.Namespace, ing.Name}] = struct{}{}
		}
		for nn := range w.ings {
			dirty[nn] = struct{}{}
		}
	}
	b := newBatch()
	for nn := range dirty {
		w.sync(nn, b)
	}
	w.settle(b)
	ch := w.change(b)
	if len(ch.Upserts)+len(ch.Deletes) > 0 {
		ch.Event = start
		res := w.sink.Apply(ch)
		w.afterApply(ch, res)
		w.trackLive(ch, res)
	}
	for st := range b.resync {
		w.serving.set(st.key, w.serves(st))
	}
	lit := w.markRevived(revived)
	fresh := map[ir.Key]struct{}{}
	for _, o := range ch.Upserts {
		if o.Key.Kind == ir.KindService {
			fresh[o.Key] = struct{}{}
		}
	}
	for nn := range endpoints {
		if !svcChanged[nn] && w.holdEndpoints(nn, time.Now()) {
			continue
		}
		w.refreshEndpoints(nn, fresh)
	}
	if w.onApplied != nil {
		for st := range b.resync {
			w.onApplied(st.key)
		}
		for _, nn := range b.left {
			w.onApplied(nn)
		}
		for _, st := range lit {
			w.onApplied(st.key)
		}
	}
}

// revive queues the routes of ours among keys, which the compile stage let
// in on a change that was not theirs (see ir.Result.Revived). It only
// queues: it is called inside another source's apply.
func (w *watcher) revive(keys []ir.Key) {
	for _, k := range keys {
		if k.Kind == ir.KindRoute && k.Source == SourceName {
			w.q.add(qkey{kind: kRevived, ns: k.Namespace, name: k.Name})
		}
	}
}

// markRevived records revived routes as live and returns the Ingresses
// that serve because of them: an Ingress whose route waited behind an
// older one's serves once that one is gone, and gets its address.
func (w *watcher) markRevived(keys []ir.Key) []*ingState {
	var lit []*ingState
	for _, k := range keys {
		st := w.routeOwner[k]
		if _, live := w.live[k]; live || st == nil {
			continue // served already, or no longer ours
		}
		w.live[k] = struct{}{}
		was := w.serving.has(st.key)
		w.serving.set(st.key, w.serves(st))
		if !was {
			lit = append(lit, st)
		}
	}
	return lit
}

// event records an Event on the Ingress nn, once per distinct message.
func (w *watcher) event(st *ingState, n note) {
	if st.noted == nil {
		st.noted = map[string]string{}
	}
	key := n.reason + "/" + n.key
	if st.noted[key] == n.text {
		return
	}
	st.noted[key] = n.text
	obj, ok, err := w.in.ingresses.GetStore().GetByKey(st.key.String())
	if err != nil || !ok {
		return
	}
	typ := corev1.EventTypeNormal
	if n.warning {
		typ = corev1.EventTypeWarning
		w.s.log.Warn("kubernetes: ingress "+n.reason, "ingress", st.key.String(), "message", n.text)
	}
	w.recorder.Event(obj.(*networkingv1.Ingress), typ, n.reason, n.text)
}

func (w *watcher) forget(st *ingState, reason string) { delete(st.noted, reason+"/") }
