package ir

import (
	"strings"
	"testing"
)

func TestGRPCHealthCheckValidation(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		active   ActiveHealthCheck
		want     string // "" = valid
	}{
		{UpstreamH2C, ActiveHealthCheck{Type: "grpc", GRPCService: "orders.v1.Orders"}, ""},
		{UpstreamHTTP2, ActiveHealthCheck{Type: "grpc"}, ""},
		{"", ActiveHealthCheck{Type: "grpc"}, `healthCheck.active.type: grpc needs the service's protocol to be http2 or h2c (got "http1")`},
		{UpstreamH2C, ActiveHealthCheck{Type: "grpc", Path: "/healthz"}, "path and expectedStatuses are for http checks"},
		{"", ActiveHealthCheck{Type: "http", GRPCService: "x"}, "healthCheck.active.grpcService: only with type grpc"},
		{"", ActiveHealthCheck{Type: "udp"}, `must be http, tcp or grpc (got "udp")`},
	} {
		s := &Service{Name: "s", Protocol: tc.protocol, Endpoints: []Endpoint{{Address: "127.0.0.1:9000"}}, HealthCheck: &HealthCheck{Active: &tc.active}}
		err := s.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want %q", tc.protocol, tc.active, err, tc.want)
		}
	}
}
