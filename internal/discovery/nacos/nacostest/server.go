// Package nacostest is a Nacos test server implementing the documented v1
// HTTP naming API (register, deregister, beat and list instances) for
// tests; Nacos itself is a Java server.
package nacostest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Instance is one registered instance, as the v1 API writes it.
type Instance struct {
	InstanceID  string            `json:"instanceId"`
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName"`
	ServiceName string            `json:"serviceName"`
	Metadata    map[string]string `json:"metadata"`
}

// Server is a Nacos naming server on 127.0.0.1.
type Server struct {
	mu       sync.Mutex
	services map[string]map[string]Instance // namespace\x00group@@service -> instanceId -> instance
	addr     string
	srv      *http.Server
	ln       net.Listener
}

// Start starts a server on a free port.
func Start() (*Server, error) {
	s := &Server{services: map[string]map[string]Instance{}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is host:port of the HTTP API.
func (s *Server) Addr() string { return s.addr }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/nacos/v1/ns/instance", s.instance)
	mux.HandleFunc("/nacos/v1/ns/instance/list", s.list)
	mux.HandleFunc("/nacos/v1/ns/instance/beat", s.beat)
	s.ln, s.addr = ln, ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

// Stop makes the server unreachable, keeping its registry.
func (s *Server) Stop() { s.srv.Close() }

// Resume serves again on the same port after Stop.
func (s *Server) Resume() error { return s.listen(s.addr) }

// Restart stops the server and starts it again with an empty registry.
func (s *Server) Restart() error {
	s.Stop()
	s.mu.Lock()
	s.services = map[string]map[string]Instance{}
	s.mu.Unlock()
	return s.Resume()
}

// Close stops the server.
func (s *Server) Close() { s.Stop() }

func key(r *http.Request) (string, string, error) {
	q := r.URL.Query()
	name := q.Get("serviceName")
	if name == "" {
		return "", "", fmt.Errorf("serviceName is required")
	}
	group := q.Get("groupName")
	if group == "" {
		group = "DEFAULT_GROUP"
	}
	if i := strings.Index(name, "@@"); i >= 0 {
		group, name = name[:i], name[i+2:]
	}
	ns := q.Get("namespaceId")
	if ns == "" {
		ns = "public"
	}
	return ns + "\x00" + group + "@@" + name, group + "@@" + name, nil
}

func badRequest(w http.ResponseWriter, err error) {
	http.Error(w, "caused: "+err.Error(), http.StatusBadRequest)
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		badRequest(w, err)
		return
	}
	r.URL.RawQuery = r.Form.Encode()
	k, full, err := key(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	q := r.Form
	port, err := strconv.Atoi(q.Get("port"))
	if err != nil || q.Get("ip") == "" {
		badRequest(w, fmt.Errorf("ip and port are required"))
		return
	}
	cluster := q.Get("clusterName")
	if cluster == "" {
		cluster = "DEFAULT"
	}
	id := q.Get("ip") + "#" + strconv.Itoa(port) + "#" + cluster + "#" + full
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		in := Instance{InstanceID: id, IP: q.Get("ip"), Port: port, Weight: 1, Healthy: true, Enabled: true,
			Ephemeral: q.Get("ephemeral") != "false", ClusterName: cluster, ServiceName: full, Metadata: map[string]string{}}
		if v := q.Get("weight"); v != "" {
			if in.Weight, err = strconv.ParseFloat(v, 64); err != nil {
				badRequest(w, err)
				return
			}
		}
		in.Healthy = q.Get("healthy") != "false"
		in.Enabled = q.Get("enabled") != "false"
		if m := q.Get("metadata"); m != "" {
			if err := json.Unmarshal([]byte(m), &in.Metadata); err != nil {
				badRequest(w, fmt.Errorf("metadata: %w", err))
				return
			}
		}
		if s.services[k] == nil {
			s.services[k] = map[string]Instance{}
		}
		s.services[k][id] = in
	case http.MethodDelete:
		delete(s.services[k], id)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Write([]byte("ok"))
}

func (s *Server) beat(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}`))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	k, full, err := key(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	clusters := map[string]bool{}
	for _, c := range strings.Split(r.URL.Query().Get("clusters"), ",") {
		if c != "" {
			clusters[c] = true
		}
	}
	healthyOnly := r.URL.Query().Get("healthyOnly") == "true"
	s.mu.Lock()
	hosts := []Instance{}
	for _, in := range s.services[k] {
		if (len(clusters) == 0 || clusters[in.ClusterName]) && (!healthyOnly || in.Healthy) {
			hosts = append(hosts, in)
		}
	}
	s.mu.Unlock()
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].InstanceID < hosts[j].InstanceID })
	hj, _ := json.Marshal(hosts)
	sum := md5.Sum(hj)
	group, name, _ := strings.Cut(full, "@@")
	out, _ := json.Marshal(map[string]any{
		"name": full, "groupName": group, "clusters": r.URL.Query().Get("clusters"), "cacheMillis": 10000,
		"hosts": json.RawMessage(hj), "lastRefTime": time.Now().UnixMilli(), "checksum": hex.EncodeToString(sum[:]),
		"allIPs": false, "reachProtectionThreshold": false, "valid": true, "dom": name,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}
