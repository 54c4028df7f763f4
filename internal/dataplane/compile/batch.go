package compile

import (
	"iter"
	"slices"

	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
)

// batch is one change being checked, split by kind. prepare fills in what
// the change asks for once; after that the checks and the publish only add
// verdicts to rej. A refused upsert or delete is never removed from the
// lists, so rej is the one record of what will not apply, and accepted,
// deleted, upsert and deletes are the only ways to read what will.
type batch struct {
	up      map[ir.Kind][]ir.Object         // upserts that passed validation, by kind, in key order
	byRef   map[ir.Key]ir.Object            // the same upserts by source-less key (names are unique across sources)
	del     map[ir.Kind]map[ir.Key]struct{} // deletes of live objects, by kind
	rej     map[ir.Key]error                // refused upserts and deletes
	certs   map[ir.Key]*tlsindex.Entry      // parsed certificates of the certificate upserts
	invalid map[ir.Key]bool                 // rejected on their own (no other object can fix them)
	// unchanged lists upserts re-sent with the live version's hash: they cost
	// nothing but superseding what was rejected of them.
	unchanged []ir.Key
}

func newBatch(ch ir.Change) *batch {
	return &batch{
		up: map[ir.Kind][]ir.Object{}, byRef: make(map[ir.Key]ir.Object, len(ch.Upserts)),
		del: map[ir.Kind]map[ir.Key]struct{}{}, rej: map[ir.Key]error{},
		certs: map[ir.Key]*tlsindex.Entry{}, invalid: map[ir.Key]bool{},
	}
}

// reject refuses the upsert or delete of k; what else the batch holds of k
// stays, unread.
func (b *batch) reject(k ir.Key, err error) { b.rej[k] = err }

// addUpsert records an upsert that passed validation.
func (b *batch) addUpsert(o ir.Object) {
	b.up[o.Key.Kind] = append(b.up[o.Key.Kind], o)
	b.byRef[refKey(o.Key)] = o
}

// forget drops what the batch holds of an earlier upsert of k: a later
// upsert of the same key in one change replaces it, whatever became of it.
func (b *batch) forget(k ir.Key) {
	delete(b.rej, k)
	delete(b.invalid, k)
	if prev, ok := b.byRef[refKey(k)]; ok && prev.Key == k {
		delete(b.byRef, refKey(k))
		b.up[k.Kind] = slices.DeleteFunc(b.up[k.Kind], func(x ir.Object) bool { return x.Key == k })
	}
}

// addDelete records the delete of a live object.
func (b *batch) addDelete(k ir.Key) {
	if b.del[k.Kind] == nil {
		b.del[k.Kind] = map[ir.Key]struct{}{}
	}
	b.del[k.Kind][k] = struct{}{}
}

// accepted yields the upserts of kind not refused so far, in key order. A
// check may refuse the object it was just given without disturbing the
// iteration.
func (b *batch) accepted(kind ir.Kind) iter.Seq[ir.Object] {
	return func(yield func(ir.Object) bool) {
		for _, o := range b.up[kind] {
			if _, bad := b.rej[o.Key]; !bad && !yield(o) {
				return
			}
		}
	}
}

// deleted yields the keys of kind whose delete is not refused so far.
func (b *batch) deleted(kind ir.Kind) iter.Seq[ir.Key] {
	return func(yield func(ir.Key) bool) {
		for k := range b.del[kind] {
			if _, bad := b.rej[k]; !bad && !yield(k) {
				return
			}
		}
	}
}

// upsert returns the batch's accepted upsert of k, if it has one.
func (b *batch) upsert(k ir.Key) (ir.Object, bool) {
	o, ok := b.byRef[refKey(k)]
	if !ok || o.Key != k {
		return ir.Object{}, false
	}
	_, bad := b.rej[k]
	return o, !bad
}

// deletes reports whether the batch deletes k and that delete is not refused.
func (b *batch) deletes(k ir.Key) bool {
	if _, ok := b.del[k.Kind][k]; !ok {
		return false
	}
	_, bad := b.rej[k]
	return !bad
}
