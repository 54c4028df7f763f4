package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"pylon.io/pylon/test/e2e/backends"
)

func TestGRPC(t *testing.T) {
	t.Parallel()
	env := startTLSEnv(t)
	conns := map[string]grpc.DialOption{
		"h2c listener": grpc.WithTransportCredentials(insecure.NewCredentials()),
		"tls listener": grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: env.ca.Pool, ServerName: "tls.example.com"})),
	}
	addrs := map[string]string{"h2c listener": env.h2c, "tls listener": env.https}
	for name, creds := range conns {
		t.Run(name, func(t *testing.T) {
			cc, err := grpc.NewClient("passthrough:///"+addrs[name], creds)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			testGRPCCalls(t, cc)
		})
	}
}

func testGRPCCalls(t *testing.T, cc *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	checkTrailer := func(t *testing.T, tr metadata.MD, method string, count int) {
		t.Helper()
		if got := tr.Get(backends.TrailerMethod); len(got) != 1 || got[0] != method {
			t.Errorf("trailer %s = %q, want %s", backends.TrailerMethod, got, method)
		}
		if got := tr.Get(backends.TrailerCount); len(got) != 1 || got[0] != fmt.Sprint(count) {
			t.Errorf("trailer %s = %q, want %d", backends.TrailerCount, got, count)
		}
	}

	t.Run("unary", func(t *testing.T) {
		var header, trailer metadata.MD
		octx := metadata.AppendToOutgoingContext(ctx, backends.HeaderEcho, "ping-meta")
		got, err := backends.CallUnary(octx, cc, "hello", grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if got != "hello" {
			t.Fatalf("got %q", got)
		}
		if v := header.Get(backends.HeaderEcho); len(v) != 1 || v[0] != "ping-meta" {
			t.Errorf("header %s = %q: request metadata did not pass through", backends.HeaderEcho, v)
		}
		if v := header.Get(backends.HeaderBackend); len(v) != 1 || v[0] != "grpc" {
			t.Errorf("header %s = %q", backends.HeaderBackend, v)
		}
		checkTrailer(t, trailer, backends.MethodUnary, 1)
	})

	t.Run("error status", func(t *testing.T) {
		var trailer metadata.MD
		_, err := backends.CallUnary(ctx, cc, fmt.Sprintf("status:%d", codes.PermissionDenied), grpc.Trailer(&trailer))
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.PermissionDenied || st.Message() != "requested status 7" {
			t.Fatalf("got %v, want PermissionDenied \"requested status 7\"", err)
		}
		checkTrailer(t, trailer, backends.MethodUnary, 1)
	})

	t.Run("server streaming", func(t *testing.T) {
		s, err := backends.OpenStream(ctx, cc, backends.MethodServerStream)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendMsg(wrapperspb.String("v")); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m := new(wrapperspb.StringValue)
			err := s.RecvMsg(m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.GetValue())
		}
		if len(got) != backends.ServerStreamCount || got[0] != "v 0" || got[len(got)-1] != fmt.Sprintf("v %d", backends.ServerStreamCount-1) {
			t.Fatalf("got %q", got)
		}
		checkTrailer(t, s.Trailer(), backends.MethodServerStream, 1)
	})

	t.Run("client streaming", func(t *testing.T) {
		s, err := backends.OpenStream(ctx, cc, backends.MethodClientStream)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 20 {
			v := fmt.Sprintf("m%d", i)
			want = append(want, v)
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); err != nil {
			t.Fatal(err)
		}
		if m.GetValue() != strings.Join(want, ",") {
			t.Fatalf("got %q", m.GetValue())
		}
		if err := s.RecvMsg(m); !errors.Is(err, io.EOF) {
			t.Fatalf("after the answer: %v, want EOF", err)
		}
		checkTrailer(t, s.Trailer(), backends.MethodClientStream, 20)
	})

	t.Run("bidi streaming", func(t *testing.T) {
		s, err := backends.OpenStream(ctx, cc, backends.MethodBidi)
		if err != nil {
			t.Fatal(err)
		}
		// Ping-pong proves messages flow both ways while the stream is open.
		for i := range 50 {
			v := fmt.Sprintf("b%d", i)
			if err := s.SendMsg(wrapperspb.String(v)); err != nil {
				t.Fatal(err)
			}
			m := new(wrapperspb.StringValue)
			if err := s.RecvMsg(m); err != nil {
				t.Fatal(err)
			}
			if m.GetValue() != v {
				t.Fatalf("message %d: got %q", i, m.GetValue())
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v, want EOF", err)
		}
		checkTrailer(t, s.Trailer(), backends.MethodBidi, 50)
	})
}
