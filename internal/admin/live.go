package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Live is the config this node serves, from every source (files,
// Kubernetes, the store), for reading. Names are display names
// (ir.Key.DisplayName): "name" in namespace default, "namespace/name"
// otherwise. The compiler implements it.
type Live interface {
	// LiveList returns up to limit live objects of kind whose name sorts
	// after `after`, in name order, from every source but skip.
	LiveList(kind ir.Kind, after, skip string, limit int) []ir.Object
	// LiveGet returns the live object of kind named name, from any source
	// but skip.
	LiveGet(kind ir.Kind, name, skip string) (ir.Object, bool)
}

// liveObject returns the object of kind named name that another source
// than the store serves.
func (s *Server) liveObject(kind ir.Kind, name string) (ir.Object, bool) {
	if s.d.Live == nil {
		return ir.Object{}, false
	}
	return s.d.Live.LiveGet(kind, name, store.Source)
}

// liveEnvelope is how an object of another source travels: version 0, as
// it was never written to the store, and its source.
func liveEnvelope(o ir.Object) (Envelope, error) {
	b, err := json.Marshal(o.Resource)
	if err != nil {
		return Envelope{}, fmt.Errorf("admin: encode %s %q: %w", o.Key.Kind, o.Key.DisplayName(), err)
	}
	e := Envelope{Kind: o.Key.Kind, Source: o.Key.Source, Object: b}
	if o.Key.Namespace != namespace {
		e.Namespace = o.Key.Namespace
	}
	return e, nil
}

// readOnly is the 409 for a write to k when another source serves an object
// of that name and the store has none: objects of files and Kubernetes
// change where they are defined, and a write here would only collide with
// them. A stored object of the same name (written before the file defined
// it) stays writable, so that it can be deleted.
func (s *Server) readOnly(ctx context.Context, items []readOnlyItem) *httpError {
	var ps []Problem
	var first ir.Object
	for _, it := range items {
		o, ok := s.liveObject(it.key.Kind, it.key.Name)
		if !ok {
			continue
		}
		if _, err := s.d.Store.Get(ctx, it.key); !errors.Is(err, store.ErrNotFound) {
			continue // stored (or unknown): the write pipeline decides
		}
		if len(ps) == 0 {
			first = o
		}
		ps = append(ps, Problem{Item: it.item, Object: objectName(it.key.Kind, it.key.Name),
			Message: fmt.Sprintf("comes from source %q and is read-only through the API: change it where it is defined", o.Key.Source)})
	}
	if len(ps) == 0 {
		return nil
	}
	k := first.Key
	e := &httpError{http.StatusConflict, errorBody{Error: "conflict", Object: objectName(k.Kind, k.DisplayName()), Source: k.Source,
		Message: fmt.Sprintf("admin: %s %q comes from source %q and is read-only through the API: change it where it is defined", k.Kind, k.DisplayName(), k.Source)}}
	if len(items) > 1 || items[0].item != "" {
		e.body.Problems = ps
	}
	return e
}

type readOnlyItem struct {
	item string
	key  ir.Key
}

// continueToken and parseContinue are a list's cursor: the kind and the
// last name of the page, so that a token of another list, or one that is
// not a token at all, is refused instead of answering an empty page.
func continueToken(kind ir.Kind, after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(kind) + "\x00" + after))
}

func parseContinue(kind ir.Kind, tok string) (string, *httpError) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	k, after, ok := strings.Cut(string(b), "\x00")
	if err != nil || !ok || k != string(kind) || after == "" {
		return "", badRequest("admin: query parameter continue: %q is not a token of this list (pass the \"continue\" of the previous page of %s unchanged)", tok, kind.Plural())
	}
	return after, nil
}

// mergePage merges a page of stored records with a page of live objects of
// other sources, both in name order, into one page of at most limit
// envelopes; more says whether anything was left over.
func mergePage(recs []store.Record, live []ir.Object, limit int) (items []Envelope, last string, more bool, err error) {
	type entry struct {
		name string
		rec  *store.Record
		obj  *ir.Object
	}
	all := make([]entry, 0, len(recs)+len(live))
	for i := range recs {
		all = append(all, entry{name: recs[i].Key.Name, rec: &recs[i]})
	}
	for i := range live {
		all = append(all, entry{name: live[i].Key.DisplayName(), obj: &live[i]})
	}
	slices.SortStableFunc(all, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	if len(all) > limit {
		all, more = all[:limit], true
	}
	items = make([]Envelope, 0, len(all))
	for _, e := range all {
		if e.rec != nil {
			items = append(items, envelope(*e.rec))
			continue
		}
		env, err := liveEnvelope(*e.obj)
		if err != nil {
			return nil, "", false, err
		}
		items = append(items, env)
	}
	if len(all) > 0 {
		last = all[len(all)-1].name
	}
	return items, last, more, nil
}
