package compile

import (
	"cmp"
	"slices"
	"sync"

	"github.com/google/btree"

	"pylon.io/pylon/internal/ir"
)

// liveView is the accepted objects in name order, one tree per kind and
// source, for readers outside the data plane (the admin API lists and shows
// every live object with its source). It has its own lock: a reader never
// waits for a compile, only for the moment a commit records its objects.
//
// The view is built on first use and kept current by commit from then on,
// at O(log n) per changed object. A process whose config nobody lists
// never pays for it: a cold start of 100,000 routes does not build a tree
// it may never read.
type liveView struct {
	mu    sync.RWMutex
	trees map[liveTree]*btree.BTreeG[liveItem]
}

type liveTree struct {
	kind   ir.Kind
	source string
}

// liveItem is one object under its display name (ir.Key.DisplayName), the
// name the admin API and the CLI show. The namespace breaks the tie between
// "a/b" in namespace default and "b" in namespace a.
type liveItem struct {
	name string
	obj  ir.Object
}

func lessItem(a, b liveItem) bool {
	if a.name != b.name {
		return a.name < b.name
	}
	return a.obj.Key.Namespace < b.obj.Key.Namespace
}

// liveDegree is the trees' B-tree degree: nodes of up to 63 items keep the
// tree shallow at 100,000 objects without long copies on insert.
const liveDegree = 32

func itemOf(o ir.Object) liveItem { return liveItem{name: o.Key.DisplayName(), obj: o} }

// put records o; v may be nil (no view yet). The caller holds v.mu.
func (v *liveView) put(o ir.Object) {
	if v == nil {
		return
	}
	t := liveTree{o.Key.Kind, o.Key.Source}
	tr := v.trees[t]
	if tr == nil {
		tr = btree.NewG(liveDegree, lessItem)
		v.trees[t] = tr
	}
	tr.ReplaceOrInsert(itemOf(o))
}

// remove forgets the object k; v may be nil. The caller holds v.mu.
func (v *liveView) remove(k ir.Key) {
	if v == nil {
		return
	}
	if tr := v.trees[liveTree{k.Kind, k.Source}]; tr != nil {
		tr.Delete(itemOf(ir.Object{Key: k}))
	}
}

// live returns the view, building it from the accepted objects the first
// time.
func (c *Compiler) live() *liveView {
	if v := c.view.Load(); v != nil {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.view.Load(); v != nil {
		return v
	}
	v := &liveView{trees: map[liveTree]*btree.BTreeG[liveItem]{}}
	for _, o := range c.objs {
		v.put(o)
	}
	c.view.Store(v)
	return v
}

// LiveList returns up to limit accepted objects of kind whose display name
// (ir.Key.DisplayName) sorts after `after`, in that order, from every
// source but skip. It costs O(log n + limit) per source, so a client can
// page through 100,000 objects.
func (c *Compiler) LiveList(kind ir.Kind, after, skip string, limit int) []ir.Object {
	v := c.live()
	v.mu.RLock()
	defer v.mu.RUnlock()
	var items []liveItem
	for t, tr := range v.trees {
		if t.kind != kind || t.source == skip {
			continue
		}
		n := 0
		tr.AscendGreaterOrEqual(liveItem{name: after}, func(it liveItem) bool {
			if it.name == after {
				return true
			}
			items = append(items, it)
			n++
			return n < limit
		})
	}
	slices.SortFunc(items, func(a, b liveItem) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.obj.Key.Namespace, b.obj.Key.Namespace))
	})
	out := make([]ir.Object, 0, min(len(items), limit))
	for _, it := range items[:min(len(items), limit)] {
		out = append(out, it.obj)
	}
	return out
}

// LiveGet returns the accepted object of kind whose display name is name,
// from any source but skip.
func (c *Compiler) LiveGet(kind ir.Kind, name, skip string) (ir.Object, bool) {
	v := c.live()
	v.mu.RLock()
	defer v.mu.RUnlock()
	for t, tr := range v.trees {
		if t.kind != kind || t.source == skip {
			continue
		}
		var found ir.Object
		ok := false
		tr.AscendGreaterOrEqual(liveItem{name: name}, func(it liveItem) bool {
			found, ok = it.obj, it.name == name
			return false
		})
		if ok {
			return found, true
		}
	}
	return ir.Object{}, false
}
