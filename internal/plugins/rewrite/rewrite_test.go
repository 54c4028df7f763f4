package rewrite

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func run(t *testing.T, cfg map[string]any, path, query string) *plugintest.Ctx {
	t.Helper()
	r := plugintest.Build(t, "rewrite", cfg, nil)
	c := plugintest.New()
	c.PathV, c.QueryV = path, query
	if r.Request(c) != plugin.Continue {
		t.Fatal("stopped")
	}
	return c
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ match, repl, path, want string }{
		{"/api", "/", "/api/users", "/users"},
		{"/api", "/", "/api", "/"},
		{"/api/", "/", "/api/users", "/users"},
		{"/api", "/v2", "/api/users", "/v2/users"},
		{"/api", "/v2/", "/api/users", "/v2/users"},
		{"/api", "", "/api/users", "/users"},
		{"/api", "/v2", "/apix", "/v2x"},
		{"/api", "/v2", "/other", "/other"},
	} {
		c := run(t, map[string]any{"prefix": map[string]any{"match": tc.match, "replacement": tc.repl}}, tc.path, "")
		if c.PathV != tc.want {
			t.Errorf("prefix %q→%q on %q: %q, want %q", tc.match, tc.repl, tc.path, c.PathV, tc.want)
		}
	}
}

func TestRegex(t *testing.T) {
	for _, tc := range []struct{ pattern, repl, path, query, wantPath, wantQuery string }{
		// ingress-nginx's rewrite-target with use-regex.
		{"/something(/|$)(.*)", "/$2", "/something/new", "a=1", "/new", "a=1"},
		{"/something(/|$)(.*)", "/$2", "/something", "", "/", ""},
		{"(?i)/something(/|$)(.*)", "/$2", "/SOMETHING/x", "", "/x", ""},
		{`^/users/(?P<id>\d+)$`, "/v2/user/${id}/profile", "/users/42", "", "/v2/user/42/profile", ""},
		{`^/users/(\d+)$`, "/u?id=$1", "/users/42", "x=1", "/u", "id=42&x=1"},
		{`^/users/(\d+)$`, "/u", "/other", "x=1", "/other", "x=1"},
		{`^/(.*)$`, "$1", "/a", "", "/a", ""},
	} {
		c := run(t, map[string]any{"regex": map[string]any{"pattern": tc.pattern, "replacement": tc.repl}}, tc.path, tc.query)
		if c.PathV != tc.wantPath || c.QueryV != tc.wantQuery {
			t.Errorf("%q→%q on %q?%s: %q?%s, want %q?%s", tc.pattern, tc.repl, tc.path, tc.query, c.PathV, c.QueryV, tc.wantPath, tc.wantQuery)
		}
	}
}

func TestPathHostQuery(t *testing.T) {
	c := run(t, map[string]any{"path": "/index.html", "host": "internal.example:8080", "addQuery": "src=gw"}, "/x", "a=1")
	if c.PathV != "/index.html" || c.UpstreamHost != "internal.example:8080" || c.QueryV != "a=1&src=gw" {
		t.Fatalf("got %q %q %q", c.PathV, c.UpstreamHost, c.QueryV)
	}
	c = run(t, map[string]any{"stripQuery": true}, "/x", "secret=1")
	if c.PathV != "/x" || c.QueryV != "" {
		t.Fatalf("got %q %q", c.PathV, c.QueryV)
	}
	c = run(t, map[string]any{"stripQuery": true, "addQuery": "a=b"}, "/x", "secret=1")
	if c.QueryV != "a=b" {
		t.Fatalf("got %q", c.QueryV)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "nothing to rewrite"},
		{map[string]any{"path": "x"}, "path: must start with /"},
		{map[string]any{"path": "/a", "prefix": map[string]any{"match": "/b", "replacement": "/"}}, "exclude each other"},
		{map[string]any{"prefix": map[string]any{"match": "", "replacement": "/"}}, "prefix.match:"},
		{map[string]any{"prefix": map[string]any{"match": "/a", "replacement": "b"}}, "prefix.replacement:"},
		{map[string]any{"regex": map[string]any{"pattern": "(", "replacement": "/"}}, "regex.pattern: must be an RE2"},
		{map[string]any{"regex": map[string]any{"pattern": "/(a)", "replacement": "/$2"}}, "regex.replacement: refers to $2"},
		{map[string]any{"regex": map[string]any{"pattern": "/(a)", "replacement": "/$1x"}}, "refers to $1x"},
		{map[string]any{"regex": map[string]any{"pattern": "/(a)", "replacement": ""}}, "regex.replacement: must not be empty"},
		{map[string]any{"host": "a/b"}, "host:"},
		{map[string]any{"addQuery": "?a=b"}, "addQuery:"},
	} {
		_, err := plugin.DecodeConfig("rewrite", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func BenchmarkRewrite(b *testing.B) {
	for name, cfg := range map[string]*Config{
		"prefix": {Prefix: &Prefix{Match: "/api", Replacement: "/"}},
		"regex":  {Regex: &Regex{Pattern: "/api(/|$)(.*)", Replacement: "/$2"}},
		"path":   {Path: "/index.html", Host: "internal.example"},
	} {
		b.Run(name, func(b *testing.B) {
			r, err := build(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			c := benchctx.New("/api/users/42")
			var s plugin.Slot
			b.ReportAllocs()
			for b.Loop() {
				r.Access(c, &s)
			}
		})
	}
}
