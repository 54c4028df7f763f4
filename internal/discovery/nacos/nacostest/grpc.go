package nacostest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	nacosgrpc "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_response"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/anypb"
)

// The v2 gRPC naming API. Every message is a Payload whose metadata names
// its type ("InstanceRequest") and whose body is that type's JSON. The
// stubs and the request and response types are the Go SDK's, so the
// payloads are the ones its client sends and expects.
//
// A client first calls Request with a ServerCheckRequest, then opens the
// bi-stream and sends a ConnectionSetupRequest on it; the server knows the
// connection by the client's address from then on and answers its other
// requests. Until then they get an ErrorResponse with code 301 (the
// connection is unregistered), as from Nacos.

// errUnregistered is Nacos's code for a request on a connection that has
// not been set up.
const errUnregistered = 301

func (s *Server) newGRPC() *grpc.Server {
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: 10 * time.Second, PermitWithoutStream: true, // the SDK pings every 60s
	}))
	nacosgrpc.RegisterRequestServer(g, requestServer{s})
	nacosgrpc.RegisterBiRequestStreamServer(g, streamServer{s})
	return g
}

type requestServer struct{ s *Server }

type streamServer struct{ s *Server }

func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}

func ok() *rpc_response.Response {
	return &rpc_response.Response{ResultCode: 200, Success: true}
}

func failed(code int, format string, args ...any) *rpc_response.ErrorResponse {
	return &rpc_response.ErrorResponse{Response: &rpc_response.Response{
		ResultCode: 500, ErrorCode: code, Message: fmt.Sprintf(format, args...)}}
}

func payload(typ string, body any) *nacosgrpc.Payload {
	b, _ := json.Marshal(body)
	return &nacosgrpc.Payload{Metadata: &nacosgrpc.Metadata{Type: typ, Headers: map[string]string{}},
		Body: &anypb.Any{Value: b}}
}

func namingRequest() *rpc_request.NamingRequest {
	return &rpc_request.NamingRequest{Request: &rpc_request.Request{}}
}

// Request answers one request; the response carries its requestId.
func (r requestServer) Request(ctx context.Context, p *nacosgrpc.Payload) (*nacosgrpc.Payload, error) {
	resp := r.s.handle(peerOf(ctx), p.GetMetadata().GetType(), p.GetBody().GetValue())
	var id struct {
		RequestID string `json:"requestId"`
	}
	json.Unmarshal(p.GetBody().GetValue(), &id)
	resp.SetRequestId(id.RequestID)
	return payload(resp.GetResponseType(), resp), nil
}

func (s *Server) handle(from, typ string, body []byte) rpc_response.IResponse {
	if typ == "ServerCheckRequest" {
		return &rpc_response.ServerCheckResponse{Response: ok(), ConnectionId: fmt.Sprintf("%d_%s", time.Now().UnixMilli(), from)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[from]
	if c == nil {
		return failed(errUnregistered, "Connection is unregistered.")
	}
	decode := func(v any) error {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		return nil
	}
	switch typ {
	case "HealthCheckRequest":
		return &rpc_response.HealthCheckResponse{Response: ok()}
	case "InstanceRequest":
		req := rpc_request.InstanceRequest{NamingRequest: namingRequest()}
		if err := decode(&req); err != nil {
			return failed(400, "%v", err)
		}
		if err := s.publish(c, req.NamingRequest, req.Type, []model.Instance{req.Instance}); err != nil {
			return failed(400, "%v", err)
		}
		return &rpc_response.InstanceResponse{Response: ok()}
	case "BatchInstanceRequest":
		req := rpc_request.BatchInstanceRequest{NamingRequest: namingRequest()}
		if err := decode(&req); err != nil {
			return failed(400, "%v", err)
		}
		if err := s.publish(c, req.NamingRequest, req.Type, req.Instances); err != nil {
			return failed(400, "%v", err)
		}
		return &rpc_response.BatchInstanceResponse{Response: ok()}
	case "SubscribeServiceRequest":
		req := rpc_request.SubscribeServiceRequest{NamingRequest: namingRequest()}
		if err := decode(&req); err != nil {
			return failed(400, "%v", err)
		}
		if req.ServiceName == "" {
			return failed(400, "serviceName is required")
		}
		sub := newSubscription(req.Namespace, req.GroupName, req.ServiceName, req.Clusters)
		if req.Subscribe {
			c.subs[sub.id()] = sub
		} else {
			delete(c.subs, sub.id())
			delete(c.dirty, sub.id())
		}
		return &rpc_response.SubscribeServiceResponse{Response: ok(), ServiceInfo: s.serviceInfo(sub, false)}
	case "ServiceQueryRequest":
		req := rpc_request.ServiceQueryRequest{NamingRequest: namingRequest()}
		if err := decode(&req); err != nil {
			return failed(400, "%v", err)
		}
		if req.ServiceName == "" {
			return failed(400, "serviceName is required")
		}
		sub := newSubscription(req.Namespace, req.GroupName, req.ServiceName, req.Cluster)
		return &rpc_response.QueryServiceResponse{Response: ok(), ServiceInfo: s.serviceInfo(sub, req.HealthyOnly)}
	}
	return failed(501, "no handler for %q", typ)
}

// publish registers or deregisters instances for connection c. As in
// Nacos 2, a connection publishes one instance of a service (or one
// batch): a new registration replaces the last, and a deregistration
// removes it.
func (s *Server) publish(c *conn, req *rpc_request.NamingRequest, op string, ins []model.Instance) error {
	if req.ServiceName == "" {
		return fmt.Errorf("serviceName is required")
	}
	k, full := serviceKey(req.Namespace, req.GroupName, req.ServiceName)
	var add []Instance
	switch op {
	case "registerInstance", "batchRegisterInstance":
		for _, in := range ins {
			if in.Ip == "" || in.Port < 1 || in.Port > 65535 {
				return fmt.Errorf("instance %s:%d: ip and a port in 1-65535 are required", in.Ip, in.Port)
			}
			cluster := in.ClusterName
			if cluster == "" {
				cluster = "DEFAULT"
			}
			md := map[string]string{}
			for k, v := range in.Metadata {
				md[k] = v
			}
			add = append(add, Instance{InstanceID: instanceID(in.Ip, int(in.Port), cluster, full), IP: in.Ip, Port: int(in.Port),
				Weight: in.Weight, Healthy: in.Healthy, Enabled: in.Enable, Ephemeral: true, ClusterName: cluster,
				ServiceName: full, Metadata: md, conn: c.id})
		}
	case "deregisterInstance":
	default:
		return fmt.Errorf("type %q is not registerInstance, batchRegisterInstance or deregisterInstance", op)
	}
	s.unpublish(c, k)
	for _, in := range add {
		s.put(k, in)
		c.published[k] = append(c.published[k], in.InstanceID)
	}
	s.changed(k)
	return nil
}

// unpublish removes what c published of service k; the caller holds s.mu
// and calls s.changed.
func (s *Server) unpublish(c *conn, k string) {
	for _, id := range c.published[k] {
		if in, ok := s.services[k][id]; ok && in.conn == c.id {
			delete(s.services[k], id)
		}
	}
	delete(c.published, k)
}

// serviceInfo is what a subscriber of sub is told; the caller holds s.mu.
func (s *Server) serviceInfo(sub subscription, healthyOnly bool) model.Service {
	svc := model.Service{Name: sub.name, GroupName: sub.group, Clusters: sub.clusters, CacheMillis: 10000,
		LastRefTime: uint64(s.refTime()), Valid: true, Hosts: []model.Instance{}}
	for _, in := range s.hosts(sub.key, clusterSet(sub.clusters), healthyOnly) {
		svc.Hosts = append(svc.Hosts, model.Instance{InstanceId: in.InstanceID, Ip: in.IP, Port: uint64(in.Port),
			Weight: in.Weight, Healthy: in.Healthy, Enable: in.Enabled, Ephemeral: in.Ephemeral,
			ClusterName: in.ClusterName, ServiceName: in.ServiceName, Metadata: in.Metadata})
	}
	return svc
}
