package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"pylon.io/pylon/test/e2e/backends"
)

// streamCases: responses that arrive over time, trailers, cancellations
// and WebSocket messages.
func streamCases() []matrixCase {
	return []matrixCase{
		{name: "sse", skip: notWS("messages are the stream; the websocket case covers them"), run: caseSSE},
		{name: "trailers", skip: trailersSkip, run: caseTrailers},
		{name: "cancel", skip: cancelSkip, run: caseCancel},
		{name: "websocket", skip: onlyWS, run: caseWebSocket},
	}
}

func notWS(why string) func(pair) string {
	return func(p pair) string {
		if p.client.family == famWS {
			return "a WebSocket client: " + why
		}
		return ""
	}
}

func onlyWS(p pair) string {
	if p.client.family != famWS {
		return "WebSocket clients only"
	}
	return ""
}

func trailersSkip(p pair) string {
	switch {
	case p.client.family == famWS:
		return "WebSocket messages have no trailers"
	case p.client.family == famHTTP && !(p.client.h2 && p.up.h2()):
		return "trailers are promised over HTTP/2 end to end (gRPC's framing); HTTP/1.1 trailers are not"
	}
	return ""
}

func cancelSkip(p pair) string {
	switch {
	case p.client.family == famWS:
		return "an upgrade has no request to cancel once spliced"
	case !p.client.h2:
		return "an HTTP/1.1 client cancels only by closing its connection, not a stream (RST_STREAM) the gateway can tell apart"
	}
	return ""
}

const sseEvents, sseInterval = 4, 250 * time.Millisecond

// caseSSE: events the upstream flushes one by one reach the client one by
// one, not when the stream ends.
func caseSSE(t *testing.T, p pair) {
	start := time.Now()
	var at []time.Duration
	if p.client.family == famGRPC {
		at = grpcEvents(t, p)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := p.client.open(ctx, request{host: p.host("echo"), path: "/sse?n=4&interval=250"})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				at = append(at, time.Since(start))
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("after %d events: %v", len(at), err)
		}
	}
	if len(at) != sseEvents {
		t.Fatalf("got %d events, want %d", len(at), sseEvents)
	}
	// Event i leaves the upstream at i×250ms. Buffered, all would arrive
	// together at the end.
	if spread := at[sseEvents-1] - at[0]; spread < (sseEvents-1)*sseInterval/2 {
		t.Errorf("events arrived at %v: together, not one by one", at)
	}
}

// grpcEvents times the messages of a server stream.
func grpcEvents(t *testing.T, p pair) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	s, err := p.client.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, backends.MatrixMethod,
		grpc.CallAuthority(p.host("echo")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(wrapperspb.String("stream:4:250")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseSend()
	var at []time.Duration
	for {
		err := s.RecvMsg(new(wrapperspb.StringValue))
		if errors.Is(err, io.EOF) {
			return at
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(at), err)
		}
		at = append(at, time.Since(start))
	}
}

// caseTrailers: trailers reach the client after the body; for gRPC they
// carry the call's status.
func caseTrailers(t *testing.T, p pair) {
	if p.client.family == famGRPC {
		o := p.send(t, request{host: p.host("echo"), grpc: "status:7"})
		if o.code != codes.PermissionDenied || !strings.Contains(o.body, "requested status 7") {
			t.Errorf("want the upstream's status PermissionDenied \"requested status 7\", got %v", o)
		}
		if got := o.trailer.Get(backends.TrailerMatrix); got != "done" {
			t.Errorf("trailer %s = %q, want done (trailers: %v)", backends.TrailerMatrix, got, o.trailer)
		}
		return
	}
	o := p.send(t, request{host: p.host("echo"), path: "/trailers"})
	upstreamSaw(t, o)
	if got := o.trailer.Get("X-Matrix-Trailer"); got != "done" {
		t.Errorf("trailer X-Matrix-Trailer = %q, want done (trailers: %v)", got, o.trailer)
	}
}

// caseCancel: a client that gives up on a stream (RST_STREAM, a gRPC
// cancel) is logged as 499, and however often it does, passive health
// checks (consecutiveFailures: 3) never eject the healthy endpoint.
func caseCancel(t *testing.T, p pair) {
	var rids []string
	for range 4 {
		rid := p.id()
		rids = append(rids, rid)
		// A cancel, not a deadline (gRPC would send the deadline along for
		// the upstream to enforce), once the upstream has the request.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- p.cancelledCall(ctx, rid) }()
		eventually(t, 5*time.Second, "the upstream gets the request", func() (bool, string) {
			return len(p.m.journal.Seen(rid)) > 0, "not yet"
		})
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	for _, rid := range rids {
		e, line := p.m.accessEntry(t, rid)
		if st, _ := e["status"].(float64); st != 499 {
			t.Errorf("a cancelled request logged as %v, want 499:\n%s", e["status"], line)
		}
	}
	svc := "passive-" + p.client.name + "-" + p.up.name
	if m := p.m.gw.get("/metrics"); !strings.Contains(m, healthyGauge(svc, p.up.a, true)) {
		t.Errorf("the endpoint is no longer healthy after cancellations:\n%s", grepLines(m, "pylon_upstream_endpoint_healthy{endpoint=\""+p.up.a+"\",service=\""+svc+"\""))
	}
	upstreamSaw(t, p.send(t, request{host: p.own("passive"), path: "/after-cancel", grpc: "echo"}))
}

// cancelledCall makes a slow call with request id and journal key rid,
// and fails unless it ends by the client's cancel.
func (p pair) cancelledCall(ctx context.Context, rid string) error {
	if p.client.family == famGRPC {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", rid, strings.ToLower(backends.KeyHeader), rid)
		_, err := backends.CallUnary(ctx, p.client.cc, "delay:2000", grpc.CallAuthority(p.own("passive")))
		if status.Code(err) != codes.Canceled {
			return fmt.Errorf("call: %v, want the client's own cancel", err)
		}
		return nil
	}
	resp, err := p.client.open(ctx, request{host: p.own("passive"), path: "/delay/2000",
		header: [][2]string{{"X-Request-Id", rid}, {backends.KeyHeader, rid}}})
	if err == nil {
		resp.Body.Close()
		return fmt.Errorf("status %d before the client gave up", resp.StatusCode)
	}
	return nil
}

// caseWebSocket: messages go both ways unchanged, and a close code sent by
// either side reaches the other.
func caseWebSocket(t *testing.T, p pair) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := p.id()
	ws, o := p.client.dialWS(ctx, request{host: p.host("echo"), path: "/ws/echo", header: [][2]string{{backends.KeyHeader, key}}})
	if ws == nil {
		t.Fatalf("upgrade: %v", o)
	}
	if typ, msg, err := ws.read(); err != nil || typ != wsText || !json.Valid(msg) {
		t.Fatalf("greeting: type %d %q %v", typ, msg, err)
	}
	for _, m := range []struct {
		typ byte
		msg []byte
	}{
		{wsText, []byte("hello through the gateway")},
		{wsBinary, []byte{0, 1, 2, 0xff}},
		{wsBinary, bytes.Repeat([]byte{7}, 70000)},
	} {
		if err := ws.write(m.typ, m.msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		typ, got, err := ws.read()
		if err != nil || typ != m.typ || !bytes.Equal(got, m.msg) {
			t.Fatalf("echo of %d bytes (type %d): type %d, %d bytes, %v", len(m.msg), m.typ, typ, len(got), err)
		}
	}
	ws.close(1000)
	eventually(t, 3*time.Second, "the backend sees the client's close code", func() (bool, string) {
		code, ok := p.m.journal.CloseCode(key)
		return ok && code == 1000, fmt.Sprintf("close code %d (read: %v)", code, ok)
	})

	ws, o = p.client.dialWS(ctx, request{host: p.host("echo"), path: "/ws/echo"})
	if ws == nil {
		t.Fatalf("second upgrade: %v", o)
	}
	defer ws.end()
	_, _, _ = ws.read() // the greeting
	if err := ws.write(wsText, []byte("close:4001")); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := ws.read()
	if err != nil || typ != wsClose || closeCode(payload) != 4001 {
		t.Fatalf("want the backend's close 4001, got type %d code %d (%v)", typ, closeCode(payload), err)
	}
	_ = ws.writeFrame(wsClose, payload)
}
