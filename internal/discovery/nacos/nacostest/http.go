package nacostest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The v1 HTTP naming API: POST/PUT/DELETE /nacos/v1/ns/instance,
// PUT /nacos/v1/ns/instance/beat and GET /nacos/v1/ns/instance/list.

func key(r *http.Request) (string, string, error) {
	q := r.URL.Query()
	name := q.Get("serviceName")
	if name == "" {
		return "", "", fmt.Errorf("serviceName is required")
	}
	group := q.Get("groupName")
	if i := strings.Index(name, "@@"); i >= 0 {
		group, name = name[:i], name[i+2:]
	}
	k, full := serviceKey(q.Get("namespaceId"), group, name)
	return k, full, nil
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
	id := instanceID(q.Get("ip"), port, cluster, full)
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
		// The docs name the field "enabled"; the Go SDK sends "enable".
		in.Enabled = q.Get("enabled") != "false" && q.Get("enable") != "false"
		if m := q.Get("metadata"); m != "" {
			if err := json.Unmarshal([]byte(m), &in.Metadata); err != nil {
				badRequest(w, fmt.Errorf("metadata: %w", err))
				return
			}
		}
		s.put(k, in)
	case http.MethodDelete:
		delete(s.services[k], id)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.changed(k)
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
	clusters := clusterSet(r.URL.Query().Get("clusters"))
	healthyOnly := r.URL.Query().Get("healthyOnly") == "true"
	s.mu.Lock()
	hosts := s.hosts(k, clusters, healthyOnly)
	ref := s.refTime()
	s.mu.Unlock()
	hj, _ := json.Marshal(hosts)
	sum := md5.Sum(hj)
	group, name, _ := strings.Cut(full, "@@")
	out, _ := json.Marshal(map[string]any{
		"name": full, "groupName": group, "clusters": r.URL.Query().Get("clusters"), "cacheMillis": 10000,
		"hosts": json.RawMessage(hj), "lastRefTime": ref, "checksum": hex.EncodeToString(sum[:]),
		"allIPs": false, "reachProtectionThreshold": false, "valid": true, "dom": name,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// clusterSet reads a comma-separated cluster list.
func clusterSet(s string) map[string]bool {
	set := map[string]bool{}
	for c := range strings.SplitSeq(s, ",") {
		if c != "" {
			set[c] = true
		}
	}
	return set
}
