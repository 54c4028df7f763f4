package router

import (
	"slices"
	"strings"
	"testing"
)

// fuzzHosts and fuzzEntries make the fixed table FuzzMatch runs against.
var fuzzHosts = map[string][]Entry[string]{
	"a.example.com":   {exact("a1", "/"), prefix("a2", "/api"), prefix("a3", "/api/v1/"), withMethods(exact("a4", "/api"), "POST"), withPrio(prefix("a5", "/admin"), 2)},
	"*.example.com":   {prefix("w1", "/"), exact("w2", "/x")},
	"*.b.example.com": {prefix("wb", "/b"), prefix("wc", "/c"), prefix("wd", "/dd"), prefix("we", "/ee")},
	"[::1]":           {prefix("v6", "/")},
	"*":               {prefix("d1", "/d"), withMethods(prefix("d2", "/d"), "GET")},
	"x.test":          {exact("x1", "/only")},
}

// refMatch is a deliberately simple reference for exact and prefix routes:
// resolve the host with string functions, then scan every route.
func refMatch(host, path, method string) (string, bool) {
	h := refHost(host)
	entries, ok := fuzzHosts[h]
	if !ok && !strings.HasPrefix(h, "[") {
		best := ""
		for k := range fuzzHosts {
			suffix, wild := strings.CutPrefix(k, "*.")
			if wild && strings.HasSuffix(h, "."+suffix) && len(h) > len(suffix)+1 && len(suffix) > len(best) {
				best, ok = suffix, true
			}
		}
		entries = fuzzHosts["*."+best]
	}
	if !ok {
		entries, ok = fuzzHosts["*"]
	}
	if !ok {
		return "", false
	}
	var win *Entry[string]
	for i := range entries {
		e := &entries[i]
		if e.Path.Kind == PathExact && path != e.Path.Value || !strings.HasPrefix(path, e.Path.Value) {
			continue
		}
		if len(e.Methods) > 0 && !slices.Contains(e.Methods, method) {
			continue
		}
		if win == nil || refBetter(e, win) {
			win = e
		}
	}
	if win == nil {
		return "", false
	}
	return win.Key, true
}

func refBetter(a, b *Entry[string]) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if (a.Path.Kind == PathExact) != (b.Path.Kind == PathExact) {
		return a.Path.Kind == PathExact
	}
	if len(a.Path.Value) != len(b.Path.Value) {
		return len(a.Path.Value) > len(b.Path.Value)
	}
	if len(a.Methods) != len(b.Methods) {
		return len(a.Methods) > len(b.Methods)
	}
	return a.Key < b.Key
}

func refHost(h string) string {
	b := []byte(h)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	h = string(b)
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	switch strings.Count(h, ":") {
	case 0:
	case 1:
		h = h[:strings.Index(h, ":")]
	default:
		return "[" + h + "]"
	}
	return strings.TrimSuffix(h, ".")
}

func FuzzMatch(f *testing.F) {
	r := New[string]()
	tables := map[string]*HostTable[string]{}
	for h, es := range fuzzHosts {
		tables[h] = mustCompile(f, es...)
	}
	r.Apply(tables)
	f.Add("a.example.com", "/api/v1/x", "GET")
	f.Add("A.EXAMPLE.COM.:80", "/api", "POST")
	f.Add("q.b.example.com", "/dd", "GET")
	f.Add("[::1]:443", "/", "GET")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, host, path, method string) {
		got, ok := r.Match([]byte(host), []byte(path), req(method))
		want, wok := refMatch(host, path, method)
		if got != want || ok != wok {
			t.Fatalf("Match(%q, %q, %q) = %q, %v; reference says %q, %v", host, path, method, got, ok, want, wok)
		}
	})
}

func FuzzCompileHost(f *testing.F) {
	f.Add(uint8(PathPrefix), "/api", "x-env", "c[a-z]+", "GET")
	f.Add(uint8(PathRegex), "/u/([0-9]+", "x", "", "")
	f.Add(uint8(PathExact), "no-slash", "bad name", "(", "G T")
	f.Fuzz(func(t *testing.T, kind uint8, path, header, headerRE, method string) {
		e := Entry[string]{Key: "fuzz/default/x", Value: "fuzz/default/x", Path: PathMatch{Kind: PathKind(kind % 4), Value: path}}
		if method != "" {
			e.Methods = []string{method}
		}
		if header != "" {
			e.Headers = []HeaderMatch{{Name: header, Match: StringMatch{Kind: MatchRegex, Value: headerRE}}}
		}
		root := prefix("fuzz/default/root", "/")
		root.Value = root.Key
		tab, err := CompileHost([]Entry[string]{e, root})
		if (tab == nil) == (err == nil) {
			t.Fatalf("CompileHost = %v, %v; want exactly one of table and error", tab, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), `route "fuzz/default/x": `) {
				t.Fatalf("error does not name the route: %v", err)
			}
			return
		}
		// A valid table must match its own exact and prefix paths ("/" ties
		// with the root route, which wins by Key).
		if e.Path.Kind != PathRegex && e.Methods == nil && e.Headers == nil && path != "/" {
			if got, ok := tab.Match([]byte(path), nil); !ok || got != e.Key {
				t.Fatalf("Match(%q) = %q, %v; want the fuzzed route", path, got, ok)
			}
		}
	})
}
