package kubernetes

import (
	"sync"

	"pylon.io/pylon/internal/ir"
)

// servingSet is the set of Ingresses that serve: at least one of their
// routes is live in the sink (its current version, or the last good one
// when the current one was refused). The worker writes it after each
// apply; the status writer reads it, so only an Ingress that answers
// requests is given an address. A rejected Ingress that never served, one
// whose every route is served by an older Ingress, and one whose routes the
// compile stage refused are not in it.
type servingSet struct {
	mu sync.RWMutex
	m  map[nsName]struct{}
}

func (s *servingSet) has(nn nsName) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[nn]
	return ok
}

func (s *servingSet) set(nn nsName, serving bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !serving {
		delete(s.m, nn)
		return
	}
	if s.m == nil {
		s.m = map[nsName]struct{}{}
	}
	s.m[nn] = struct{}{}
}

// trackLive records which routes the sink holds after ch: an accepted
// upsert is live; a refused one leaves the route as it was (live if an
// earlier version was accepted); an accepted delete ends it.
func (w *watcher) trackLive(ch ir.Change, res ir.Result) {
	for _, o := range ch.Upserts {
		if _, bad := res.Rejected[o.Key]; !bad && o.Key.Kind == ir.KindRoute {
			w.live[o.Key] = struct{}{}
		}
	}
	for _, k := range ch.Deletes {
		if _, refused := res.Rejected[k]; !refused && k.Kind == ir.KindRoute {
			delete(w.live, k)
		}
	}
}

// serves reports whether one of st's routes is live in the sink.
func (w *watcher) serves(st *ingState) bool {
	for _, r := range st.sent {
		if _, ok := w.live[r.key]; ok {
			return true
		}
	}
	return false
}
