package proxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// VisitUpstreamHeaders shows, before the preparation, exactly the headers
// prepareUpstream then leaves for the upstream, on both engines.
func TestVisitUpstreamHeadersIsThePreparedRequest(t *testing.T) {
	in := [][2]string{
		{"Connection", "keep-alive, X-Secret"},
		{"X-Secret", "hop"},
		{"Keep-Alive", "timeout=5"},
		{"Te", "gzip"},
		{"X-Forwarded-For", "192.0.2.1"},
		{"X-Forwarded-Proto", "gopher"},
		{"X-Request-Id", "forged"},
		{"X-Consumer", "alice"}, // as an auth plugin set it
		{"X-Keep", "yes"},
	}
	newCtx := func() *Ctx {
		return &Ctx{host: []byte("example.test"), clientIP: []byte("10.0.0.9"), tls: true,
			requestID: []byte("rid-1"), clientVerify: "SUCCESS", clientDN: "CN=client"}
	}
	visited := func(c *Ctx) []string {
		var out []string
		c.VisitUpstreamHeaders(func(name, value []byte) {
			out = append(out, http.CanonicalHeaderKey(string(name))+": "+string(value))
		})
		slices.Sort(out)
		return out
	}
	want := []string{"X-Client-Subject-Dn: CN=client", "X-Client-Verify: SUCCESS", "X-Consumer: alice",
		"X-Forwarded-For: 192.0.2.1, 10.0.0.9", "X-Forwarded-Host: example.test", "X-Forwarded-Proto: https",
		"X-Keep: yes", "X-Request-Id: rid-1"}

	t.Run("fasthttp", func(t *testing.T) {
		var fc fasthttp.RequestCtx
		for _, kv := range in {
			fc.Request.Header.Add(kv[0], kv[1])
		}
		c := newCtx()
		c.fast, c.fastCl.fc = &fc, &fc
		c.cl = &c.fastCl
		got := visited(c)
		prepareUpstream(c, c.cl.header(), false, false)
		var prepared []string
		for k, v := range fc.Request.Header.All() {
			prepared = append(prepared, string(k)+": "+string(v))
		}
		slices.Sort(prepared)
		if !slices.Equal(got, want) || !slices.Equal(prepared, want) {
			t.Fatalf("visited:\n%s\nprepared:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(prepared, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("net/http", func(t *testing.T) {
		req := &http.Request{Header: http.Header{}}
		for _, kv := range in {
			req.Header.Add(kv[0], kv[1])
		}
		c := newCtx()
		c.std, c.stdCl.hdr.h = req, req.Header
		c.cl = &c.stdCl
		got := visited(c)
		prepareUpstream(c, c.cl.header(), false, false)
		var prepared []string
		for k, vs := range req.Header {
			for _, v := range vs {
				prepared = append(prepared, k+": "+v)
			}
		}
		slices.Sort(prepared)
		if !slices.Equal(got, want) || !slices.Equal(prepared, want) {
			t.Fatalf("visited:\n%s\nprepared:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(prepared, "\n"), strings.Join(want, "\n"))
		}
	})
}

// A mirror copies every sampled request's headers: visiting them must not
// allocate.
func TestVisitUpstreamHeadersAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var fc fasthttp.RequestCtx
	fc.Request.Header.Add("Connection", "keep-alive")
	fc.Request.Header.Add("X-Forwarded-For", "192.0.2.1")
	fc.Request.Header.Add("Accept", "*/*")
	c := &Ctx{host: []byte("example.test"), clientIP: []byte("10.0.0.9"), requestID: []byte("rid-1"), scratch: make([]byte, 0, 256)}
	c.fast, c.fastCl.fc = &fc, &fc
	c.cl = &c.fastCl
	n := 0
	count := func(_, _ []byte) { n++ }
	if a := testing.AllocsPerRun(100, func() { c.VisitUpstreamHeaders(count) }); a > 0 {
		t.Fatalf("%.1f allocations per visit", a)
	}
}
