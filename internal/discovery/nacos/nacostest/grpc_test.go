package nacostest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	nacosgrpc "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_response"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The gRPC protocol's edges, spoken with the SDK's stubs by hand: what
// the SDK's client never does (skip the connection setup, leave a push
// unacknowledged).

func request(t *testing.T, c nacosgrpc.RequestClient, typ string, body any) map[string]any {
	t.Helper()
	resp, err := c.Request(context.Background(), payload(typ, body))
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.GetBody().GetValue(), &out); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	out["type"] = resp.GetMetadata().GetType()
	return out
}

func TestGRPCConnectionSetupAndPushAcks(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cc, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rc := nacosgrpc.NewRequestClient(cc)

	check := request(t, rc, "ServerCheckRequest", rpc_request.NewServerCheckRequest())
	if check["type"] != "ServerCheckResponse" || check["connectionId"] == "" || check["resultCode"] != 200.0 {
		t.Fatalf("ServerCheck = %v", check)
	}
	sub := rpc_request.NewSubscribeServiceRequest("", "orders", "shop", "", true)
	sub.RequestId = "s1"
	if got := request(t, rc, "SubscribeServiceRequest", sub); got["type"] != "ErrorResponse" || got["errorCode"] != 301.0 {
		t.Fatalf("subscribe before the connection setup = %v, want ErrorResponse 301", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := nacosgrpc.NewBiRequestStreamClient(cc).RequestBiStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(payload("ConnectionSetupRequest", rpc_request.NewConnectionSetupRequest())); err != nil {
		t.Fatal(err)
	}
	pushes := make(chan rpc_request.NotifySubscriberRequest, 16)
	go func() {
		for {
			p, err := stream.Recv()
			if err != nil {
				close(pushes)
				return
			}
			req := rpc_request.NotifySubscriberRequest{NamingRequest: namingRequest()}
			if p.GetMetadata().GetType() == "NotifySubscriberRequest" && json.Unmarshal(p.GetBody().GetValue(), &req) == nil {
				pushes <- req
			}
		}
	}()
	eventually(t, "subscribe after the setup", func() (bool, string) {
		got := request(t, rc, "SubscribeServiceRequest", sub)
		return got["type"] == "SubscribeServiceResponse" && got["requestId"] == "s1", got["type"].(string)
	})

	v := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "ip": {"127.0.0.2"}, "port": {"80"}}
	resp, err := http.Post("http://"+s.Addr()+"/nacos/v1/ns/instance?"+v.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	next := func(within time.Duration) *rpc_request.NotifySubscriberRequest {
		select {
		case p, ok := <-pushes:
			if !ok {
				t.Fatal("stream ended")
			}
			return &p
		case <-time.After(within):
			return nil
		}
	}
	first := next(2 * time.Second)
	if first == nil || len(first.ServiceInfo.Hosts) != 1 || first.ServiceInfo.Name != "orders" || first.ServiceInfo.GroupName != "shop" || first.RequestId == "" {
		t.Fatalf("push = %+v", first)
	}
	// Not acknowledged: sent again, newer.
	again := next(3 * time.Second)
	if again == nil || again.RequestId == first.RequestId || again.ServiceInfo.LastRefTime <= first.ServiceInfo.LastRefTime {
		t.Fatalf("unacknowledged push not sent again: %+v after %+v", again, first)
	}
	ack := rpc_response.NotifySubscriberResponse{Response: &rpc_response.Response{ResultCode: 200, Success: true, RequestId: again.RequestId}}
	if err := stream.Send(payload(ack.GetResponseType(), ack)); err != nil {
		t.Fatal(err)
	}
	if p := next(2 * ackTimeout); p != nil {
		t.Fatalf("acknowledged push sent again: %+v", p)
	}
	if _, acked := s.Pushes(); acked != 1 {
		t.Fatalf("acks = %d, want 1", acked)
	}
}
