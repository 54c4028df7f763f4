package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The gRPC echo service. Its messages are google.protobuf.StringValue, so it
// needs no generated code; the service descriptor below is written by hand.
const (
	EchoService = "pylon.test.v1.Echo"

	// MethodUnary echoes the request. A request of "status:N" fails with
	// gRPC status code N instead (message "requested status N").
	MethodUnary = "/" + EchoService + "/Unary"
	// MethodServerStream answers one request "V" with ServerStreamCount
	// messages "V 0", "V 1", ...
	MethodServerStream = "/" + EchoService + "/ServerStream"
	// MethodClientStream answers a stream of requests with one message,
	// the requests joined by ",".
	MethodClientStream = "/" + EchoService + "/ClientStream"
	// MethodBidi echoes every message as it arrives.
	MethodBidi = "/" + EchoService + "/Bidi"

	// ServerStreamCount is how many messages MethodServerStream sends.
	ServerStreamCount = 5
)

// Metadata the gRPC backend sets on every call, so tests can check that
// headers and trailers pass through the proxy end to end.
const (
	HeaderBackend  = "x-backend"        // response header: the backend's name
	HeaderEcho     = "x-echo"           // response header: the request's x-echo metadata, if any
	TrailerMethod  = "x-trailer-method" // trailer: the full method name
	TrailerCount   = "x-trailer-count"  // trailer: messages received from the client
	TrailerBackend = "x-trailer-backend"
)

type echoServer struct{ name string }

// begin sends the response headers of a call.
func (s *echoServer) begin(ctx context.Context, sendHeader func(metadata.MD) error) error {
	md := metadata.Pairs(HeaderBackend, s.name)
	if in, ok := metadata.FromIncomingContext(ctx); ok {
		for _, v := range in.Get(HeaderEcho) {
			md.Append(HeaderEcho, v)
		}
	}
	return sendHeader(md)
}

func (s *echoServer) trailer(method string, received int) metadata.MD {
	return metadata.Pairs(TrailerMethod, method, TrailerCount, strconv.Itoa(received), TrailerBackend, s.name)
}

func (s *echoServer) unary(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	if err := s.begin(ctx, func(md metadata.MD) error { return grpc.SendHeader(ctx, md) }); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, s.trailer(MethodUnary, 1)); err != nil {
		return nil, err
	}
	if code, ok := strings.CutPrefix(in.GetValue(), "status:"); ok {
		n, err := strconv.Atoi(code)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad status %q", code)
		}
		return nil, status.Errorf(codes.Code(n), "requested status %d", n)
	}
	return wrapperspb.String(in.GetValue()), nil
}

func (s *echoServer) serverStream(in *wrapperspb.StringValue, stream grpc.ServerStream) error {
	if err := s.begin(stream.Context(), stream.SendHeader); err != nil {
		return err
	}
	stream.SetTrailer(s.trailer(MethodServerStream, 1))
	for i := range ServerStreamCount {
		if err := stream.SendMsg(wrapperspb.String(fmt.Sprintf("%s %d", in.GetValue(), i))); err != nil {
			return err
		}
	}
	return nil
}

func (s *echoServer) clientStream(stream grpc.ServerStream) error {
	if err := s.begin(stream.Context(), stream.SendHeader); err != nil {
		return err
	}
	var got []string
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got = append(got, in.GetValue())
	}
	stream.SetTrailer(s.trailer(MethodClientStream, len(got)))
	return stream.SendMsg(wrapperspb.String(strings.Join(got, ",")))
}

func (s *echoServer) bidi(stream grpc.ServerStream) error {
	if err := s.begin(stream.Context(), stream.SendHeader); err != nil {
		return err
	}
	n := 0
	defer func() { stream.SetTrailer(s.trailer(MethodBidi, n)) }()
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if err := stream.SendMsg(in); err != nil {
			return err
		}
	}
}

// echoServiceDesc is what protoc-gen-go-grpc would generate for:
//
//	service Echo {
//	  rpc Unary(StringValue) returns (StringValue);
//	  rpc ServerStream(StringValue) returns (stream StringValue);
//	  rpc ClientStream(stream StringValue) returns (StringValue);
//	  rpc Bidi(stream StringValue) returns (stream StringValue);
//	}
var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: EchoService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			s := srv.(*echoServer)
			if icpt == nil {
				return s.unary(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: MethodUnary}
			return icpt(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return s.unary(ctx, req.(*wrapperspb.StringValue))
			})
		},
	}},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "ServerStream",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				in := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(in); err != nil {
					return err
				}
				return srv.(*echoServer).serverStream(in, stream)
			},
		},
		{
			StreamName:    "ClientStream",
			ClientStreams: true,
			Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(*echoServer).clientStream(stream) },
		},
		{
			StreamName:    "Bidi",
			ServerStreams: true,
			ClientStreams: true,
			Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(*echoServer).bidi(stream) },
		},
	},
}

// StartGRPC starts a plaintext (h2c) gRPC backend named "grpc" on 127.0.0.1
// and returns its address. It serves the Echo service and the standard
// health service (grpc.health.v1.Health: Check and Watch report SERVING for
// "" and for EchoService).
func StartGRPC(t testing.TB) string {
	t.Helper()
	return StartGRPCNamed(t, "grpc")
}

// StartGRPCNamed is StartGRPC with the name sent in HeaderBackend.
func StartGRPCNamed(t testing.TB, name string) string {
	t.Helper()
	srv := grpc.NewServer()
	srv.RegisterService(&echoServiceDesc, &echoServer{name: name})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(EchoService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	l := listen(t)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		hs.Shutdown()
		srv.Stop()
	})
	return l.Addr().String()
}

// streamDescs lets clients open the Echo service's streams by method name.
var streamDescs = map[string]*grpc.StreamDesc{
	MethodServerStream: &echoServiceDesc.Streams[0],
	MethodClientStream: &echoServiceDesc.Streams[1],
	MethodBidi:         &echoServiceDesc.Streams[2],
}

// CallUnary calls MethodUnary with value over cc.
func CallUnary(ctx context.Context, cc grpc.ClientConnInterface, value string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, MethodUnary, wrapperspb.String(value), out, opts...); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// OpenStream opens one of the Echo service's streaming methods
// (MethodServerStream, MethodClientStream or MethodBidi). Send and receive
// *wrapperspb.StringValue on it.
func OpenStream(ctx context.Context, cc grpc.ClientConnInterface, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	desc, ok := streamDescs[method]
	if !ok {
		return nil, fmt.Errorf("backends: %s is not a streaming method of %s", method, EchoService)
	}
	return cc.NewStream(ctx, desc, method, opts...)
}
