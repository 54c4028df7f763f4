package compression

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

var body = []byte(strings.Repeat("<p>Pylon compresses text that repeats itself.</p>\n", 100))

func request(ae string) *plugintest.Ctx {
	c := plugintest.New()
	if ae != "" {
		c.ReqHeader.Set("Accept-Encoding", ae)
	}
	c.StatusV = 200
	c.RespHeader.Set("Content-Type", "text/html; charset=utf-8")
	return c
}

// serve runs the response and body phases and returns what the client gets.
func serve(t *testing.T, r *plugin.Runner, c *plugintest.Ctx, b []byte) []byte {
	t.Helper()
	r.Response(c)
	var out bytes.Buffer
	bw, ok := r.Body(c, &out)
	if !ok {
		return b
	}
	if _, err := bw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case "":
		return b
	default:
		t.Fatalf("unexpected encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

func TestNegotiatedEncodings(t *testing.T) {
	r := plugintest.Build(t, "compression", map[string]any{}, nil)
	for _, tc := range []struct{ ae, want string }{
		{"gzip", "gzip"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"br;q=1.0, gzip;q=0.8", "br"},
		{"gzip;q=0.9, zstd;q=0.5", "gzip"},
		{"zstd;q=0, br;q=0, gzip", "gzip"},
		{"*", "zstd"},
		{"*;q=0.5, br", "br"},
		{"*, zstd;q=0", "br"},
		{"identity", ""},
		{"deflate", ""},
		{"gzip;q=0", ""},
		{"", ""},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
	} {
		t.Run(tc.ae, func(t *testing.T) {
			c := request(tc.ae)
			got := serve(t, r, c, body)
			enc := c.RespHeader.Get("Content-Encoding")
			if enc != tc.want {
				t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.ae, enc, tc.want)
			}
			if !bytes.Equal(decode(t, enc, got), body) {
				t.Fatal("body does not round-trip")
			}
			if enc != "" && len(got) >= len(body) {
				t.Fatalf("compressed %d bytes to %d", len(body), len(got))
			}
			if v := c.RespHeader.Get("Vary"); v != "Accept-Encoding" {
				t.Fatalf("Vary %q", v)
			}
		})
	}
}

func TestHeadersFixed(t *testing.T) {
	r := plugintest.Build(t, "compression", map[string]any{}, nil)
	c := request("gzip")
	c.RespHeader.Set("Content-Length", "5100")
	c.RespHeader.Set("ETag", `"abc"`)
	c.RespHeader.Set("Accept-Ranges", "bytes")
	c.RespHeader.Set("Vary", "Origin")
	serve(t, r, c, body)
	h := c.RespHeader
	if h.Get("Content-Length") != "" || h.Get("Accept-Ranges") != "" {
		t.Fatalf("Content-Length/Accept-Ranges kept: %v", h)
	}
	if h.Get("ETag") != `W/"abc"` {
		t.Fatalf("ETag %q", h.Get("ETag"))
	}
	if got := h.Values("Vary"); len(got) != 2 || got[1] != "Accept-Encoding" {
		t.Fatalf("Vary %q", got)
	}

	// An empty Content-Encoding (as the HTTP/1.1 engine may report an
	// absent one) or identity is no encoding.
	for _, ce := range []string{"", "identity"} {
		c = request("gzip")
		c.RespHeader.Set("Content-Encoding", ce)
		serve(t, r, c, body)
		if c.RespHeader.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q: not compressed", ce)
		}
	}

	c = request("gzip")
	c.RespHeader.Set("ETag", `W/"weak"`)
	c.RespHeader.Set("Vary", "accept-encoding")
	serve(t, r, c, body)
	if c.RespHeader.Get("ETag") != `W/"weak"` || len(c.RespHeader.Values("Vary")) != 1 {
		t.Fatalf("headers %v", c.RespHeader)
	}
}

func TestSkipped(t *testing.T) {
	r := plugintest.Build(t, "compression", map[string]any{"minLength": 100}, nil)
	for name, setup := range map[string]func(c *plugintest.Ctx){
		"HEAD":                       func(c *plugintest.Ctx) { c.MethodV = "HEAD" },
		"204":                        func(c *plugintest.Ctx) { c.StatusV = 204 },
		"304":                        func(c *plugintest.Ctx) { c.StatusV = 304 },
		"206":                        func(c *plugintest.Ctx) { c.StatusV = 206 },
		"101":                        func(c *plugintest.Ctx) { c.StatusV = 101 },
		"Content-Range":              func(c *plugintest.Ctx) { c.RespHeader.Set("Content-Range", "bytes 0-9/100") },
		"already encoded":            func(c *plugintest.Ctx) { c.RespHeader.Set("Content-Encoding", "br") },
		"small":                      func(c *plugintest.Ctx) { c.RespHeader.Set("Content-Length", "99") },
		"image":                      func(c *plugintest.Ctx) { c.RespHeader.Set("Content-Type", "image/png") },
		"no type":                    func(c *plugintest.Ctx) { c.RespHeader.Del("Content-Type") },
		"Cache-Control no-transform": func(c *plugintest.Ctx) { c.RespHeader.Set("Cache-Control", "public, No-Transform") },
	} {
		t.Run(name, func(t *testing.T) {
			c := request("gzip, br, zstd")
			setup(c)
			enc0 := c.RespHeader.Get("Content-Encoding")
			got := serve(t, r, c, body)
			if c.RespHeader.Get("Content-Encoding") != enc0 || !bytes.Equal(got, body) {
				t.Fatalf("compressed: %v", c.RespHeader)
			}
		})
	}
	// An empty body stays empty, whatever minLength says.
	r0 := plugintest.Build(t, "compression", map[string]any{"minLength": 0}, nil)
	c0 := request("gzip")
	c0.RespHeader.Set("Content-Length", "0")
	if got := serve(t, r0, c0, nil); len(got) != 0 || c0.RespHeader.Get("Content-Encoding") != "" {
		t.Fatalf("empty body compressed: %q %v", got, c0.RespHeader)
	}
	// At the minimum length it compresses.
	c := request("gzip")
	c.RespHeader.Set("Content-Length", "100")
	serve(t, r, c, body)
	if c.RespHeader.Get("Content-Encoding") != "gzip" {
		t.Fatal("a body of minLength bytes is not compressed")
	}
}

func TestContentTypes(t *testing.T) {
	r := plugintest.Build(t, "compression", map[string]any{"types": []any{"application/*+json", "text/csv"}}, nil)
	for ct, want := range map[string]bool{
		"application/problem+json": true,
		"APPLICATION/LD+JSON; x=1": true,
		"text/csv":                 true,
		"text/html":                false,
		"application/json":         false,
		"application/+json":        true,
	} {
		c := request("gzip")
		c.RespHeader.Set("Content-Type", ct)
		serve(t, r, c, body)
		if got := c.RespHeader.Get("Content-Encoding") == "gzip"; got != want {
			t.Errorf("%q: compressed %v, want %v", ct, got, want)
		}
	}
	// The defaults cover the usual text formats.
	r = plugintest.Build(t, "compression", map[string]any{}, nil)
	for _, ct := range []string{"text/event-stream", "application/json", "application/javascript", "image/svg+xml",
		"application/vnd.api+json", "application/atom+xml", "text/css"} {
		c := request("gzip")
		c.RespHeader.Set("Content-Type", ct)
		serve(t, r, c, body)
		if c.RespHeader.Get("Content-Encoding") != "gzip" {
			t.Errorf("%q is not compressed by default", ct)
		}
	}
}

// TestStreaming checks that whatever was flushed decodes to everything
// written before the flush, before the stream ends: server-sent events
// reach the client as they are sent.
func TestStreaming(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			r := plugintest.Build(t, "compression", map[string]any{"encodings": []any{enc}}, nil)
			c := request(enc)
			c.RespHeader.Set("Content-Type", "text/event-stream")
			r.Response(c)
			var out bytes.Buffer
			bw, ok := r.Body(c, &out)
			if !ok {
				t.Fatal("no body filter")
			}
			var sent []byte
			for i := range 5 {
				ev := []byte("data: event " + string(rune('0'+i)) + "\n\n")
				sent = append(sent, ev...)
				if _, err := bw.Write(ev); err != nil {
					t.Fatal(err)
				}
				if err := bw.Flush(); err != nil {
					t.Fatal(err)
				}
				if got := decodePrefix(enc, out.Bytes()); !bytes.Equal(got, sent) {
					t.Fatalf("after event %d the client can read %q, want %q", i, got, sent)
				}
			}
			if err := bw.Close(); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, enc, out.Bytes()); !bytes.Equal(got, sent) {
				t.Fatalf("whole stream %q", got)
			}
		})
	}
}

// decodePrefix decodes an unfinished stream as far as it goes.
func decodePrefix(enc string, b []byte) []byte {
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil
		}
		defer zr.Close()
		r = zr
	}
	var out []byte
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"encodings": []any{"deflate"}}, "encodings[0]"},
		{map[string]any{"encodings": []any{"gzip", "gzip"}}, "encodings[1]"},
		{map[string]any{"encodings": []any{}}, "encodings"},
		{map[string]any{"minLength": -1}, "minLength"},
		{map[string]any{"types": []any{"text/*/*"}}, "types[0]"},
		{map[string]any{"types": []any{"html"}}, "types[0]"},
		{map[string]any{"gzipLevel": 10}, "gzipLevel"},
		{map[string]any{"brotliLevel": 12}, "brotliLevel"},
		{map[string]any{"zstdLevel": 0}, "zstdLevel"},
		{map[string]any{"level": 1}, "level"},
	} {
		_, err := plugin.DecodeConfig("compression", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%v: error %v, want one about %s", tc.cfg, err, tc.field)
		}
	}
}
