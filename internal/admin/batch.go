package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"pylon.io/pylon/internal/ir"
)

// BatchRequest is the body of POST /api/v1/batch. Version, when set, is the
// version the object must still have.
type BatchRequest struct {
	Upserts []BatchUpsert `json:"upserts,omitempty"`
	Deletes []BatchDelete `json:"deletes,omitempty"`
}

// BatchUpsert creates or replaces one object.
type BatchUpsert struct {
	Kind    ir.Kind         `json:"kind"`
	Object  json.RawMessage `json:"object"`
	Version int64           `json:"version,omitempty"`
}

// BatchDelete deletes one object. Deleting an object that does not exist is
// not an error unless a version is given.
type BatchDelete struct {
	Kind    ir.Kind `json:"kind"`
	Name    string  `json:"name"`
	Version int64   `json:"version,omitempty"`
}

// BatchResponse is the answer to a batch that was written: the revision of
// the one commit (every upserted object's version) and the objects.
type BatchResponse struct {
	Version int64         `json:"version"`
	Upserts []Envelope    `json:"upserts"`
	Deletes []BatchDelete `json:"deletes"`
}

// batch applies a BatchRequest all or nothing: every object is decoded and
// validated, the whole change is dry-run, and one store commit writes it.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	body, herr := jsonBody(w, r, s.o.MaxBodyBytes, "batch")
	if herr != nil {
		fail(w, r, herr)
		return
	}
	var req BatchRequest
	if err := strictJSON(body, &req); err != nil {
		fail(w, r, invalid([]Problem{jsonProblem("", "batch", err)}))
		return
	}
	if n := noteOf(r); n != nil {
		n.object = fmt.Sprintf("batch(%d upserts, %d deletes)", len(req.Upserts), len(req.Deletes))
	}
	if len(req.Upserts)+len(req.Deletes) == 0 {
		fail(w, r, invalid([]Problem{{Object: "batch", Message: "no upserts or deletes"}}))
		return
	}
	ups, dels, ps := decodeBatch(req)
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	rev, herr := s.commit(ctx, ups, dels, ps)
	if herr != nil {
		fail(w, r, herr)
		return
	}
	if n := noteOf(r); n != nil {
		n.version = rev
	}
	resp := BatchResponse{Version: rev, Upserts: make([]Envelope, 0, len(ups)), Deletes: make([]BatchDelete, 0, len(dels))}
	for _, u := range ups {
		resp.Upserts = append(resp.Upserts, Envelope{Kind: u.res.ResourceKind(), Version: rev, Object: u.value})
	}
	for _, d := range dels {
		resp.Deletes = append(resp.Deletes, BatchDelete{Kind: d.key.Kind, Name: d.key.Name})
	}
	writeJSON(w, http.StatusOK, resp)
}

// decodeBatch decodes every item, collecting every problem.
func decodeBatch(req BatchRequest) ([]upsert, []removal, []Problem) {
	var ps []Problem
	ups := make([]upsert, 0, len(req.Upserts))
	for i, u := range req.Upserts {
		item := "upserts[" + strconv.Itoa(i) + "]"
		kind, ok := kindOrProblem(item, u.Kind, u.Version, &ps)
		if !ok {
			continue
		}
		res, more := decodeObject(item, kind, u.Object)
		if len(more) > 0 {
			ps = append(ps, more...)
			continue
		}
		ups = append(ups, upsert{item: item, res: res, expect: u.Version})
	}
	dels := make([]removal, 0, len(req.Deletes))
	for i, d := range req.Deletes {
		item := "deletes[" + strconv.Itoa(i) + "]"
		kind, ok := kindOrProblem(item, d.Kind, d.Version, &ps)
		if !ok {
			continue
		}
		if d.Name == "" {
			ps = append(ps, Problem{Item: item, Object: string(kind), Field: "name", Message: "required"})
			continue
		}
		dels = append(dels, removal{item: item, key: apiKey(kind, d.Name), expect: d.Version})
	}
	return ups, dels, ps
}

func kindOrProblem(item string, kind ir.Kind, version int64, ps *[]Problem) (ir.Kind, bool) {
	if ir.New(kind) == nil {
		if k, ok := ir.KindByPlural(string(kind)); ok {
			kind = k // "routes" is as clear as "route"
		} else {
			*ps = append(*ps, Problem{Item: item, Object: "batch", Field: "kind",
				Message: fmt.Sprintf("must be %s (got %q)", ir.KindNames(false), kind)})
			return "", false
		}
	}
	if version < 0 {
		*ps = append(*ps, Problem{Item: item, Object: string(kind), Field: "version", Message: "must not be negative"})
		return "", false
	}
	return kind, true
}
