// Package nacostest is a Nacos test server for tests; Nacos itself is a
// Java server. It implements the documented v1 HTTP naming API (register,
// deregister, beat and list instances) on its HTTP port and the v2 gRPC
// naming API (connection setup on the bi-stream, instance registration,
// subscriptions with pushes, service queries) on its gRPC port, which is
// the HTTP port + 1000 as in Nacos. Instances registered either way are
// one registry.
package nacostest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// Instance is one registered instance, as both APIs write it.
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

	conn string // the gRPC connection that published it; "" for HTTP
}

// GRPCPortOffset is how far the gRPC port is from the HTTP port: Nacos's
// convention, which its clients follow when no gRPC port is given.
const GRPCPortOffset = 1000

// Server is a Nacos naming server on 127.0.0.1.
type Server struct {
	mu       sync.Mutex
	services map[string]map[string]Instance // namespace\x00group@@service -> instanceId -> instance
	conns    map[string]*conn               // gRPC connections by the client's address
	lastRef  int64                          // the newest lastRefTime handed out
	pushes   int                            // NotifySubscriberRequests sent
	acks     int                            // and acknowledged
	addr     string
	grpcAddr string
	srv      *http.Server
	gsrv     *grpc.Server
}

// Start starts a server on a free HTTP port whose gRPC port (+1000) is
// free too.
func Start() (*Server, error) {
	s := &Server{services: map[string]map[string]Instance{}, conns: map[string]*conn{}}
	var errs []error
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if port+GRPCPortOffset > 65535 {
			ln.Close()
			continue
		}
		gln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+GRPCPortOffset))
		if err != nil {
			ln.Close()
			errs = append(errs, err)
			continue
		}
		s.serve(ln, gln)
		return s, nil
	}
	return nil, fmt.Errorf("nacostest: no free port pair P, P+%d: %w", GRPCPortOffset, errors.Join(errs...))
}

// Addr is host:port of the HTTP API (what clients are configured with).
func (s *Server) Addr() string { return s.addr }

// GRPCAddr is host:port of the gRPC API.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

func (s *Server) serve(ln, gln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/nacos/v1/ns/instance", s.instance)
	mux.HandleFunc("/nacos/v1/ns/instance/list", s.list)
	mux.HandleFunc("/nacos/v1/ns/instance/beat", s.beat)
	s.addr, s.grpcAddr = ln.Addr().String(), gln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.gsrv = s.newGRPC()
	go s.srv.Serve(ln)
	go s.gsrv.Serve(gln)
}

// Stop makes the server unreachable. Its gRPC connections end, and with
// them the instances they published (as Nacos drops a client's ephemeral
// instances); instances registered over HTTP are kept.
func (s *Server) Stop() {
	s.srv.Close()
	s.gsrv.Stop()
}

// Resume serves again on the same ports after Stop.
func (s *Server) Resume() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	gln, err := net.Listen("tcp", s.grpcAddr)
	if err != nil {
		ln.Close()
		return err
	}
	s.serve(ln, gln)
	return nil
}

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

// Pushes returns how many NotifySubscriberRequests the server sent and
// how many of them the clients acknowledged.
func (s *Server) Pushes() (sent, acked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes, s.acks
}

// Connections returns how many gRPC clients are connected and how many
// subscriptions they hold.
func (s *Server) Connections() (conns, subscriptions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		subscriptions += len(c.subs)
	}
	return len(s.conns), subscriptions
}

// serviceKey is the registry's key of a service and its grouped name.
func serviceKey(ns, group, name string) (string, string) {
	if ns == "" {
		ns = "public"
	}
	if group == "" {
		group = "DEFAULT_GROUP"
	}
	return ns + "\x00" + group + "@@" + name, group + "@@" + name
}

func instanceID(ip string, port int, cluster, full string) string {
	return ip + "#" + strconv.Itoa(port) + "#" + cluster + "#" + full
}

// put stores in under key k; the caller holds s.mu and calls s.changed.
func (s *Server) put(k string, in Instance) {
	if s.services[k] == nil {
		s.services[k] = map[string]Instance{}
	}
	s.services[k][in.InstanceID] = in
}

// hosts returns the instances of k in clusters (all for none), in ID
// order; the caller holds s.mu.
func (s *Server) hosts(k string, clusters map[string]bool, healthyOnly bool) []Instance {
	hosts := []Instance{}
	for _, in := range s.services[k] {
		if (len(clusters) == 0 || clusters[in.ClusterName]) && (!healthyOnly || in.Healthy) {
			hosts = append(hosts, in)
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].InstanceID < hosts[j].InstanceID })
	return hosts
}

// refTime returns a lastRefTime newer than every one handed out before,
// so a client that drops answers older than what it has (the Go SDK does)
// takes each change, even two within a millisecond.
func (s *Server) refTime() int64 {
	t := time.Now().UnixMilli()
	if t <= s.lastRef {
		t = s.lastRef + 1
	}
	s.lastRef = t
	return t
}
