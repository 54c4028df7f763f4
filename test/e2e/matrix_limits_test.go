package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// limitCases: timeouts, body limits, plugins that answer, and the
// gateway's own errors.
func limitCases() []matrixCase {
	return []matrixCase{
		{name: "request-timeout", skip: noTimedResponse, run: func(t *testing.T, p pair) { caseTimeout(t, p, "rto") }},
		{name: "response-timeout", skip: noTimedResponse, run: func(t *testing.T, p pair) { caseTimeout(t, p, "pto") }},
		{name: "body-limit", skip: bodyLimitSkip, run: caseBodyLimit},
		{name: "body-plugin", skip: noBody, run: caseBodyPlugin},
		{name: "plugin-deny", skip: always, run: func(t *testing.T, p pair) {
			p.wantStatus(t, p.send(t, request{host: p.host("deny"), path: "/deny"}), http.StatusForbidden)
		}},
		{name: "plugin-auth", skip: always, run: casePluginAuth},
		{name: "gateway-502", skip: always, run: func(t *testing.T, p pair) {
			p.wantStatus(t, p.send(t, request{host: p.host("dead"), path: "/dead"}), http.StatusBadGateway)
		}},
		{name: "gateway-503", skip: always, run: func(t *testing.T, p pair) {
			p.wantStatus(t, p.send(t, request{host: p.host("none"), path: "/none"}), http.StatusServiceUnavailable)
		}},
	}
}

func noTimedResponse(p pair) string {
	if p.client.family == famWS {
		return "an upgrade is answered at once by the backend; a spliced connection has no response to time"
	}
	return ""
}

func noBody(p pair) string {
	if p.client.family == famWS {
		return "an upgrade request carries no body"
	}
	return ""
}

func bodyLimitSkip(p pair) string {
	if p.client.family == famGRPC {
		return "the listener's maxBodyBytes exempts gRPC streams by design (docs/configuration.md); body-plugin covers gRPC"
	}
	return noBody(p)
}

// caseTimeout: an upstream slower than the route's request timeout (rto)
// or per-try timeout (pto, one attempt) gets the client a 504 when the
// timeout ends, not when the upstream would have answered.
func caseTimeout(t *testing.T, p pair, route string) {
	start := time.Now()
	o := p.send(t, request{host: p.host(route), path: "/delay/2000", grpc: "delay:2000"})
	took := time.Since(start)
	p.wantStatus(t, o, http.StatusGatewayTimeout)
	if took > 1500*time.Millisecond {
		t.Errorf("504 after %v; the timeout is 300ms", took.Round(time.Millisecond))
	}
}

// bodyVariants are the ways a client sends a body: with a length, and
// (HTTP/2) as a stream of DATA frames without one.
func bodyVariants(p pair) []bool {
	if p.client.h2 && p.client.family == famHTTP {
		return []bool{false, true}
	}
	return []bool{false}
}

func variantName(stream bool) string {
	if stream {
		return "streamed"
	}
	return "declared"
}

// caseBodyLimit: a body over the listener's maxBodyBytes gets 413 (as an
// answer, not a broken stream).
func caseBodyLimit(t *testing.T, p pair) {
	for _, stream := range bodyVariants(p) {
		o := p.send(t, request{method: http.MethodPost, host: p.host("echo"), path: "/upload",
			body: bytes.Repeat([]byte("x"), matrixBodyLimit+36<<10), stream: stream})
		if o.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s body over the listener limit: want 413, got %v", variantName(stream), o)
		}
	}
}

// caseBodyPlugin: the request-size plugin refuses a body over its maxBytes
// with 413 and lets a smaller one through whole.
func caseBodyPlugin(t *testing.T, p pair) {
	if p.client.family == famGRPC {
		big := strings.Repeat("x", 2*matrixPluginLimit)
		p.wantStatus(t, p.send(t, request{host: p.host("limit"), grpc: big}), http.StatusRequestEntityTooLarge)
		return
	}
	for _, stream := range bodyVariants(p) {
		o := p.send(t, request{method: http.MethodPost, host: p.host("limit"), path: "/upload",
			body: bytes.Repeat([]byte("x"), 2*matrixPluginLimit), stream: stream})
		if o.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s body over the plugin's limit: want 413, got %v", variantName(stream), o)
		}
		o = p.send(t, request{method: http.MethodPost, host: p.host("limit"), path: "/upload",
			body: bytes.Repeat([]byte("x"), matrixPluginLimit/2), stream: stream})
		if o.saw == nil || o.saw.BodyLength != matrixPluginLimit/2 {
			t.Errorf("%s body under the plugin's limit: want it upstream whole, got %v", variantName(stream), o)
		}
	}
}

// casePluginAuth: key-auth answers 401 itself without a key; with one the
// upstream learns the consumer and never sees the key.
func casePluginAuth(t *testing.T, p pair) {
	p.wantStatus(t, p.send(t, request{host: p.host("auth"), path: "/auth"}), http.StatusUnauthorized)
	saw := upstreamSaw(t, p.send(t, request{host: p.host("auth"), path: "/auth", header: [][2]string{
		{"X-Api-Key", "matrix-secret"}, {"X-Consumer", "admin"},
	}}))
	if got := saw.Header.Values("X-Consumer"); len(got) != 1 || got[0] != "matrix-client" {
		t.Errorf("upstream X-Consumer = %q, want [matrix-client]", got)
	}
	if v, ok := saw.Header["X-Api-Key"]; ok {
		t.Errorf("upstream got the key %q (hideCredentials is set)", v)
	}
}
