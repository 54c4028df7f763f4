package kubernetes

import (
	"fmt"
	"slices"
	"strings"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/ingress"
)

// change turns a batch into one ir.Change: for each Ingress to resync, the
// routes whose claims it wins, diffed against what the sink holds; the
// shared objects that changed, services with their current endpoints.
func (w *watcher) change(b *batch) ir.Change {
	var ch ir.Change
	for k := range b.touched {
		so := w.shared[k]
		if so == nil {
			if _, sent := w.sentShared[k]; sent {
				ch.Deletes = append(ch.Deletes, k)
			}
			continue
		}
		o := w.sharedObject(k, so)
		if w.sentShared[k] != o.Hash {
			ch.Upserts = append(ch.Upserts, o)
		}
		delete(w.refused, k)
	}
	ch.Deletes = append(ch.Deletes, b.deletes...)
	for st := range b.resync {
		var next []sentRoute
		var lost []string
		for i, o := range st.routes {
			c := st.claims[i]
			if win := w.winner(c); win != st {
				lost = append(lost, fmt.Sprintf("%q is served by the older Ingress %s", c, win.key))
				continue
			}
			if cn, ok := w.canaryFor(c, st); ok {
				o = ir.NewObject(SourceName, o.Key.Namespace, ingress.ApplyCanary(o.Resource.(*ir.Route), cn))
			}
			next = append(next, sentRoute{o.Key, o.Hash})
			if h, ok := sentHash(st.sent, o.Key); !ok || h != o.Hash {
				ch.Upserts = append(ch.Upserts, o)
				w.routeOwner[o.Key] = st
			}
		}
		for _, s := range st.sent {
			if _, ok := sentHash(next, s.key); !ok {
				ch.Deletes = append(ch.Deletes, s.key)
				delete(w.routeOwner, s.key)
			}
		}
		st.sent = next
		if len(lost) > 0 {
			w.event(st, note{warning: true, reason: "Conflict", text: strings.Join(lost, "; ")})
		} else {
			w.forget(st, "Conflict")
		}
	}
	for k := range w.refused {
		if !slices.Contains(ch.Deletes, k) {
			ch.Deletes = append(ch.Deletes, k)
		}
	}
	return ch
}

// sharedObject is the object sent for a shared resource: a service gets the
// endpoints its Service's EndpointSlices list right now, so an update of the
// service never empties its pool.
func (w *watcher) sharedObject(k ir.Key, so *sharedObj) ir.Object {
	res := so.res
	if s, ok := res.(*ir.Service); ok && s.Discovered && so.svc != nil {
		c := *s
		c.Endpoints = w.endpoints(*so.svc)
		res = &c
	}
	return ir.NewObject(SourceName, k.Namespace, res)
}

// afterApply records what the sink holds and reports what it refused on
// the Ingresses concerned.
func (w *watcher) afterApply(ch ir.Change, res ir.Result) {
	for _, o := range ch.Upserts {
		if o.Key.Kind != ir.KindRoute {
			w.sentShared[o.Key] = o.Hash
		}
	}
	for _, k := range ch.Deletes {
		if _, bad := res.Rejected[k]; bad {
			w.refused[k] = true
			continue
		}
		delete(w.refused, k)
		delete(w.sentShared, k)
	}
	for k, err := range res.Rejected {
		msg := fmt.Sprintf("%s %s: %v (the last accepted version stays live)", k.Kind, k.Name, err)
		w.s.log.Error("kubernetes: object rejected", "object", k.String(), "error", err.Error())
		if st := w.routeOwner[k]; st != nil {
			w.event(st, note{warning: true, reason: "Rejected", text: msg})
			continue
		}
		if so := w.shared[k]; so != nil {
			for owner := range so.owners {
				if st := w.ings[owner]; st != nil {
					w.event(st, note{warning: true, reason: "Rejected", text: msg})
				}
			}
		}
	}
	w.s.log.Info("kubernetes: config applied", "upserts", len(ch.Upserts), "deletes", len(ch.Deletes), "rejected", len(res.Rejected))
}

// sentRoute is a route the sink holds for an Ingress, with its hash. An
// Ingress has a few routes: a slice beats a map per Ingress (at 100k
// Ingresses, tens of MB).
type sentRoute struct {
	key  ir.Key
	hash uint64
}

func sentHash(rs []sentRoute, k ir.Key) (uint64, bool) {
	for _, r := range rs {
		if r.key == k {
			return r.hash, true
		}
	}
	return 0, false
}
