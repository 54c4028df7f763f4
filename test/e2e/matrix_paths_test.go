package e2e

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// pathCases: the path the upstream gets is the one the gateway routed and
// the plugins rewrote, encoded once.
func pathCases() []matrixCase {
	return []matrixCase{
		{name: "rewrite", skip: noGRPCPaths, run: caseRewrite},
		{name: "redirect", skip: noGRPCPaths, run: caseRedirect},
		{name: "traversal", skip: noGRPCPaths, run: caseTraversal},
	}
}

func noGRPCPaths(p pair) string {
	if p.client.family == famGRPC {
		return "a gRPC path names a method: clients neither follow redirects nor send URL paths to rewrite"
	}
	return ""
}

// caseRewrite: the rewrite plugin's prefix replaces the route's; the query
// is kept as sent.
func caseRewrite(t *testing.T, p pair) {
	saw := upstreamSaw(t, p.send(t, request{host: p.host("rw"), path: "/static/a/b.txt?v=1&w=%20"}))
	if saw.URI != "/svc/a/b.txt?v=1&w=%20" {
		t.Errorf("upstream got %q, want /svc/a/b.txt?v=1&w=%%20", saw.URI)
	}
}

// caseRedirect: the redirect plugin answers with a Location built from the
// request, and nothing reaches the upstream.
func caseRedirect(t *testing.T, p pair) {
	o := p.send(t, request{host: p.host("redir"), path: "/old/page?q=1"})
	if o.status != http.StatusTemporaryRedirect || o.saw != nil {
		t.Fatalf("want the plugin's 307, got %v", o)
	}
	loc, err := url.Parse(o.header.Get("Location"))
	if err != nil || loc.Path != "/moved" || loc.RawQuery != "q=1" {
		t.Errorf("Location %q, want /moved?q=1", o.header.Get("Location"))
	}
}

// traversalShapes are request targets that try to leave the rewritten
// prefix. The gateway decodes a path once and resolves its dot segments
// before routing (docs/configuration.md), so a shape that leaves /static/
// when decoded once matches no route on the rw host (404, or 400 if the
// gateway refuses the shape outright); one that stays must reach the
// upstream as its rewritten path encoded once: exactly want, hex digits
// compared without case. refuse allows a 400 for a target that is not a
// valid path (a raw backslash, invalid UTF-8).
var traversalShapes = []struct {
	name, target string
	want         string // "": nothing may reach the upstream
	refuse       bool
}{
	{"double", "/static/%252e%252e%252fsecret.txt", "/svc/%252e%252e%252fsecret.txt", false},
	{"double-segments", "/static/%252e%252e/%252e%252e/etc/passwd", "/svc/%252e%252e/%252e%252e/etc/passwd", false},
	{"mixed", "/static/%2e%252e/secret.txt", "/svc/.%252e/secret.txt", false},
	{"single", "/static/%2e%2e/secret.txt", "", true},
	{"encoded-slash", "/static/..%2fsecret.txt", "", true},
	{"backslash", `/static/..\secret.txt`, "/svc/..%5Csecret.txt", true},
	{"encoded-backslash", "/static/..%5csecret.txt", "/svc/..%5Csecret.txt", false},
	{"overlong-dot", "/static/%c0%ae%c0%ae/secret.txt", "/svc/%C0%AE%C0%AE/secret.txt", true},
	{"overlong-slash", "/static/..%c0%afsecret.txt", "/svc/..%C0%AFsecret.txt", true},
}

// caseTraversal: the rewritten path never leaves the replacement prefix,
// and is decoded exactly once on every engine.
func caseTraversal(t *testing.T, p pair) {
	for _, s := range traversalShapes {
		o := p.send(t, request{host: p.host("rw"), path: s.target})
		switch {
		case o.err != nil:
			t.Errorf("%s %s: %v", s.name, s.target, o.err)
		case o.saw != nil && !underPrefix(o.saw.URI, "/svc/"):
			t.Errorf("%s %s: upstream got %q, outside /svc/", s.name, s.target, o.saw.URI)
		case o.saw != nil && s.want == "":
			t.Errorf("%s %s: upstream got %q; the path leaves the route once decoded", s.name, s.target, o.saw.URI)
		case o.saw != nil && upperHex(o.saw.URI) != upperHex(s.want):
			t.Errorf("%s %s: upstream got %q, want %q", s.name, s.target, o.saw.URI, s.want)
		case o.saw == nil && s.refuse && o.status == http.StatusBadRequest:
		case o.saw == nil && s.want == "" && o.status != http.StatusNotFound:
			t.Errorf("%s %s: want 404 (no route), got %v", s.name, s.target, o)
		case o.saw == nil && s.want != "":
			t.Errorf("%s %s: want it upstream as %s, got %v", s.name, s.target, s.want, o)
		}
	}
}

// upperHex upper-cases the hex digits of percent escapes.
func upperHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = upper(b[i+1]), upper(b[i+2])
		}
	}
	return string(b)
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// underPrefix reports whether target, read the way an upstream does
// (decoded once, dot segments resolved), stays under prefix.
func underPrefix(target, prefix string) bool {
	p, _, _ := strings.Cut(target, "?")
	dec, err := url.PathUnescape(p)
	if err != nil {
		return false
	}
	return strings.HasPrefix(path.Clean(dec)+"/", prefix)
}
