package proxy

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// peek reads the first 8 bytes of the body before the request goes on,
// refuses a body that starts with "evil", and notes what it saw.
type peek struct{}

func (peek) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	body, complete, err := c.ReadBody(8)
	if err != nil {
		c.Respond(400, []byte("read\n"))
		return plugin.Stop
	}
	if bytes.HasPrefix(body, []byte("evil")) {
		c.Respond(403, []byte("evil\n"))
		return plugin.Stop
	}
	if !complete {
		c.NoteSecurity("partial")
	}
	c.SetResponseHeader("X-Peeked", string(body[:min(len(body), 8)]))
	return plugin.Continue
}

func init() {
	plugin.RegisterTesting("p-peek", func(*struct{}, *plugin.Env) (peek, error) { return peek{}, nil })
}

// A streamed HTTP/2 body read ahead by a plugin still reaches the upstream
// whole: the bytes read first, then the rest.
func TestReadBodyStreamedReachesUpstreamWhole(t *testing.T) {
	p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "p-peek"})
	for _, body := range []string{"hello world, this is longer than eight bytes", "short", ""} {
		r := httptest.NewRequest("POST", "http://example.test/echo", io.NopCloser(strings.NewReader(body)))
		r.Proto, r.ProtoMajor, r.ContentLength = "HTTP/2.0", 2, -1
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != 200 || w.Body.String() != body {
			t.Fatalf("%q: %d %q", body, w.Code, w.Body.String())
		}
		if want := body[:min(len(body), 9)]; w.Header().Get("X-Peeked") != want[:min(len(want), 8)] {
			t.Fatalf("%q: plugin saw %q", body, w.Header().Get("X-Peeked"))
		}
	}
	r := httptest.NewRequest("POST", "http://example.test/echo", io.NopCloser(strings.NewReader("evil payload")))
	r.Proto, r.ProtoMajor, r.ContentLength = "HTTP/2.0", 2, -1
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Fatalf("refused body: %d", w.Code)
	}
}

func TestReadBodyBufferedIsNotCopied(t *testing.T) {
	p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "p-peek"})
	ctx := serve(p, "POST /echo HTTP/1.1\r\nHost: example.test\r\nContent-Length: 12\r\n\r\nevil payload")
	if ctx.Response.StatusCode() != 403 {
		t.Fatalf("%d", ctx.Response.StatusCode())
	}
	ctx = serve(p, "POST /echo HTTP/1.1\r\nHost: example.test\r\nContent-Length: 12\r\n\r\ngood payload")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "good payload" {
		t.Fatalf("%d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func TestNoteSecurityIsBounded(t *testing.T) {
	var c Ctx
	c.NoteSecurity("942100")
	c.NoteSecurity("949110")
	if string(c.security) != "942100 949110" {
		t.Fatalf("%q", c.security)
	}
	for range 1000 {
		c.NoteSecurity("123456")
	}
	if len(c.security) > maxSecurityNote {
		t.Fatalf("%d bytes", len(c.security))
	}
}
