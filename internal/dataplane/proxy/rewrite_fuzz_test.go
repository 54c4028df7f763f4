package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// A prefix rewrite (/static/ -> /svc/) must hand the upstream exactly the
// rewritten path, encoded once, on every engine: however the client encoded
// dots and slashes, the path an upstream decodes and cleans never leaves
// /svc/.
func FuzzRewrittenPathStaysInPrefix(f *testing.F) {
	for _, s := range traversalShapes {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if strings.ContainsAny(target, " \r\n\x00") {
			return
		}
		for _, engine := range []string{"fasthttp", "net/http"} {
			wire, ok := rewriteOnce(t, engine, target)
			if !ok {
				continue
			}
			for _, view := range upstreamViews(wire) {
				if !inPrefix(view) {
					t.Fatalf("%s: client %q reached the upstream as %q (decoded %q), outside /svc/", engine, target, wire, view)
				}
			}
		}
	})
}

// inPrefix reports whether an upstream's view of a path is /svc/ or below
// it (a cleaned "/svc/" reads "/svc").
func inPrefix(view string) bool { return view == "/svc" || strings.HasPrefix(view, "/svc/") }

// traversalShapes are paths that try to leave the prefix: single, double
// and mixed encoding, encoded slashes, backslashes, overlong UTF-8.
var traversalShapes = []string{
	"/static/%252e%252e%252fsecret.txt",
	"/static/%252e%252e/%252e%252e/etc/passwd",
	"/static/%2e%2e%2fsecret.txt",
	"/static/..%2f..%2fsecret.txt",
	"/static/%2e%2e/%2e%2e/secret.txt",
	"/static/.%2e/secret.txt",
	"/static/%25%32%65%25%32%65%25%32%66x",
	"/static/..\\..\\secret.txt",
	"/static/%5c..%5c..%5csecret.txt",
	"/static/%c0%ae%c0%ae%c0%afsecret.txt",
	"/static/%e0%80%ae%e0%80%ae/secret.txt",
	"/static/a/%2e%2e/%2e%2e/%2e%2e/x",
	"/static/%252E%252E%252Fx",
}

func TestRewriteTraversalShapes(t *testing.T) {
	for _, s := range traversalShapes {
		for _, engine := range []string{"fasthttp", "net/http"} {
			wire, ok := rewriteOnce(t, engine, s)
			if !ok {
				continue // decoded and cleaned, it is not under /static/: another route's
			}
			for _, view := range upstreamViews(wire) {
				if !inPrefix(view) {
					t.Errorf("%s: %q reached the upstream as %q (decoded %q)", engine, s, wire, view)
				}
			}
		}
	}
	// The exact form: the path the router matched, rewritten, encoded once.
	wire, _ := rewriteOnce(t, "fasthttp", "/static/%252e%252e%252fsecret.txt")
	if wire != "/svc/%252e%252e%252fsecret.txt" {
		t.Errorf("fasthttp: upstream got %q, want /svc/%%252e%%252e%%252fsecret.txt", wire)
	}
}

// rewriteOnce parses target as the engine does, applies the prefix rewrite
// the way the rewrite plugin does (Ctx.SetPath on the routed path) and
// returns the request target sent upstream; false when the routed path is
// not under /static/.
func rewriteOnce(t *testing.T, engine, target string) (string, bool) {
	switch engine {
	case "fasthttp":
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))); err != nil {
			return "", false
		}
		var fc fasthttp.RequestCtx
		fc.Init(&req, nil, nil)
		c := &Ctx{fast: &fc, path: fc.Path()}
		if !bytes.HasPrefix(c.path, []byte("/static/")) {
			return "", false
		}
		c.SetPath("/svc/" + string(c.path[len("/static/"):]))
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := fc.Request.Write(w); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		line, _, _ := strings.Cut(out.String(), "\r\n")
		parts := strings.Split(line, " ")
		if len(parts) != 3 {
			t.Fatalf("request line %q", line)
		}
		u, _, _ := strings.Cut(parts[1], "?")
		return u, true
	default:
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return "", false
		}
		r := &http.Request{URL: u, Header: http.Header{}}
		c := &Ctx{std: r, path: unsafeBytes(normalizePath(u.Path))}
		if !bytes.HasPrefix(c.path, []byte("/static/")) {
			return "", false
		}
		c.SetPath("/svc/" + string(c.path[len("/static/"):]))
		p, _, _ := strings.Cut(c.forwardURI(), "?")
		return p, true
	}
}

// upstreamViews are the paths upstreams of either kind make of a request
// target: fasthttp's decoded, normalized path and net/http's cleaned one.
func upstreamViews(target string) []string {
	var views []string
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))); err == nil {
		views = append(views, string(req.URI().Path()))
	}
	if u, err := url.ParseRequestURI(target); err == nil {
		views = append(views, path.Clean(u.Path))
	}
	return views
}
