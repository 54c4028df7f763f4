package router

import (
	"strings"
	"testing"
)

func TestHostTableMatch(t *testing.T) {
	get := req("GET")
	tests := []struct {
		name    string
		entries []Entry[string]
		path    string
		req     *fakeReq
		want    string // "" means no match
	}{
		{"exact beats prefix", []Entry[string]{prefix("a", "/"), exact("z", "/a")}, "/a", get, "z"},
		{"exact is exact", []Entry[string]{prefix("a", "/"), exact("z", "/a")}, "/a/", get, "a"},
		{"longest prefix", []Entry[string]{prefix("a", "/api"), prefix("b", "/api/v1")}, "/api/v1/x", get, "b"},
		{"plain string prefix", []Entry[string]{prefix("a", "/api"), prefix("b", "/api/v1")}, "/apix", get, "a"},
		{"prefix too long", []Entry[string]{prefix("a", "/api/v1")}, "/api", get, ""},
		{"same length prefixes", []Entry[string]{prefix("a", "/aa"), prefix("b", "/bb"), prefix("c", "/cc")}, "/bbb", get, "b"},
		{"same length prefixes miss", []Entry[string]{prefix("a", "/aa"), prefix("b", "/bb")}, "/ccc", get, ""},
		{"prefix beats regex", []Entry[string]{regex("a", "/.*"), prefix("z", "/x")}, "/x1", get, "z"},
		{"regex when nothing else", []Entry[string]{regex("a", "/u/[0-9]+"), prefix("z", "/x")}, "/u/42", get, "a"},
		{"regex anchored", []Entry[string]{regex("a", "/u/[0-9]+")}, "/p/u/42", get, ""},
		{"regex anchored end", []Entry[string]{regex("a", "/u/[0-9]+")}, "/u/42x", get, ""},
		{"regex alternation anchored", []Entry[string]{regex("a", "/a|/b")}, "/bx", get, ""},
		{"regexes in key order", []Entry[string]{regex("b", "/.*"), regex("a", "/x.*")}, "/x", get, "a"},
		{"priority beats exact", []Entry[string]{exact("a", "/x"), withPrio(prefix("b", "/"), 5)}, "/x", get, "b"},
		{"priority beats regex order", []Entry[string]{regex("a", "/.*"), withPrio(regex("b", "/.*"), 1)}, "/x", get, "b"},
		{"negative priority last", []Entry[string]{withPrio(exact("a", "/x"), -1), prefix("b", "/")}, "/x", get, "b"},
		{"lower priority when higher misses", []Entry[string]{withPrio(prefix("a", "/y"), 9), prefix("b", "/")}, "/x", get, "b"},
		{"more predicates first", []Entry[string]{prefix("a", "/"), withHeader(prefix("b", "/"), "X-Env", MatchExact, "canary")},
			"/x", req("GET", "h:x-env", "canary"), "b"},
		{"predicate miss falls back", []Entry[string]{prefix("a", "/"), withHeader(prefix("b", "/"), "X-Env", MatchExact, "canary")},
			"/x", req("GET", "h:x-env", "stable"), "a"},
		{"same specificity key order", []Entry[string]{prefix("b", "/"), prefix("a", "/")}, "/x", get, "a"},
		{"exact predicate miss falls to prefix", []Entry[string]{withMethods(exact("a", "/x"), "POST"), prefix("b", "/")}, "/x", get, "b"},
		{"method match", []Entry[string]{withMethods(exact("a", "/x"), "PUT", "POST")}, "/x", req("POST"), "a"},
		{"method is case sensitive", []Entry[string]{withMethods(exact("a", "/x"), "POST")}, "/x", req("post"), ""},
		{"header regex", []Entry[string]{withHeader(prefix("a", "/"), "x-v", MatchRegex, "v[0-9]")}, "/", req("GET", "h:x-v", "v2"), "a"},
		{"header regex anchored", []Entry[string]{withHeader(prefix("a", "/"), "x-v", MatchRegex, "v[0-9]")}, "/", req("GET", "h:x-v", "v22"), ""},
		{"header present", []Entry[string]{withHeader(prefix("a", "/"), "X-V", MatchPresent, "")}, "/", req("GET", "h:x-v", ""), "a"},
		{"header absent", []Entry[string]{withHeader(prefix("a", "/"), "X-V", MatchPresent, "")}, "/", get, ""},
		{"query exact", []Entry[string]{withQuery(prefix("a", "/"), "v", MatchExact, "1")}, "/", req("GET", "q:v", "1"), "a"},
		{"query regex miss", []Entry[string]{withQuery(prefix("a", "/"), "v", MatchRegex, "[a-z]+")}, "/", req("GET", "q:v", "1"), ""},
		{"query name case sensitive", []Entry[string]{withQuery(prefix("a", "/"), "V", MatchPresent, "")}, "/", req("GET", "q:v", "1"), ""},
		{"all predicates must match", []Entry[string]{withQuery(withHeader(withMethods(prefix("a", "/"), "GET"), "x", MatchExact, "1"), "q", MatchExact, "2")},
			"/", req("GET", "h:x", "1", "q:q", "3"), ""},
		{"nil request fails predicates only", []Entry[string]{withMethods(prefix("a", "/"), "GET"), prefix("b", "/")}, "/", nil, "b"},
		{"regex group shares predicates order", []Entry[string]{regex("a", "/.*"), withMethods(regex("b", "/.*"), "GET")}, "/", get, "b"},
		{"empty table", nil, "/", get, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := mustCompile(t, tt.entries...)
			var r Request
			if tt.req != nil {
				r = tt.req
			}
			got, ok := tab.Match([]byte(tt.path), r)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Match(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestCompileHostErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry[string]
		want    []string // substrings of the joined error; nil means success
	}{
		{"ok", []Entry[string]{prefix("k", "/"), exact("e", "/x"), regex("r", "/[a-z]+")}, nil},
		{"empty key", []Entry[string]{prefix("", "/")}, []string{"router: entry 0: key is empty"}},
		{"duplicate key", []Entry[string]{prefix("k", "/"), exact("k", "/x")}, []string{`route "k": duplicate key`}},
		{"bad regex", []Entry[string]{regex("file/default/x", "(")},
			[]string{"route \"file/default/x\": path.regex: error parsing regexp: missing closing ): `(`"}},
		{"empty regex", []Entry[string]{regex("k", "")}, []string{`route "k": path.regex: empty expression`}},
		{"prefix without slash", []Entry[string]{prefix("k", "api")}, []string{`route "k": path.prefix: must start with "/"`}},
		{"empty exact", []Entry[string]{exact("k", "")}, []string{`route "k": path.exact: must start with "/"`}},
		{"query in path", []Entry[string]{exact("k", "/a?b")}, []string{`route "k": path.exact: invalid byte '?'`}},
		{"control byte", []Entry[string]{prefix("k", "/a\nb")}, []string{`path.prefix: invalid byte '\n'`}},
		{"unknown path kind", []Entry[string]{{Key: "k", Path: PathMatch{Kind: 9, Value: "/"}}}, []string{`route "k": path: unknown kind 9`}},
		{"bad method", []Entry[string]{withMethods(prefix("k", "/"), "GET", "G T")}, []string{`route "k": methods[1]: invalid method "G T"`}},
		{"bad header", []Entry[string]{withHeader(withHeader(prefix("k", "/"), "x", MatchPresent, ""), "x y", MatchRegex, "[")},
			[]string{`route "k": headers[1].name: invalid name "x y"`, `route "k": headers[1].regex: error parsing regexp`}},
		{"empty header name", []Entry[string]{withHeader(prefix("k", "/"), "", MatchExact, "v")}, []string{`headers[0].name: empty`}},
		{"present with value", []Entry[string]{withQuery(prefix("k", "/"), "q", MatchPresent, "v")}, []string{`query[0].present: value must be empty`}},
		{"unknown match kind", []Entry[string]{withQuery(prefix("k", "/"), "q", 7, "v")}, []string{`query[0].match: unknown kind 7`}},
		{"query name with brackets ok", []Entry[string]{withQuery(prefix("k", "/"), "ids[]", MatchPresent, "")}, nil},
		{"all errors reported", []Entry[string]{regex("a", "("), prefix("b", "x"), prefix("c", "/")},
			[]string{`route "a": path.regex`, `route "b": path.prefix`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := CompileHost(tt.entries)
			if tt.want == nil {
				if err != nil || tab == nil {
					t.Fatalf("CompileHost = %v, %v; want a table", tab, err)
				}
				return
			}
			if err == nil || tab != nil {
				t.Fatalf("CompileHost = %v, %v; want an error", tab, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
