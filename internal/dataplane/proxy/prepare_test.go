package proxy

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// prepareUpstream is the one preparation of every upstream request: both
// engines' headers must come out the same.
func TestPrepareUpstreamBothEngines(t *testing.T) {
	in := [][2]string{
		{"Connection", "keep-alive, X-Secret"},
		{"X-Secret", "hop"},
		{"Keep-Alive", "timeout=5"},
		{"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
		{"Te", "gzip"},
		{"Upgrade", "h2c"},
		{"X-Forwarded-For", "192.0.2.1"},
		{"X-Keep", "yes"},
	}
	want := map[string]string{
		"X-Keep":            "yes",
		"X-Forwarded-For":   "192.0.2.1, 10.0.0.9",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "example.test",
		"X-Request-Id":      "rid-1",
		"X-Client-Verify":   "SUCCESS",
	}
	gone := []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization", "Te", "Upgrade", "X-Client-Cert"}
	newCtx := func() *Ctx {
		return &Ctx{host: []byte("example.test"), clientIP: []byte("10.0.0.9"), tls: true,
			requestID: []byte("rid-1"), clientVerify: "SUCCESS"}
	}

	t.Run("fasthttp", func(t *testing.T) {
		var req fasthttp.Request
		for _, kv := range in {
			req.Header.Add(kv[0], kv[1])
		}
		req.Header.Add(hdrClientCert, "forged")
		h := (*fastHeader)(&req.Header)
		c := newCtx()
		stripOwned(c, h)
		prepareUpstream(c, h, false, false)
		for k, v := range want {
			if got := string(req.Header.Peek(k)); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		for _, k := range gone {
			if v := req.Header.Peek(k); v != nil {
				t.Errorf("%s = %q reached the upstream", k, v)
			}
		}
	})
	t.Run("net/http", func(t *testing.T) {
		hdr := http.Header{}
		for _, kv := range in {
			hdr.Add(kv[0], kv[1])
		}
		hdr.Add(hdrClientCert, "forged")
		h := &stdHeader{h: hdr}
		c := newCtx()
		stripOwned(c, h)
		prepareUpstream(c, h, false, false)
		for k, v := range want {
			if got := strings.Join(hdr.Values(k), ","); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		for _, k := range gone {
			if v, ok := hdr[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s = %q reached the upstream", k, v)
			}
		}
	})
}

// An upgrade keeps its handshake, and gRPC's te: trailers survives toward
// HTTP/2 upstreams only.
func TestPrepareUpstreamUpgradeAndTE(t *testing.T) {
	var req fasthttp.Request
	req.Header.Set("Connection", "Upgrade, X-Secret")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Proxy-Authorization", "x")
	prepareUpstream(&Ctx{}, (*fastHeader)(&req.Header), true, false)
	if got := string(req.Header.Peek("Upgrade")); got != "websocket" {
		t.Errorf("Upgrade = %q, want websocket", got)
	}
	if !req.Header.ConnectionUpgrade() {
		t.Errorf("Connection = %q, want Upgrade", req.Header.Peek("Connection"))
	}
	for _, k := range []string{"X-Secret", "Proxy-Authorization"} {
		if v := req.Header.Peek(k); v != nil {
			t.Errorf("%s = %q reached the upstream on an upgrade", k, v)
		}
	}

	for _, keep := range []bool{true, false} {
		hdr := http.Header{"Te": {"trailers"}}
		prepareUpstream(&Ctx{}, &stdHeader{h: hdr}, false, keep)
		if got := hdr.Get("Te"); (got == "trailers") != keep {
			t.Errorf("keepTE %v: Te = %q", keep, got)
		}
	}
}

// With trusted proxies set, only their forwarding headers are believed and
// extended; every other peer's are replaced.
func TestPrepareUpstreamTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, peer            string
		trusted               []netip.Prefix
		xff, proto, fwdedHost string
	}{
		{"no setting extends", "192.0.2.7", nil, "203.0.113.1, 192.0.2.7", "http", "example.test"},
		{"trusted peer", "10.1.2.3", trusted, "203.0.113.1, 10.1.2.3", "https", "public.example"},
		{"untrusted peer", "192.0.2.7", trusted, "192.0.2.7", "http", "example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"X-Forwarded-For": {"203.0.113.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"public.example"}}
			c := &Ctx{host: []byte("example.test"), clientIP: []byte(tc.peer), trusted: tc.trusted}
			prepareUpstream(c, &stdHeader{h: hdr}, false, false)
			if got := hdr.Get("X-Forwarded-For"); got != tc.xff {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tc.xff)
			}
			if got := hdr.Get("X-Forwarded-Proto"); got != tc.proto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", got, tc.proto)
			}
			if got := hdr.Get("X-Forwarded-Host"); got != tc.fwdedHost {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, tc.fwdedHost)
			}
		})
	}
}
