package upstream

import (
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcServer runs a real gRPC server over h2c; with hs nil it has no
// health service.
func grpcServer(t *testing.T, hs *health.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	if hs != nil {
		healthpb.RegisterHealthServer(s, hs)
	}
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

// TestActiveGRPCCheck: a grpc check asks grpc.health.v1 and follows what
// the server says of the service; a server without the health service, or
// one that does not know the service, fails it.
func TestActiveGRPCCheck(t *testing.T) {
	r := testRegistry(t)
	hs := health.NewServer()
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	withHealth, without := grpcServer(t, hs), grpcServer(t, nil)
	check := fastCheck("grpc")
	check.GRPCService = "orders.v1.Orders"
	p, err := r.Acquire(Config{Name: "orders", Protocol: H2C, Endpoints: []EndpointConfig{{Address: withHealth, Weight: 1}, {Address: without, Weight: 1}}, Active: check})
	if err != nil {
		t.Fatal(err)
	}
	ok, bad := p.Endpoints()[0], p.Endpoints()[1]
	if ok.Address() != withHealth {
		ok, bad = bad, ok
	}
	waitFor(t, 2*time.Second, "the server without a health service unhealthy", func() bool { return !bad.Healthy() })
	if !ok.Healthy() {
		t.Fatal("the serving endpoint was marked unhealthy")
	}
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, 2*time.Second, "NOT_SERVING unhealthy", func() bool { return !ok.Healthy() })
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, 2*time.Second, "SERVING healthy again", ok.Healthy)

	// An unknown service: NOT_FOUND.
	check.GRPCService = "nobody.v1.Nobody"
	if err := grpcProbe(t.Context(), p.tr.Load(), ok, check, ok.Address()); err == nil || !strings.Contains(err.Error(), "grpc-status 5") {
		t.Errorf("an unknown service: %v, want grpc-status 5 (NOT_FOUND)", err)
	}

	if _, err := r.Acquire(Config{Name: "plain", Endpoints: []EndpointConfig{{Address: withHealth, Weight: 1}}, Active: fastCheck("grpc")}); err == nil || !strings.Contains(err.Error(), "grpc check needs protocol http2 or h2c") {
		t.Errorf("a grpc check on an HTTP/1.1 pool: %v", err)
	}
}
