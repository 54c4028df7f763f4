package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCUnary(t *testing.T) {
	cc := dialGRPC(t, StartGRPC(t))
	ctx := metadata.AppendToOutgoingContext(testCtx(t), HeaderEcho, "abc")
	var header, trailer metadata.MD
	got, err := CallUnary(ctx, cc, "hi", grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil || got != "hi" {
		t.Fatalf("Unary = %q, %v", got, err)
	}
	if fmt.Sprint(header.Get(HeaderBackend), header.Get(HeaderEcho)) != "[grpc] [abc]" {
		t.Errorf("header = %v", header)
	}
	if fmt.Sprint(trailer.Get(TrailerMethod), trailer.Get(TrailerCount)) != "["+MethodUnary+"] [1]" {
		t.Errorf("trailer = %v", trailer)
	}

	_, err = CallUnary(ctx, cc, "status:7", grpc.Trailer(&trailer))
	if status.Code(err) != codes.PermissionDenied || len(trailer.Get(TrailerMethod)) != 1 {
		t.Errorf("status:7 gave %v, trailer %v", err, trailer)
	}
}

func TestGRPCStreams(t *testing.T) {
	cc := dialGRPC(t, StartGRPC(t))
	ctx := testCtx(t)

	t.Run("server", func(t *testing.T) {
		s, err := OpenStream(ctx, cc, MethodServerStream)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendMsg(wrapperspb.String("v")); err != nil {
			t.Fatal(err)
		}
		s.CloseSend()
		got := recvAll(t, s)
		if len(got) != ServerStreamCount || got[0] != "v 0" {
			t.Fatalf("got %q", got)
		}
		if s.Trailer().Get(TrailerMethod)[0] != MethodServerStream {
			t.Errorf("trailer = %v", s.Trailer())
		}
	})
	t.Run("client", func(t *testing.T) {
		s, err := OpenStream(ctx, cc, MethodClientStream)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a", "b", "c"} {
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
		}
		s.CloseSend()
		if got := recvAll(t, s); strings.Join(got, "|") != "a,b,c" {
			t.Fatalf("got %q", got)
		}
		if s.Trailer().Get(TrailerCount)[0] != "3" {
			t.Errorf("trailer = %v", s.Trailer())
		}
	})
	t.Run("bidi", func(t *testing.T) {
		s, err := OpenStream(ctx, cc, MethodBidi)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"x", "y"} {
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
			in := new(wrapperspb.StringValue)
			if err := s.RecvMsg(in); err != nil || in.GetValue() != v {
				t.Fatalf("bidi echo of %q: %q, %v", v, in.GetValue(), err)
			}
		}
		s.CloseSend()
		recvAll(t, s)
		if s.Trailer().Get(TrailerCount)[0] != "2" {
			t.Errorf("trailer = %v", s.Trailer())
		}
	})
}

func TestGRPCHealth(t *testing.T) {
	cc := dialGRPC(t, StartGRPC(t))
	resp, err := healthpb.NewHealthClient(cc).Check(testCtx(t), &healthpb.HealthCheckRequest{Service: EchoService})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v", resp, err)
	}
}

func recvAll(t *testing.T, s grpc.ClientStream) []string {
	t.Helper()
	var got []string
	for {
		in := new(wrapperspb.StringValue)
		err := s.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in.GetValue())
	}
}
