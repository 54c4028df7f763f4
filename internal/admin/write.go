package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// namespace is the namespace of every admin API object: the API has none.
const namespace = "default"

func apiKey(kind ir.Kind, name string) ir.Key {
	return ir.Key{Kind: kind, Source: store.Source, Namespace: namespace, Name: name}
}

// upsert is one object of a write, decoded; removal is one delete.
type upsert struct {
	item   string // "upserts[2]" in a batch
	res    ir.Resource
	expect int64  // store.Any, store.Missing or a version
	value  []byte // set by commit: the JSON stored
}

type removal struct {
	item   string
	key    ir.Key
	expect int64
}

// decodeBody decodes a single-object body for kind: the bare object, as in
// the YAML files, or an Envelope ({"kind","version","object"}) as GET
// returns it, told apart by its "object" member (no resource has one). It
// returns the envelope's version, 0 for a bare object.
func decodeBody(kind ir.Kind, body []byte) (ir.Resource, int64, []Problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, 0, []Problem{{Object: string(kind), Message: "empty body: want a JSON object"}}
	}
	if !isEnvelope(body) {
		r, ps := decodeObject("", kind, body)
		return r, 0, ps
	}
	var env Envelope // Source and Namespace, as GET returns them, are ignored
	if err := strictJSON(body, &env); err != nil {
		return nil, 0, []Problem{jsonProblem("", string(kind), err)}
	}
	if env.Kind != "" && env.Kind != kind {
		return nil, 0, []Problem{{Object: string(kind), Field: "kind", Message: fmt.Sprintf("must be %q or omitted (got %q)", kind, env.Kind)}}
	}
	if env.Version < 0 {
		return nil, 0, []Problem{{Object: string(kind), Field: "version", Message: "must not be negative"}}
	}
	r, ps := decodeObject("", kind, env.Object)
	return r, env.Version, ps
}

func isEnvelope(body []byte) bool {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return false
	}
	_, ok := top["object"]
	return ok
}

// decodeObject decodes one object strictly (ir.DecodeJSON).
func decodeObject(item string, kind ir.Kind, raw []byte) (ir.Resource, []Problem) {
	if len(raw) == 0 {
		return nil, []Problem{{Item: item, Object: string(kind), Field: "object", Message: "required"}}
	}
	r, err := ir.DecodeJSON(kind, raw)
	if err != nil {
		return nil, fieldProblems(item, ir.Key{Kind: kind}, err)
	}
	return r, nil
}

// strictJSON decodes one JSON value into v: unknown fields and trailing data
// are errors.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the object")
	}
	return nil
}

// jsonProblem describes a JSON error in a request's own structure (an
// envelope, a batch) by field.
func jsonProblem(item, object string, err error) Problem {
	p := Problem{Item: item, Object: object, Message: err.Error()}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		p.Field, p.Message = te.Field, fmt.Sprintf("must be %s, not %s", te.Type, te.Value)
	case errors.As(err, &se):
		p.Message = fmt.Sprintf("malformed JSON at offset %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		p.Field, p.Message = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.Message = "empty or truncated JSON"
	}
	return p
}

// fieldProblems flattens err into problems of the object k.
func fieldProblems(item string, k ir.Key, err error) []Problem {
	var out []Problem
	for _, fe := range ir.FieldErrors(err) {
		out = append(out, Problem{Item: item, Object: objectName(k.Kind, k.Name), Field: fe.Field, Message: fe.Msg})
	}
	return out
}

// commit runs the rest of the write pipeline over a whole write: Validate
// each object, the Checker's dry run over the change (so a route may use a
// service upserted beside it), then one store.Commit. Any problem, decode
// problems passed in included, fails the whole write with every problem
// listed and nothing written.
func (s *Server) commit(ctx context.Context, ups []upsert, dels []removal, ps []Problem) (int64, *httpError) {
	s.writes.Lock()
	defer s.writes.Unlock()
	if herr := s.readOnly(ctx, writeItems(ups, dels)); herr != nil {
		return 0, herr
	}
	ch := ir.Change{}
	items := map[ir.Key]string{} // key → its item, for problems and duplicates
	seen := func(item string, k ir.Key) bool {
		if prev, dup := items[k]; dup {
			ps = append(ps, Problem{Item: item, Object: objectName(k.Kind, k.Name), Message: "appears more than once in the write (also " + prev + ")"})
			return true
		}
		items[k] = item
		return false
	}
	ops := make([]store.Op, 0, len(ups)+len(dels))
	for i := range ups {
		u := &ups[i]
		o := ir.NewObject(store.Source, namespace, u.res)
		if seen(u.item, o.Key) {
			continue
		}
		if err := u.res.Validate(); err != nil {
			ps = append(ps, fieldProblems(u.item, o.Key, err)...)
			continue
		}
		if err := u.encode(); err != nil {
			ps = append(ps, Problem{Item: u.item, Object: objectName(o.Key.Kind, o.Key.Name), Message: err.Error()})
			continue
		}
		ch.Upserts = append(ch.Upserts, o)
		ops = append(ops, store.Op{Key: o.Key, Value: u.value, Expect: u.expect})
	}
	for _, d := range dels {
		if !seen(d.item, d.key) {
			ch.Deletes = append(ch.Deletes, d.key)
			ops = append(ops, store.Op{Key: d.key, Expect: d.expect})
		}
	}
	if s.d.Checker != nil && len(ops) > 0 {
		res := s.d.Checker.Check(ch)
		keys := make([]ir.Key, 0, len(res.Rejected))
		for k := range res.Rejected {
			keys = append(keys, k)
		}
		order := func(k ir.Key) string { return items[k] }
		slices.SortFunc(keys, func(a, b ir.Key) int { return compareItems(order(a), order(b)) })
		for _, k := range keys {
			ps = append(ps, fieldProblems(items[k], k, res.Rejected[k])...)
		}
	}
	if len(ps) > 0 {
		return 0, invalid(ps)
	}
	rev, err := s.d.Store.Commit(ctx, ops)
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		v := ce.Actual
		return 0, &httpError{http.StatusConflict, errorBody{Error: "conflict", Message: "admin: " + ce.Error(),
			Object: objectName(ce.Key.Kind, ce.Key.Name), Version: &v}}
	case errors.Is(err, store.ErrBatchTooLarge):
		return 0, &httpError{http.StatusRequestEntityTooLarge, errorBody{Error: "request entity too large", Message: "admin: " + err.Error()}}
	case err != nil:
		s.log.Error("admin: commit failed", "ops", len(ops), "error", err)
		return 0, &httpError{s.storeDownCode(), errorBody{Error: "store failed", Message: "admin: commit: " + err.Error()}}
	}
	if rev > 0 { // 0: the commit changed nothing (deletes of missing objects)
		s.waitApplied(ctx, rev)
	}
	return rev, nil
}

// writeItems lists the keys a write touches, for readOnly.
func writeItems(ups []upsert, dels []removal) []readOnlyItem {
	items := make([]readOnlyItem, 0, len(ups)+len(dels))
	for _, u := range ups {
		items = append(items, readOnlyItem{u.item, apiKey(u.res.ResourceKind(), u.res.ResourceName())})
	}
	for _, d := range dels {
		items = append(items, readOnlyItem{d.item, d.key})
	}
	return items
}

// waitApplied waits, bounded, for this node to apply rev (Deps.WaitApplied).
func (s *Server) waitApplied(ctx context.Context, rev int64) {
	if s.d.WaitApplied == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ApplyWait)
	defer cancel()
	if err := s.d.WaitApplied(ctx, rev); err != nil {
		s.log.Warn("admin: write is durable but not yet live on this node", "revision", rev, "error", err)
	}
}

// encode sets u.value to the JSON to store, and proves it reads back: the
// store source decodes it strictly on every node, so a value that does not
// survive the round trip (a number of seconds too large for a duration) must
// be refused here, not discovered there.
func (u *upsert) encode() error {
	b, err := json.Marshal(u.res)
	if err != nil {
		return fmt.Errorf("cannot be encoded: %w", err)
	}
	if _, err := ir.DecodeJSON(u.res.ResourceKind(), b); err != nil {
		var fe *ir.FieldError
		if errors.As(err, &fe) {
			err = errors.New(fe.Msg)
		}
		return fmt.Errorf("does not read back once stored: %w", err)
	}
	u.value = b
	return nil
}

// compareItems orders "upserts[2]" before "upserts[10]" before "deletes[0]".
func compareItems(a, b string) int {
	ka, ia := splitItem(a)
	kb, ib := splitItem(b)
	if ka != kb {
		return -strings.Compare(ka, kb) // "upserts" before "deletes"
	}
	return ia - ib
}

func splitItem(s string) (string, int) {
	name, rest, ok := strings.Cut(s, "[")
	n := 0
	if ok {
		fmt.Sscanf(rest, "%d]", &n)
	}
	return name, n
}
