// Package eurekatest is a Eureka test server implementing the documented
// REST API (register, heartbeat, status, cancel, full and delta fetches with
// apps__hashcode) in JSON, for tests; Eureka itself is a Java server.
package eurekatest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

type change struct {
	at   time.Time
	inst map[string]any
}

// Server is a Eureka server on 127.0.0.1; its service URL is URL().
type Server struct {
	mu      sync.Mutex
	reg     map[string]map[string]any // APP/instanceId -> instance record
	recent  []change
	addr    string
	srv     *http.Server
	version int
}

// Start starts a server on a free port.
func Start() (*Server, error) {
	s := &Server{reg: map[string]map[string]any{}}
	return s, s.listen("127.0.0.1:0")
}

// URL is the service URL clients are given.
func (s *Server) URL() string { return "http://" + s.addr + "/eureka" }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

// Stop makes the server unreachable, keeping its registry.
func (s *Server) Stop() { s.srv.Close() }

// Resume serves again on the same port.
func (s *Server) Resume() error { return s.listen(s.addr) }

// Restart stops the server and starts it with an empty registry.
func (s *Server) Restart() error {
	s.Stop()
	s.mu.Lock()
	s.reg, s.recent = map[string]map[string]any{}, nil
	s.mu.Unlock()
	return s.Resume()
}

// Close stops the server.
func (s *Server) Close() { s.Stop() }

func (s *Server) record(inst map[string]any, action string) {
	c := map[string]any{}
	for k, v := range inst {
		c[k] = v
	}
	c["actionType"] = action
	s.recent = append(s.recent, change{time.Now(), c})
	// Eureka keeps three minutes of changes for deltas.
	for len(s.recent) > 0 && time.Since(s.recent[0].at) > 3*time.Minute {
		s.recent = s.recent[1:]
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/eureka/apps"), "/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/eureka/apps") {
		http.NotFound(w, r)
		return
	}
	if parts[0] == "" {
		parts = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && len(parts) == 0:
		s.writeApps(w, s.all())
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "delta":
		var insts []map[string]any
		for _, c := range s.recent {
			insts = append(insts, c.inst)
		}
		s.writeApps(w, insts)
	case r.Method == http.MethodGet && len(parts) == 1:
		app := strings.ToUpper(parts[0])
		insts := s.app(app)
		if len(insts) == 0 {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"application": map[string]any{"name": app, "instance": insts}})
	case r.Method == http.MethodPost && len(parts) == 1:
		var body struct {
			Instance map[string]any `json:"instance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Instance == nil {
			http.Error(w, fmt.Sprintf("bad instance: %v", err), http.StatusBadRequest)
			return
		}
		app := strings.ToUpper(parts[0])
		in := body.Instance
		in["app"] = app
		id, _ := in["instanceId"].(string)
		if id == "" {
			id, _ = in["hostName"].(string)
			in["instanceId"] = id
		}
		if _, ok := in["status"]; !ok {
			in["status"] = "UP"
		}
		action := "ADDED"
		if _, ok := s.reg[app+"/"+id]; ok {
			action = "MODIFIED"
		}
		s.reg[app+"/"+id] = in
		s.record(in, action)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut && len(parts) == 2: // heartbeat
		if _, ok := s.reg[strings.ToUpper(parts[0])+"/"+parts[1]]; !ok {
			http.NotFound(w, r)
			return
		}
	case r.Method == http.MethodPut && len(parts) == 3 && parts[2] == "status":
		in, ok := s.reg[strings.ToUpper(parts[0])+"/"+parts[1]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		in["status"] = r.URL.Query().Get("value")
		s.record(in, "MODIFIED")
	case r.Method == http.MethodDelete && len(parts) == 2:
		k := strings.ToUpper(parts[0]) + "/" + parts[1]
		in, ok := s.reg[k]
		if !ok {
			http.NotFound(w, r)
			return
		}
		delete(s.reg, k)
		s.record(in, "DELETED")
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
}

func (s *Server) all() []map[string]any {
	var out []map[string]any
	for _, in := range s.reg {
		out = append(out, in)
	}
	return out
}

func (s *Server) app(name string) []map[string]any {
	var out []map[string]any
	for _, in := range s.reg {
		if in["app"] == name {
			out = append(out, in)
		}
	}
	return out
}

// writeApps writes instances grouped by application, with the hashcode of
// the whole registry, as Eureka does for both full and delta answers.
func (s *Server) writeApps(w http.ResponseWriter, insts []map[string]any) {
	byApp := map[string][]map[string]any{}
	for _, in := range insts {
		a, _ := in["app"].(string)
		byApp[a] = append(byApp[a], in)
	}
	apps := []map[string]any{}
	for a, is := range byApp {
		apps = append(apps, map[string]any{"name": a, "instance": is})
	}
	counts := map[string]int{}
	for _, in := range s.reg {
		st, _ := in["status"].(string)
		counts[st]++
	}
	var st []string
	for k := range counts {
		st = append(st, k)
	}
	sort.Strings(st)
	var hash strings.Builder
	for _, k := range st {
		fmt.Fprintf(&hash, "%s_%d_", k, counts[k])
	}
	s.version++
	writeJSON(w, map[string]any{"applications": map[string]any{
		"versions__delta": fmt.Sprint(s.version), "apps__hashcode": hash.String(), "application": apps}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
