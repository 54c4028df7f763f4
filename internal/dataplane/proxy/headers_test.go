package proxy

import (
	"strings"
	"testing"
)

func TestHasRawHeader(t *testing.T) {
	raw := "Host: a\r\nTransfer-Encoding: chunked\r\nCONTENT-LENGTH: 5\r\n"
	for _, tc := range []struct {
		name string
		want bool
	}{{"content-length", true}, {"transfer-encoding", true}, {"host", true}, {"content", false}, {"x-missing", false}} {
		if got := hasRawHeader([]byte(raw), tc.name); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
	if hasRawHeader([]byte("X-Content-Length: 1\r\n"), "content-length") {
		t.Error("matched a header that only ends with the name")
	}
}

func TestForEachToken(t *testing.T) {
	var got []string
	forEachToken([]byte(" close ,X-Custom,, keep-alive\t"), func(b []byte) { got = append(got, string(b)) })
	if strings.Join(got, "|") != "close|X-Custom|keep-alive" {
		t.Fatalf("tokens = %q", got)
	}
}

func TestLookupQueryAndCookie(t *testing.T) {
	for _, tc := range []struct {
		raw, name, want string
		ok              bool
	}{
		{"a=1&b=2", "b", "2", true},
		{"a=1&flag&c=", "flag", "", true},
		{"a=1&c=", "c", "", true},
		{"a=1", "b", "", false},
		{"", "a", "", false},
	} {
		v, ok := lookupQuery([]byte(tc.raw), tc.name)
		if ok != tc.ok || string(v) != tc.want {
			t.Errorf("query %q[%s] = %q,%v", tc.raw, tc.name, v, ok)
		}
	}
	v, ok := lookupCookie([]byte("a=1; session=xyz ;b=2"), "session")
	if !ok || string(v) != "xyz" {
		t.Fatalf("cookie = %q,%v", v, ok)
	}
}

func TestRedirectLocation(t *testing.T) {
	for _, tc := range []struct {
		rd          Redirect
		tls         bool
		host, path  string
		query, want string
	}{
		{Redirect{}, false, "a.test", "/x", "q=1", "http://a.test/x?q=1"},
		{Redirect{Scheme: "https"}, false, "a.test:8080", "/x", "", "https://a.test/x"},
		{Redirect{Host: "b.test", Path: "/new"}, true, "a.test", "/x", "", "https://b.test/new"},
		{Redirect{Port: 8443}, true, "[::1]:443", "/", "", "https://[::1]:8443/"},
	} {
		got := string(redirectLocation(nil, &tc.rd, tc.tls, []byte(tc.host), []byte(tc.path), []byte(tc.query)))
		if got != tc.want {
			t.Errorf("%+v %s%s: got %s, want %s", tc.rd, tc.host, tc.path, got, tc.want)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	a, b := appendRequestID(nil), appendRequestID(nil)
	if len(a) != 32 || string(a) == string(b) || !validRequestID(a) {
		t.Fatalf("ids %s %s", a, b)
	}
	for _, bad := range []string{"", "has space", "quote\"", strings.Repeat("a", 129), "new\nline"} {
		if validRequestID([]byte(bad)) {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzHeaderParsers(f *testing.F) {
	f.Add([]byte("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"), "content-length")
	f.Add([]byte("a=1; b=2"), "b")
	f.Add([]byte("x=1&y&z="), "y")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		_ = hasRawHeader(data, strings.ToLower(name))
		forEachToken(data, func(tok []byte) {
			if len(tok) == 0 || tok[0] == ' ' || tok[len(tok)-1] == ' ' {
				t.Fatalf("untrimmed token %q", tok)
			}
		})
		if v, ok := lookupQuery(data, name); ok && len(v) > len(data) {
			t.Fatal("query value longer than input")
		}
		_, _ = lookupCookie(data, name)
		_ = validRequestID(data)
		_ = stripPort(data)
	})
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b": "/a/b", "/a//b": "/a/b", "/x/../a/b": "/a/b", "/a/./b/": "/a/b/", "/a/..": "/", "": "/", "/../..": "/",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnectionTokens(t *testing.T) {
	for v, want := range map[string]bool{"close": true, "Keep-Alive, CLOSE": true, "closed": false, "": false, "x, clos": false} {
		if got := hasCloseToken([]byte(v)); got != want {
			t.Errorf("hasCloseToken(%q) = %v", v, got)
		}
	}
	for v, want := range map[string]bool{"websocket": true, "WebSocket": true, "h2c": false, "websockets": false} {
		if got := isWebSocketUpgrade([]byte(v)); got != want {
			t.Errorf("isWebSocketUpgrade(%q) = %v", v, got)
		}
	}
}
