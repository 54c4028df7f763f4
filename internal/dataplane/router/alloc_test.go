package router

import "testing"

// TestMatchDoesNotAllocate guards DESIGN invariant 1: route matching never
// allocates, on every kind of lookup.
func TestMatchDoesNotAllocate(t *testing.T) {
	r := New[string]()
	r.Apply(map[string]*HostTable[string]{
		"a.example.com": mustCompile(t,
			exact("exact", "/exact"),
			prefix("p1", "/api/"), prefix("p2", "/api/v1/"), prefix("p3", "/bbb/"), prefix("p4", "/ccc/"),
			regex("re", "/u/[0-9]+"),
			withHeader(prefix("hdr", "/h"), "X-Env", MatchExact, "canary"),
			withHeader(prefix("hdrre", "/hr"), "X-Env", MatchRegex, "c[a-z]+"),
			withQuery(withMethods(prefix("q", "/q"), "GET"), "v", MatchPresent, ""),
			withPrio(exact("prio", "/prio"), 3),
		),
		"*.example.com":   mustCompile(t, prefix("wild", "/")),
		"*.b.example.com": mustCompile(t, prefix("wildb", "/")),
		"[::1]":           mustCompile(t, prefix("v6", "/")),
		"*":               mustCompile(t, prefix("default", "/")),
	})
	rq := req("GET", "h:x-env", "canary", "q:v", "1")
	tests := []struct{ name, host, path, want string }{
		{"exact", "a.example.com", "/exact", "exact"},
		{"prefix", "a.example.com", "/api/v1/users", "p2"},
		{"regex", "a.example.com", "/u/123", "re"},
		{"header", "a.example.com", "/h", "hdr"},
		{"header regex", "a.example.com", "/hr", "hdrre"},
		{"method and query", "a.example.com", "/q", "q"},
		{"priority", "a.example.com", "/prio", "prio"},
		{"uppercase host with port", "A.Example.COM:8443", "/exact", "exact"},
		{"trailing dot", "a.example.com.", "/exact", "exact"},
		{"wildcard", "x.y.example.com", "/", "wild"},
		{"deep wildcard", "X.b.example.com", "/", "wildb"},
		{"ipv6", "[::1]:8080", "/", "v6"},
		{"bare ipv6", "::1", "/", "v6"},
		{"default", "other.org", "/", "default"},
		{"miss", "a.example.com", "/none", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, path := []byte(tt.host), []byte(tt.path)
			if got, _ := r.Match(host, path, rq); got != tt.want {
				t.Fatalf("Match = %q; want %q", got, tt.want)
			}
			if n := testing.AllocsPerRun(100, func() { r.Match(host, path, rq) }); n != 0 {
				t.Errorf("Match allocates %v times per run", n)
			}
		})
	}
}
