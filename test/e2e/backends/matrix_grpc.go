package backends

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// MatrixMethod is a method the matrix backend answers; it answers any
// other too. Its messages are google.protobuf.StringValue.
const MatrixMethod = "/pylon.test.v1.Matrix/Call"

// TrailerMatrix is the trailer every matrix gRPC call ends with.
const TrailerMatrix = "x-matrix-trailer"

// grpcCall serves any gRPC method. The first request message says what to
// do:
//
//	"" or anything else  one message: the JSON of the Saw (the call's metadata as headers)
//	delay:MS             the same after MS milliseconds (or until the caller cancels)
//	stream:N:MS          N messages "event I", MS apart
//	status:N             fail with gRPC status code N
//
// Every call ends with the trailer x-matrix-trailer: done.
func (m *matrix) grpcCall(_ any, stream grpc.ServerStream) error {
	ctx := stream.Context()
	method, _ := grpc.MethodFromServerStream(stream)
	md, _ := metadata.FromIncomingContext(ctx)
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	saw := Saw{Backend: m.name, Method: http.MethodPost, URI: method, Proto: "HTTP/2.0", Header: http.Header{}}
	for k, vv := range md {
		if k == ":authority" {
			saw.Host = vv[0]
			continue
		}
		for _, v := range vv {
			saw.Header.Add(http.CanonicalHeaderKey(k), v)
		}
	}
	var key string
	if v := md.Get(strings.ToLower(KeyHeader)); len(v) > 0 {
		key = v[0]
	}
	m.j.add(key, saw)
	stream.SetTrailer(metadata.Pairs(TrailerMatrix, "done"))
	// Set, not sent: the headers go with the first message, so a delayed
	// call also delays its response headers (what a per-try timeout waits for).
	if err := stream.SetHeader(metadata.Pairs(HeaderBackend, m.name)); err != nil {
		return err
	}
	cmd, arg, _ := strings.Cut(in.GetValue(), ":")
	switch cmd {
	case "delay":
		ms, _ := strconv.Atoi(arg)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	case "stream":
		ns, ms, _ := strings.Cut(arg, ":")
		n, _ := strconv.Atoi(ns)
		interval, _ := strconv.Atoi(ms)
		for i := range n {
			if i > 0 {
				select {
				case <-time.After(time.Duration(interval) * time.Millisecond):
				case <-ctx.Done():
					return status.FromContextError(ctx.Err()).Err()
				}
			}
			if err := stream.SendMsg(wrapperspb.String(fmt.Sprintf("event %d", i))); err != nil {
				return err
			}
		}
		return nil
	case "status":
		code, _ := strconv.Atoi(arg)
		return status.Errorf(codes.Code(code), "requested status %d", code)
	}
	out, err := json.Marshal(saw)
	if err != nil {
		return err
	}
	return stream.SendMsg(wrapperspb.String(string(out)))
}
