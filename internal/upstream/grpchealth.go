package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// grpcProbe asks the endpoint's grpc.health.v1.Health/Check about
// a.GRPCService over the pool's own HTTP/2 transport, so the probe keeps a
// connection of the kind traffic uses warm and costs no connection of its
// own. It passes on SERVING and fails on anything else: another status, a
// grpc-status other than OK (UNIMPLEMENTED: the server has no health
// service; NOT_FOUND: it does not know the service), or no answer.
func grpcProbe(ctx context.Context, tr *transport, e *Endpoint, a *ActiveCheck, host string) error {
	if tr.h2 == nil {
		return errors.New("the pool does not speak HTTP/2")
	}
	msg, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: a.GRPCService})
	if err != nil {
		return err
	}
	body := make([]byte, 5, 5+len(msg)) // uncompressed flag, then the length
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)
	scheme := "https"
	if tr.key.protocol == H2C {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+e.addr+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "pylon-health-check")
	resp, err := tr.h2.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	// A trailers-only answer carries grpc-status in the headers.
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	if status != "0" {
		if m := resp.Trailer.Get("Grpc-Message") + resp.Header.Get("Grpc-Message"); m != "" {
			return fmt.Errorf("grpc-status %s: %s", status, m)
		}
		return fmt.Errorf("grpc-status %q", status)
	}
	if len(data) < 5 || data[0] != 0 || int(binary.BigEndian.Uint32(data[1:5])) != len(data)-5 {
		return fmt.Errorf("not one uncompressed gRPC message (%d bytes)", len(data))
	}
	var out healthpb.HealthCheckResponse
	if err := proto.Unmarshal(data[5:], &out); err != nil {
		return err
	}
	if out.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %s", out.GetStatus())
	}
	return nil
}
