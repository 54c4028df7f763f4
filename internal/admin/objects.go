package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Page sizes for lists.
const (
	DefaultPageSize = 500
	MaxPageSize     = 1000
)

// storeTimeout bounds one request's store work: a store that does not answer
// (etcd without quorum) turns into an error, not a hung client.
const storeTimeout = 15 * time.Second

// listBody is a page of a list. Continue, when set, fetches the next page;
// Version is the store revision the page was read at.
type listBody struct {
	Items    []Envelope `json:"items"`
	Continue string     `json:"continue,omitempty"`
	Version  int64      `json:"version"`
}

func (s *Server) kindOf(w http.ResponseWriter, r *http.Request) (ir.Kind, bool) {
	plural := r.PathValue("plural")
	kind, ok := ir.KindByPlural(plural)
	if !ok {
		fail(w, r, &httpError{http.StatusNotFound, errorBody{Error: "not found",
			Message: fmt.Sprintf("admin: unknown resource type %q (want %s)", plural, ir.KindNames(true))}})
	}
	return kind, ok
}

func envelope(rec store.Record) Envelope {
	return Envelope{Kind: rec.Key.Kind, Version: rec.Revision, Source: store.Source, Object: rec.Value}
}

// list is a page of every live object of a kind: the store's, with their
// versions, merged in name order with those of the other sources (files,
// Kubernetes). Each page reads at most limit+1 objects of each.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kindOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, r, badRequest("admin: query parameter limit must be a positive number (got %q)", v))
			return
		}
		limit = min(n, MaxPageSize)
	}
	after := ""
	if v := q.Get("continue"); v != "" { // empty is the first page
		var herr *httpError
		if after, herr = parseContinue(kind, v); herr != nil {
			fail(w, r, herr)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	recs, rev, err := s.d.Store.List(ctx, kind, after, limit+1) // one more says whether a next page exists
	if err != nil {
		fail(w, r, s.storeError("list", ir.Key{Kind: kind}, err))
		return
	}
	var live []ir.Object
	if s.d.Live != nil {
		live = s.d.Live.LiveList(kind, after, store.Source, limit+1)
	}
	items, last, more, err := mergePage(recs, live, limit)
	if err != nil {
		fail(w, r, &httpError{http.StatusInternalServerError, errorBody{Error: "internal error", Message: err.Error()}})
		return
	}
	body := listBody{Items: items, Version: rev}
	if more {
		body.Continue = continueToken(kind, last)
	}
	writeJSON(w, http.StatusOK, body)
}

// get shows one object: the store's, else one of another source.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kindOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	key := apiKey(kind, r.PathValue("name"))
	if key.Name == "" {
		fail(w, r, &httpError{http.StatusNotFound, errorBody{Error: "not found", Message: "admin: no object name in the path"}})
		return
	}
	rec, err := s.d.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		if o, ok := s.liveObject(kind, key.Name); ok {
			env, err := liveEnvelope(o)
			if err != nil {
				fail(w, r, &httpError{http.StatusInternalServerError, errorBody{Error: "internal error", Message: err.Error()}})
				return
			}
			writeJSON(w, http.StatusOK, env)
			return
		}
	}
	if err != nil {
		fail(w, r, s.storeError("get", key, err))
		return
	}
	w.Header().Set("ETag", etag(rec.Revision))
	writeJSON(w, http.StatusOK, envelope(rec))
}

// create is POST: the object must not exist yet (409 if it does).
func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kindOf(w, r)
	if !ok {
		return
	}
	body, herr := jsonBody(w, r, s.o.MaxBodyBytes, string(kind))
	if herr != nil {
		fail(w, r, herr)
		return
	}
	res, version, ps := decodeBody(kind, body)
	if version != 0 {
		ps = append(ps, Problem{Object: string(kind), Field: "version", Message: "must not be set on create (use PUT to replace a version)"})
	}
	if len(ps) > 0 {
		fail(w, r, invalid(ps))
		return
	}
	s.write(w, r, res, store.Missing, http.StatusCreated)
}

// put replaces the object, or creates it. A version, from the envelope or
// If-Match, makes it conditional: a stale one is a 409.
func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kindOf(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	ifMatch, herr := parseIfMatch(r.Header.Get("If-Match"))
	if herr == nil {
		var body []byte
		body, herr = jsonBody(w, r, s.o.MaxBodyBytes, objectName(kind, name))
		if herr == nil {
			herr = s.putBody(w, r, kind, name, body, ifMatch)
		}
	}
	if herr != nil {
		fail(w, r, herr)
	}
}

func (s *Server) putBody(w http.ResponseWriter, r *http.Request, kind ir.Kind, name string, body []byte, ifMatch int64) *httpError {
	res, version, ps := decodeBody(kind, body)
	if res != nil && res.ResourceName() != name {
		ps = append(ps, Problem{Object: objectName(kind, name), Field: "name",
			Message: fmt.Sprintf("must match the name in the URL (%q, got %q)", name, res.ResourceName())})
	}
	if version != 0 && ifMatch != 0 && version != ifMatch {
		ps = append(ps, Problem{Object: objectName(kind, name), Field: "version",
			Message: fmt.Sprintf("is %d but If-Match says %s", version, r.Header.Get("If-Match"))})
	}
	if len(ps) > 0 {
		return invalid(ps)
	}
	expect := max(version, ifMatch, 0)
	if expect == 0 || ifMatch < 0 {
		// Either If-Match: * (it must exist, any version) or no condition,
		// when the answer still says whether it created (201) or replaced.
		ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
		cur, err := s.d.Store.Get(ctx, apiKey(kind, name))
		cancel()
		switch {
		case errors.Is(err, store.ErrNotFound) && ifMatch < 0:
			v := int64(0)
			return &httpError{http.StatusConflict, errorBody{Error: "conflict", Object: objectName(kind, name), Version: &v,
				Message: fmt.Sprintf("admin: %s %q does not exist (If-Match: *)", kind, name)}}
		case errors.Is(err, store.ErrNotFound):
			s.write(w, r, res, store.Any, http.StatusCreated)
			return nil
		case err != nil:
			return s.storeError("get", apiKey(kind, name), err)
		case ifMatch < 0 && expect == 0:
			expect = cur.Revision
		}
	}
	s.write(w, r, res, expect, http.StatusOK)
	return nil
}

// write commits one object and answers with it.
func (s *Server) write(w http.ResponseWriter, r *http.Request, res ir.Resource, expect int64, code int) {
	kind, name := res.ResourceKind(), res.ResourceName()
	if n := noteOf(r); n != nil {
		n.object = objectName(kind, name)
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	ups := []upsert{{res: res, expect: expect}}
	rev, herr := s.commit(ctx, ups, nil, nil)
	if herr != nil {
		fail(w, r, herr)
		return
	}
	if n := noteOf(r); n != nil {
		n.version = rev
	}
	if code == http.StatusCreated {
		w.Header().Set("Location", objectPath(kind, name))
	}
	w.Header().Set("ETag", etag(rev))
	writeJSON(w, code, Envelope{Kind: kind, Version: rev, Object: ups[0].value})
}

// remove is DELETE; If-Match makes it conditional. The answer carries the
// deleted object and the revision of the delete.
func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kindOf(w, r)
	if !ok {
		return
	}
	key := apiKey(kind, r.PathValue("name"))
	if key.Name == "" {
		fail(w, r, &httpError{http.StatusNotFound, errorBody{Error: "not found", Message: "admin: no object name in the path"}})
		return
	}
	if n := noteOf(r); n != nil {
		n.object = objectName(kind, key.Name)
	}
	ifMatch, herr := parseIfMatch(r.Header.Get("If-Match"))
	if herr != nil {
		fail(w, r, herr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	cur, err := s.d.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		if herr := s.readOnly(ctx, []readOnlyItem{{key: key}}); herr != nil {
			fail(w, r, herr)
			return
		}
	}
	if err != nil {
		fail(w, r, s.storeError("get", key, err))
		return
	}
	// Without If-Match, delete exactly the version read above, so the answer
	// never shows an object that a concurrent write has since replaced.
	expect := ifMatch
	if expect <= 0 {
		expect = cur.Revision
	}
	rev, herr := s.commit(ctx, nil, []removal{{key: key, expect: expect}}, nil)
	if herr != nil {
		fail(w, r, herr)
		return
	}
	if n := noteOf(r); n != nil {
		n.version = rev
	}
	writeJSON(w, http.StatusOK, Envelope{Kind: kind, Version: rev, Object: cur.Value})
}

func (s *Server) storeError(op string, k ir.Key, err error) *httpError {
	obj := objectName(k.Kind, k.Name)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, errorBody{Error: "not found", Object: obj,
			Message: fmt.Sprintf("admin: %s %q does not exist", k.Kind, k.Name)}}
	}
	return &httpError{s.storeDownCode(), errorBody{Error: "store failed", Object: obj,
		Message: "admin: " + op + ": " + err.Error()}}
}

// storeDownCode is 503 while the store is unreachable (try again later),
// 500 for any other store failure.
func (s *Server) storeDownCode() int {
	if !s.d.Store.Status().Synced {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// objectPath is the URL path of an object; a name's '/' stay separators.
func objectPath(kind ir.Kind, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/" + kind.Plural() + "/" + strings.Join(parts, "/")
}
