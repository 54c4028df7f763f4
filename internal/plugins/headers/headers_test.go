package headers

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

var cfg = map[string]any{
	"request": map[string]any{
		"set":    []any{map[string]any{"name": "X-Env", "value": "prod"}},
		"add":    []any{map[string]any{"name": "X-Tag", "value": "b"}},
		"remove": []any{"Cookie", "x-debug"},
	},
	"response": map[string]any{
		"set":    []any{map[string]any{"name": "Strict-Transport-Security", "value": "max-age=31536000"}},
		"add":    []any{map[string]any{"name": "Cache-Control", "value": "private"}},
		"remove": []any{"Server", "X-Powered-By"},
	},
}

func TestHeaders(t *testing.T) {
	r := plugintest.Build(t, "headers", cfg, nil)
	c := plugintest.New()
	c.ReqHeader.Set("X-Env", "dev")
	c.ReqHeader.Set("X-Tag", "a")
	c.ReqHeader.Set("Cookie", "s=1")
	c.ReqHeader.Set("X-Debug", "1")
	if r.Request(c) != plugin.Continue {
		t.Fatal("stopped")
	}
	h := c.ReqHeader
	if h.Get("X-Env") != "prod" || strings.Join(h.Values("X-Tag"), ",") != "a,b" || h.Get("Cookie") != "" || h.Get("X-Debug") != "" {
		t.Fatalf("request headers %v", h)
	}

	c.StatusV = 200
	c.RespHeader.Set("Server", "backend/1.0")
	c.RespHeader.Set("X-Powered-By", "php")
	c.RespHeader.Set("Cache-Control", "no-store")
	r.Response(c)
	h = c.RespHeader
	if h.Get("Server") != "" || h.Get("X-Powered-By") != "" || h.Get("Strict-Transport-Security") != "max-age=31536000" ||
		strings.Join(h.Values("Cache-Control"), ",") != "no-store,private" {
		t.Fatalf("response headers %v", h)
	}
}

func TestResponseOnly(t *testing.T) {
	r := plugintest.Build(t, "headers", map[string]any{"response": map[string]any{"set": []any{map[string]any{"name": "X-Frame-Options", "value": "DENY"}}}}, nil)
	c := plugintest.New()
	r.Request(c)
	c.Respond(429, nil) // a local answer gets the response headers too
	r.Response(c)
	if c.RespHeader.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", c.RespHeader)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "request or response must be set"},
		{map[string]any{"request": map[string]any{}}, "request: must set, add or remove"},
		{map[string]any{"request": map[string]any{"set": []any{map[string]any{"name": "Bad Name", "value": "x"}}}}, "request.set[0].name: must be a header name"},
		{map[string]any{"request": map[string]any{"add": []any{map[string]any{"name": "X", "value": "a\r\nb"}}}}, "request.add[0].value: must not contain CR"},
		{map[string]any{"request": map[string]any{"remove": []any{"transfer-encoding"}}}, "request.remove[0]: Transfer-Encoding is managed"},
		{map[string]any{"request": map[string]any{"set": []any{map[string]any{"name": "host", "value": "x"}}}}, "use the rewrite plugin's host"},
		{map[string]any{"response": map[string]any{"set": []any{map[string]any{"name": "Content-Length", "value": "1"}}}}, "response.set[0].name: Content-Length"},
	} {
		_, err := plugin.DecodeConfig("headers", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func BenchmarkHeaders(b *testing.B) {
	r := plugintest.Build(b, "headers", cfg, nil)
	c := benchctx.New("/", "Cookie", "s=1")
	c.Response(200, "Server", "backend/1.0", "Cache-Control", "no-store", "Content-Type", "text/html")
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		r.Request(c)
		r.Response(c)
	}
}

func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	r := plugintest.Build(t, "headers", cfg, nil)
	c := benchctx.New("/", "Cookie", "s=1")
	c.Response(200, "Server", "backend/1.0", "Cache-Control", "no-store", "Content-Type", "text/html")
	run := func() { c.Reset(); r.Request(c); r.Response(c) }
	run()
	if n := testing.AllocsPerRun(100, run); n > 0 {
		t.Fatalf("%.1f allocations per request", n)
	}
}
