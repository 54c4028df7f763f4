package router

import "testing"

// An entry for plain HTTP only (an http-to-https redirect) is no candidate
// for a request over TLS: the next entry for the same path serves it, or
// nothing does.
func TestOnlyPlainHTTP(t *testing.T) {
	redirect := prefix("redirect", "/")
	redirect.OnlyPlainHTTP = true
	withSite := mustCompile(t, redirect, prefix("site", "/"))
	alone := mustCompile(t, redirect)
	// The site's entry sorts first by key; the plain-only entry must still
	// be tried before it, as any entry with a predicate is.
	before := redirect
	before.Key = "z-redirect"
	reordered := mustCompile(t, before, prefix("a-site", "/"))

	for _, tc := range []struct {
		name  string
		table *HostTable[string]
		tls   bool
		want  string
	}{
		{"plain with a site", withSite, false, "redirect"},
		{"tls with a site", withSite, true, "site"},
		{"plain alone", alone, false, "redirect"},
		{"tls alone", alone, true, ""},
		{"plain, keys reversed", reordered, false, "z-redirect"},
		{"tls, keys reversed", reordered, true, "a-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req("GET")
			r.tls = tc.tls
			got, _ := tc.table.Match([]byte("/shop"), r)
			if got != tc.want {
				t.Fatalf("matched %q, want %q", got, tc.want)
			}
		})
	}
}
