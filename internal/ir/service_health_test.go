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

func TestTagValidation(t *testing.T) {
	s := &Service{Name: "s", Endpoints: []Endpoint{{Address: "127.0.0.1:9000", Tags: []string{"gray", "", "a b"}}}}
	err := s.Validate()
	for _, want := range []string{`endpoints[0].tags[1]: must be 1-63 printable ASCII`, `endpoints[0].tags[2]`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad tags: %v, want %q", err, want)
		}
	}
	r := &Route{Name: "r", Backends: []Backend{{Service: "s"}}, TagHeader: "x pylon tag"}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), `tagHeader: must be a header name (got "x pylon tag")`) {
		t.Errorf("a bad tag header: %v", err)
	}
	if _, err := DecodeJSON(KindService, []byte(`{"name":"s","endpoints":[{"address":"127.0.0.1:1","tags":["gray"],"tag":"x"}]}`)); err == nil || !strings.Contains(err.Error(), "tag: unknown field") {
		t.Errorf("a misspelt endpoint field: %v", err)
	}
}
