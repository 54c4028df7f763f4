package admin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/store"
)

// StatusBody is the JSON of GET /api/v1/status.
type StatusBody struct {
	Node            string         `json:"node"`
	ConfigVersion   uint64         `json:"configVersion"`
	Objects         map[string]int `json:"objects"`
	Rejected        int            `json:"rejected"`
	LastPropagation string         `json:"lastPropagation"` // a Go duration, e.g. "1.2ms"
	LastApplied     *time.Time     `json:"lastApplied,omitempty"`
	Store           StoreStatus    `json:"store"`
}

// StoreStatus is the store's part of the status.
type StoreStatus struct {
	Synced   bool   `json:"synced"`
	Revision int64  `json:"revision"`
	Error    string `json:"error,omitempty"`
}

func (s *Server) statusNow() Status {
	var st Status
	if s.d.Status != nil {
		st = s.d.Status()
	}
	if st.Store == (store.Status{}) {
		st.Store = s.d.Store.Status()
	}
	if st.Node == "" {
		st.Node, _ = os.Hostname()
	}
	return st
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := s.statusNow()
	body := StatusBody{
		Node: st.Node, ConfigVersion: st.ConfigVersion, Objects: st.Objects, Rejected: st.Rejected,
		LastPropagation: st.LastPropagation.String(), Store: storeStatus(st.Store),
	}
	if body.Objects == nil {
		body.Objects = map[string]int{}
	}
	if !st.LastApplied.IsZero() {
		body.LastApplied = &st.LastApplied
	}
	writeJSON(w, http.StatusOK, body)
}

func storeStatus(s store.Status) StoreStatus {
	return StoreStatus{Synced: s.Synced, Revision: s.Revision, Error: s.Error}
}

// nodes lists the cluster's nodes, or only this one outside a cluster.
func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	var items []NodeInfo
	if s.d.Nodes != nil {
		ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
		defer cancel()
		var err error
		if items, err = s.d.Nodes(ctx); err != nil {
			fail(w, r, &httpError{http.StatusServiceUnavailable, errorBody{Error: "nodes unavailable", Message: "admin: nodes: " + err.Error()}})
			return
		}
	} else {
		st := s.statusNow()
		addr := s.o.Address
		if a := s.Addr(); a != nil {
			addr = a.String()
		}
		items = []NodeInfo{{Name: st.Node, Address: addr, Version: s.o.Version, Revision: st.Store.Revision, Heartbeat: time.Now().UTC()}}
	}
	if items == nil {
		items = []NodeInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// PluginInfo describes one registered plugin: what it does, when it runs
// and the JSON schema of its config.
type PluginInfo struct {
	Name     string         `json:"name"`
	Summary  string         `json:"summary"`
	Phases   []string       `json:"phases"`
	Position int            `json:"position"`
	Order    string         `json:"order,omitempty"` // why it runs where it does
	Schema   map[string]any `json:"schema"`
}

func pluginInfo(d *plugin.Definition) PluginInfo {
	return PluginInfo{Name: d.Name, Summary: d.Summary, Phases: d.Phases, Position: d.Position,
		Order: plugin.OrderReason(d.Name), Schema: d.Schema}
}

// plugins lists the registered plugins in execution order.
func (s *Server) plugins(w http.ResponseWriter, r *http.Request) {
	items := []PluginInfo{}
	for _, d := range plugin.All() {
		items = append(items, pluginInfo(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// pluginByName describes one plugin.
func (s *Server) pluginByName(w http.ResponseWriter, r *http.Request) {
	d, ok := plugin.Lookup(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, errorBody{Error: "not found", Message: fmt.Sprintf("admin: no plugin %q (GET /api/v1/plugins lists them)", r.PathValue("name"))})
		return
	}
	writeJSON(w, http.StatusOK, pluginInfo(d))
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(s.openapi)
}
