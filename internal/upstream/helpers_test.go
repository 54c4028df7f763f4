package upstream

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func testRegistry(t testing.TB) *Registry {
	r := NewRegistry(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(r.Close)
	return r
}

// backend is a real HTTP server on 127.0.0.1 that counts requests and can be
// told to fail its health endpoint.
type backend struct {
	*httptest.Server
	hits    atomic.Int64
	health  atomic.Int64 // health-check requests seen
	failing atomic.Bool
}

func newBackend(t testing.TB) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			b.health.Add(1)
			if b.failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		b.hits.Add(1)
		w.Header().Set("X-Backend", b.Listener.Addr().String())
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return b.Listener.Addr().String() }

func endpointsOf(bs ...*backend) []EndpointConfig {
	eps := make([]EndpointConfig, len(bs))
	for i, b := range bs {
		eps[i] = EndpointConfig{Address: b.addr()}
	}
	return eps
}

// send proxies one GET through the picked endpoint's HTTP/1.1 client, the way
// the proxy does, and returns the address that answered.
func send(t testing.TB, e *Endpoint) string {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + e.Address() + "/")
	e.Begin()
	err := e.Client().DoTimeout(req, resp, 5*time.Second)
	e.End()
	if err != nil {
		t.Fatalf("request to %s: %v", e.Address(), err)
	}
	return string(resp.Header.Peek("X-Backend"))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// keys is a HashInput over fixed values.
type keys struct {
	header, cookie, ip, path []byte
}

func (k *keys) Header(name string) ([]byte, bool) { return k.header, k.header != nil }
func (k *keys) Cookie(name string) ([]byte, bool) { return k.cookie, k.cookie != nil }
func (k *keys) ClientIP() []byte                  { return k.ip }
func (k *keys) Path() []byte                      { return k.path }
