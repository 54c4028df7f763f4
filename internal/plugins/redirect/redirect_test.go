package redirect

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

type req struct {
	host, path, query string
	tls               bool
}

func redirect(t *testing.T, cfg map[string]any, rq req) (int, string) {
	t.Helper()
	r := plugintest.Build(t, "redirect", cfg, nil)
	c := plugintest.New()
	c.HostV, c.PathV, c.QueryV, c.TLSV = rq.host, rq.path, rq.query, rq.tls
	if r.Request(c) != plugin.Stop {
		return 0, ""
	}
	return c.StatusV, c.RespHeader.Get("Location")
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		rq   req
		code int
		loc  string
	}{
		{"ssl-redirect", map[string]any{"scheme": "https", "code": 308, "onlyPlainHTTP": true},
			req{"example.com", "/a b/c", "x=1", false}, 308, "https://example.com/a%20b/c?x=1"},
		{"ssl-redirect drops the http port", map[string]any{"scheme": "https", "onlyPlainHTTP": true},
			req{"example.com:8080", "/", "", false}, 302, "https://example.com/"},
		{"ssl-redirect leaves TLS alone", map[string]any{"scheme": "https", "onlyPlainHTTP": true},
			req{"example.com", "/", "", true}, 0, ""},
		{"https with a port", map[string]any{"scheme": "https", "port": 8443},
			req{"example.com:8080", "/p", "", false}, 302, "https://example.com:8443/p"},
		{"default port omitted", map[string]any{"scheme": "https", "port": 443},
			req{"example.com", "/p", "", false}, 302, "https://example.com/p"},
		{"same scheme keeps the port", map[string]any{"path": "/new"},
			req{"example.com:8080", "/old", "q=1", false}, 302, "http://example.com:8080/new?q=1"},
		{"host (www)", map[string]any{"host": "www.example.com", "code": 301},
			req{"example.com:8080", "/p", "", true}, 301, "https://www.example.com/p"},
		{"IPv6 host and port", map[string]any{"port": 9000},
			req{"[::1]:8080", "/p", "", false}, 302, "http://[::1]:9000/p"},
		{"prefix", map[string]any{"prefix": map[string]any{"match": "/old", "replacement": "/new"}},
			req{"example.com", "/old/page", "a=1", false}, 302, "http://example.com/new/page?a=1"},
		{"regex", map[string]any{"regex": map[string]any{"pattern": `^/u/(\d+)$`, "replacement": "/users?id=$1"}, "code": 303},
			req{"example.com", "/u/7", "a=1", false}, 303, "http://example.com/users?id=7&a=1"},
		{"stripQuery", map[string]any{"scheme": "https", "stripQuery": true},
			req{"example.com", "/p", "secret=1", false}, 302, "https://example.com/p"},
		{"permanent-redirect", map[string]any{"url": "https://new.example.com/landing", "code": 301},
			req{"example.com", "/anything", "a=1", false}, 301, "https://new.example.com/landing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, loc := redirect(t, tc.cfg, tc.rq)
			if code != tc.code || loc != tc.loc {
				t.Fatalf("got %d %q, want %d %q", code, loc, tc.code, tc.loc)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "nothing to redirect to"},
		{map[string]any{"scheme": "ftp"}, "scheme: must be"},
		{map[string]any{"scheme": "https", "code": 200}, "code: must be 301"},
		{map[string]any{"url": "/relative"}, "url: must be an absolute"},
		{map[string]any{"url": "https://x.example", "path": "/a"}, "url: is a whole target"},
		{map[string]any{"host": "a.example:80"}, "host: must be a host name"},
		{map[string]any{"port": 70000}, "port: must be 1-65535"},
		{map[string]any{"path": "/a", "prefix": map[string]any{"match": "/b", "replacement": "/c"}}, "exclude each other"},
		{map[string]any{"regex": map[string]any{"pattern": "/(x)", "replacement": "/$3"}}, "regex.replacement: refers to $3"},
		{map[string]any{"prefix": map[string]any{"match": "b", "replacement": "/c"}}, "prefix.match: must start with /"},
	} {
		_, err := plugin.DecodeConfig("redirect", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func BenchmarkRedirect(b *testing.B) {
	var cfg Config
	cfg.Default()
	cfg.Scheme, cfg.Code = "https", 308
	r, _ := build(&cfg, nil)
	c := benchctx.New("/some/page")
	c.QueryB = []byte("a=1")
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		r.Request(c, &s)
	}
}
