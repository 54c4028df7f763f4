package kubernetes

import (
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/ingress"
)

// ingState is what the source keeps of one Ingress of its class: the routes
// of its last good translation, the claims they make, and what it depends on.
type ingState struct {
	key     nsName
	created time.Time
	routes  []ir.Object // last good translation
	claims  []string    // per route: its ingress.ConflictKey
	canary  []ingress.Canary
	sent    []sentRoute // routes the sink holds
	shared  []ir.Key
	deps    []qkey            // Services and Secrets looked up
	noted   map[string]string // Events recorded, by reason
}

// older orders Ingresses for conflicts: the oldest wins, then namespace/name.
func (a *ingState) older(b *ingState) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.key.String() < b.key.String()
}

// sharedObj is a service or certificate and the Ingresses that produce it.
type sharedObj struct {
	res    ir.Resource
	hash   uint64
	svc    *svcRef
	owners map[nsName]struct{}
}

// batch collects what one process call changes.
type batch struct {
	claims  map[string]struct{}    // claims whose holders changed
	resync  map[*ingState]struct{} // Ingresses whose live routes must be recomputed
	touched map[ir.Key]struct{}    // shared objects to send or delete
	deletes []ir.Key               // routes of removed Ingresses
	left    []nsName               // Ingresses that left Pylon's class (their status is cleared)
}

func newBatch() *batch {
	return &batch{claims: map[string]struct{}{}, resync: map[*ingState]struct{}{}, touched: map[ir.Key]struct{}{}}
}

// sync translates the Ingress nn again, or removes it when it is gone or
// no longer of Pylon's class.
func (w *watcher) sync(nn nsName, b *batch) {
	st := w.ings[nn]
	obj, exists, _ := w.in.ingresses.GetStore().GetByKey(nn.String())
	var ing *networkingv1.Ingress
	if exists {
		ing = obj.(*networkingv1.Ingress)
	}
	if ing == nil || !w.ours(ing) {
		if st != nil {
			w.remove(st, b)
			if ing != nil {
				b.left = append(b.left, nn)
			}
		}
		return
	}
	if st == nil {
		st = &ingState{key: nn}
		w.ings[nn] = st
	}
	st.created = ing.CreationTimestamp.Time
	t := w.translate(ing)
	w.setDeps(st, t)
	for _, n := range t.notes {
		w.event(st, n)
	}
	if t.err != nil {
		// Rejected alone: its last good version keeps serving.
		keep := " (the last accepted version stays live)"
		if len(st.sent) == 0 {
			keep = " (not served)"
		}
		w.event(st, note{warning: true, reason: "Rejected", text: t.err.Error() + keep})
		return
	}
	w.forget(st, "Rejected")
	w.dropClaims(st, b)
	st.routes = st.routes[:0]
	st.claims = st.claims[:0]
	for _, r := range t.routes {
		o := ir.NewObject(SourceName, nn.ns, r)
		st.routes = append(st.routes, o)
		st.claims = append(st.claims, ingress.ConflictKey(r.(*ir.Route)))
	}
	st.canary = t.canaries
	w.addClaims(st, b)
	old := st.shared
	st.shared = nil
	for _, s := range t.shared {
		k := ir.Key{Kind: s.res.ResourceKind(), Source: SourceName, Namespace: nn.ns, Name: s.res.ResourceName()}
		st.shared = append(st.shared, k)
		w.acquire(k, s, nn, b)
	}
	for _, k := range old {
		if !slices.Contains(st.shared, k) {
			w.release(k, nn, b)
		}
	}
	b.resync[st] = struct{}{}
}

// remove drops an Ingress: its routes go, its shared objects lose an owner.
func (w *watcher) remove(st *ingState, b *batch) {
	w.dropClaims(st, b)
	for _, s := range st.sent {
		b.deletes = append(b.deletes, s.key)
		delete(w.routeOwner, s.key)
	}
	for _, k := range st.shared {
		w.release(k, st.key, b)
	}
	w.setDeps(st, translated{})
	w.serving.set(st.key, false)
	delete(w.ings, st.key)
	delete(b.resync, st)
}

func (w *watcher) acquire(k ir.Key, s sharedRes, owner nsName, b *batch) {
	h := ir.Hash(s.res)
	so := w.shared[k]
	if so == nil {
		so = &sharedObj{owners: map[nsName]struct{}{}}
		w.shared[k] = so
	}
	if so.res == nil || so.hash != h {
		so.res, so.hash, so.svc = s.res, h, s.svc
		b.touched[k] = struct{}{}
	}
	so.owners[owner] = struct{}{}
	if s.svc != nil {
		sk := nsName{s.svc.ns, s.svc.name}
		if w.svcObjs[sk] == nil {
			w.svcObjs[sk] = map[ir.Key]struct{}{}
		}
		w.svcObjs[sk][k] = struct{}{}
	}
}

func (w *watcher) release(k ir.Key, owner nsName, b *batch) {
	so := w.shared[k]
	if so == nil {
		return
	}
	delete(so.owners, owner)
	if len(so.owners) > 0 {
		return
	}
	delete(w.shared, k)
	if so.svc != nil {
		sk := nsName{so.svc.ns, so.svc.name}
		delete(w.svcObjs[sk], k)
		if len(w.svcObjs[sk]) == 0 {
			delete(w.svcObjs, sk)
		}
	}
	b.touched[k] = struct{}{}
}

// setDeps records the Services and Secrets an Ingress looked up.
func (w *watcher) setDeps(st *ingState, t translated) {
	for _, d := range st.deps {
		idx := w.svcUsers
		if d.kind == kSecret {
			idx = w.secretUsers
		}
		delete(idx[d.nn()], st.key)
		if len(idx[d.nn()]) == 0 {
			delete(idx, d.nn())
		}
	}
	st.deps = st.deps[:0]
	add := func(kind qkind, idx map[nsName]map[nsName]struct{}, nns []nsName) {
		for _, nn := range nns {
			if idx[nn] == nil {
				idx[nn] = map[nsName]struct{}{}
			}
			idx[nn][st.key] = struct{}{}
			st.deps = append(st.deps, qkey{kind: kind, ns: nn.ns, name: nn.name})
		}
	}
	add(kService, w.svcUsers, t.services)
	add(kSecret, w.secretUsers, t.secrets)
}

// addClaims registers what st's routes and canaries compete for; every
// holder of a touched key is recomputed by settle.
func (w *watcher) addClaims(st *ingState, b *batch) {
	for _, c := range st.claims {
		if !slices.Contains(w.claims[c], st) {
			w.claims[c] = append(w.claims[c], st)
		}
		b.claims[c] = struct{}{}
	}
	for _, cn := range st.canary {
		if !slices.Contains(w.canaries[cn.Key], st) {
			w.canaries[cn.Key] = append(w.canaries[cn.Key], st)
		}
		b.claims[cn.Key] = struct{}{}
	}
}

func (w *watcher) dropClaims(st *ingState, b *batch) {
	for _, c := range st.claims {
		w.claims[c] = without(w.claims, c, st)
		b.claims[c] = struct{}{}
	}
	for _, cn := range st.canary {
		w.canaries[cn.Key] = without(w.canaries, cn.Key, st)
		b.claims[cn.Key] = struct{}{}
	}
}

// without removes st from idx[c], deleting the entry when it empties, and
// returns what is left.
func without(idx map[string][]*ingState, c string, st *ingState) []*ingState {
	hs := idx[c]
	for i, h := range hs {
		if h == st {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(idx, c)
	}
	return hs
}

// winner is the Ingress that serves claim c.
func (w *watcher) winner(c string) *ingState {
	var best *ingState
	for _, h := range w.claims[c] {
		if best == nil || h.older(best) {
			best = h
		}
	}
	return best
}

// settle marks every holder of a changed claim for a route recompute: a
// deleted winner lets the next-oldest Ingress take over, a new older one
// pushes the current winner out, and a canary change reshapes the main
// route.
func (w *watcher) settle(b *batch) {
	for c := range b.claims {
		for _, h := range w.claims[c] {
			b.resync[h] = struct{}{}
		}
	}
}

// canaryFor returns the canary part for the route with conflict key c of
// the Ingress main: the oldest canary Ingress in main's namespace (the
// canary's service lives there) that targets c.
func (w *watcher) canaryFor(c string, main *ingState) (ingress.Canary, bool) {
	var best *ingState
	for _, h := range w.canaries[c] {
		if h != main && h.key.ns == main.key.ns && (best == nil || h.older(best)) {
			best = h
		}
	}
	if best == nil {
		return ingress.Canary{}, false
	}
	for _, cn := range best.canary {
		if cn.Key == c {
			return cn, true
		}
	}
	return ingress.Canary{}, false
}
