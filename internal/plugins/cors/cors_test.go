package cors

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func preflight(origin, method, headers string) *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV = "OPTIONS"
	c.ReqHeader.Set("Origin", origin)
	c.ReqHeader.Set("Access-Control-Request-Method", method)
	if headers != "" {
		c.ReqHeader.Set("Access-Control-Request-Headers", headers)
	}
	return c
}

func actual(origin string) *plugintest.Ctx {
	c := plugintest.New()
	if origin != "" {
		c.ReqHeader.Set("Origin", origin)
	}
	return c
}

// respond runs a request through r; an upstream 200 answers what goes on.
func respond(r *plugin.Runner, c *plugintest.Ctx) plugin.Action {
	act := r.Request(c)
	if act == plugin.Continue {
		c.StatusV = 200
		c.RespHeader.Set("Access-Control-Allow-Origin", "https://upstream-set.example")
	}
	r.Response(c)
	return act
}

func TestPreflight(t *testing.T) {
	r := plugintest.Build(t, "cors", map[string]any{
		"allowOrigins":     []any{"https://App.example.com/", "https://*.example.org"},
		"allowMethods":     []any{"GET", "POST"},
		"allowHeaders":     []any{"Content-Type", "Authorization"},
		"allowCredentials": true,
		"maxAge":           "10m",
	}, nil)
	c := preflight("https://app.example.com", "POST", "content-type")
	if respond(r, c) != plugin.Stop || c.StatusV != 204 {
		t.Fatalf("preflight: status %d", c.StatusV)
	}
	h := c.RespHeader
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Methods":     "GET, POST",
		"Access-Control-Allow-Headers":     "Content-Type, Authorization",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
		"Vary":                             "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
	} {
		if got := strings.Join(h.Values(name), "|"); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	for origin, ok := range map[string]bool{
		"https://a.example.org":         true,
		"https://a.b.EXAMPLE.org":       true,
		"https://example.org":           false,
		"http://a.example.org":          false,
		"https://evil.com/.example.org": false,
		"https://evilexample.org":       false,
		"https://app.example.com.evil":  false,
	} {
		c := preflight(origin, "GET", "")
		respond(r, c)
		if got := c.RespHeader.Get("Access-Control-Allow-Origin") != ""; got != ok || c.StatusV != 204 {
			t.Errorf("%s: allowed %v (status %d), want %v", origin, got, c.StatusV, ok)
		}
	}
}

func TestActualRequests(t *testing.T) {
	r := plugintest.Build(t, "cors", map[string]any{"allowOrigins": []any{"*"}, "exposeHeaders": []any{"X-Request-Id"}}, nil)
	c := actual("https://any.example")
	respond(r, c)
	if c.RespHeader.Get("Access-Control-Allow-Origin") != "*" || c.RespHeader.Get("Access-Control-Expose-Headers") != "X-Request-Id" ||
		c.RespHeader.Get("Vary") != "" {
		t.Fatalf("any origin: %v", c.RespHeader)
	}
	c = actual("")
	respond(r, c)
	if c.RespHeader.Get("Access-Control-Expose-Headers") != "" {
		t.Fatalf("no Origin: %v", c.RespHeader)
	}

	r = plugintest.Build(t, "cors", map[string]any{"allowOriginRegexes": []any{`https://[a-z]+\.example\.com`}}, nil)
	c = actual("https://shop.example.com")
	respond(r, c)
	if c.RespHeader.Get("Access-Control-Allow-Origin") != "https://shop.example.com" || c.RespHeader.Get("Vary") != "Origin" {
		t.Fatalf("regex: %v", c.RespHeader)
	}
	// The regex matches whole origins only.
	c = actual("https://shop.example.com.evil.net")
	respond(r, c)
	if c.RespHeader.Get("Access-Control-Allow-Origin") != "https://upstream-set.example" || c.RespHeader.Get("Vary") != "Origin" {
		t.Fatalf("refused origin: %v", c.RespHeader)
	}
	// A non-preflight OPTIONS goes to the upstream.
	c = actual("https://shop.example.com")
	c.MethodV = "OPTIONS"
	if respond(r, c) != plugin.Continue {
		t.Fatal("plain OPTIONS answered")
	}
}

func TestEcho(t *testing.T) {
	r := plugintest.Build(t, "cors", map[string]any{"allowOrigins": []any{"*"}, "allowMethods": []any{"*"}, "maxAge": 0}, nil)
	c := preflight("https://x.example", "PURGE", "X-A, X-B")
	respond(r, c)
	h := c.RespHeader
	if h.Get("Access-Control-Allow-Methods") != "PURGE" || h.Get("Access-Control-Allow-Headers") != "X-A, X-B" ||
		h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Max-Age") != "" {
		t.Fatalf("%v", h)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "allowOrigins: must list"},
		{map[string]any{"allowOrigins": []any{"app.example.com"}}, "allowOrigins[0]: must be"},
		{map[string]any{"allowOrigins": []any{"https://a.example.com/path"}}, "allowOrigins[0]:"},
		{map[string]any{"allowOrigins": []any{"https://a.*.example.com"}}, "allowOrigins[0]: a wildcard must be the first label"},
		{map[string]any{"allowOriginRegexes": []any{"("}}, "allowOriginRegexes[0]: must be an RE2"},
		{map[string]any{"allowOrigins": []any{"*"}, "allowMethods": []any{"GET POST"}}, "allowMethods[0]:"},
		{map[string]any{"allowOrigins": []any{"*"}, "allowMethods": []any{}}, "allowMethods: must list"},
		{map[string]any{"allowOrigins": []any{"*"}, "maxAge": "-1s"}, "negative"},
	} {
		_, err := plugin.DecodeConfig("cors", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func newBench(tb testing.TB) (*CORS, *benchctx.Ctx) {
	var cfg Config
	cfg.Default()
	cfg.AllowOrigins = []string{"https://app.example.com", "https://*.example.org"}
	cfg.ExposeHeaders = []string{"X-Request-Id"}
	p, _ := build(&cfg, nil)
	c := benchctx.New("/", "Origin", "https://a.example.org")
	c.Response(200, "Content-Type", "application/json")
	return p, c
}

func BenchmarkActual(b *testing.B) {
	p, c := newBench(b)
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		s = plugin.Slot{}
		p.Request(c, &s)
		p.Response(c, &s)
	}
}

func BenchmarkPreflight(b *testing.B) {
	p, c := newBench(b)
	c.MethodB = []byte("OPTIONS")
	c.Req = append(c.Req, benchctx.KV{Name: []byte("Access-Control-Request-Method"), Value: []byte("POST")})
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		p.Request(c, &s)
	}
}
