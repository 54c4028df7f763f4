package compile

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

// TestKeyListedTwiceInOneChange pins what a change that lists one key twice
// means: the later upsert replaces the earlier one, whatever the checks made
// of the earlier. The live result and the reported rejections agree.
func TestKeyListedTwiceInOneChange(t *testing.T) {
	badRegex := func() *ir.Route {
		r := route("a", "a.test", "", "echo")
		r.Match.Path = &ir.PathMatch{Regex: "/(unclosed"}
		return r
	}
	for _, tc := range []struct {
		name     string
		change   []ir.Resource
		rejected string // "" = accepted
		serves   string // path of a.test that route a serves afterwards
		notServe string
	}{
		{"later valid replaces earlier valid", []ir.Resource{route("a", "a.test", "/one", "echo"), route("a", "a.test", "/two", "echo")}, "", "/two", "/one"},
		{"later valid replaces earlier invalid", []ir.Resource{badRegex(), route("a", "a.test", "/two", "echo")}, "", "/two", "/v0"},
		{"later invalid keeps the last good version", []ir.Resource{route("a", "a.test", "/one", "echo"), badRegex()}, "match.path.regex", "/v0", "/one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("a", "a.test", "/v0", "echo"))))
			res := f.c.Apply(upserts(tc.change...))
			err := res.Rejected[key(ir.KindRoute, "a")]
			switch {
			case tc.rejected == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.rejected != "" && (err == nil || !strings.Contains(err.Error(), tc.rejected)):
				t.Fatalf("got rejection %v, want one naming %s", err, tc.rejected)
			}
			if got := f.match("a.test", tc.serves); got != "a" {
				t.Errorf("a.test%s: served by %q, want route a", tc.serves, got)
			}
			if got := f.match("a.test", tc.notServe); got != "" {
				t.Errorf("a.test%s: served by %q, want nothing", tc.notServe, got)
			}
			_, listed := f.c.Rejected()[key(ir.KindRoute, "a")]
			if listed != (tc.rejected != "") {
				t.Errorf("Rejected() lists route a: %v, want %v", listed, tc.rejected != "")
			}
		})
	}
}
