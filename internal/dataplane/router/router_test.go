package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// hostRouter builds a Router where each host key has a prefix "/" route
// whose value is the key, plus "/only" exact routes where noted.
func hostRouter(tb testing.TB, keys ...string) *Router[string] {
	tb.Helper()
	r := New[string]()
	tables := map[string]*HostTable[string]{}
	for _, k := range keys {
		tables[k] = mustCompile(tb, prefix(k, "/"))
	}
	r.Apply(tables)
	return r
}

func TestMatchHost(t *testing.T) {
	r := hostRouter(t, "a.example.com", "*.example.com", "*.b.example.com", "*", "[::1]", "127.0.0.1", "x.test")
	// A host whose table has no route for "/miss" must not fall back to
	// the wildcard or default host.
	only := mustCompile(t, exact("only.example.com", "/only"))
	r.Apply(map[string]*HostTable[string]{"only.example.com": only})
	tests := []struct {
		host, path, want string
	}{
		{"a.example.com", "/", "a.example.com"},
		{"A.Example.COM", "/", "a.example.com"},
		{"a.example.com:8080", "/", "a.example.com"},
		{"a.example.com.", "/", "a.example.com"},
		{"A.EXAMPLE.com.:443", "/", "a.example.com"},
		{"c.example.com", "/", "*.example.com"},
		{"x.c.example.com", "/", "*.example.com"},
		{"c.b.example.com", "/", "*.b.example.com"},
		{"x.c.b.example.com", "/", "*.b.example.com"},
		{"b.example.com", "/", "*.example.com"},
		{"example.com", "/", "*"},
		{".example.com", "/", "*"},
		{"other.org", "/", "*"},
		{"", "/", "*"},
		{":80", "/", "*"},
		{"[::1]:8080", "/", "[::1]"},
		{"[::1]", "/", "[::1]"},
		{"::1", "/", "[::1]"},
		{"[::2]:8080", "/", "*"},
		{"[::1", "/", "*"},
		{"127.0.0.1:9000", "/", "127.0.0.1"},
		{"X.TEST:1", "/", "x.test"},
		{"only.example.com", "/only", "only.example.com"},
		{"only.example.com", "/miss", ""},
		{"ONLY.example.com:1", "/miss", ""},
		{strings.Repeat("A", 300) + ".example.com", "/", "*.example.com"},
		{strings.Repeat("a", 300), "/", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			got, ok := r.Match([]byte(tt.host), []byte(tt.path), nil)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Match(%q, %q) = %q, %v; want %q", tt.host, tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestMatchNoDefault(t *testing.T) {
	r := hostRouter(t, "a.example.com")
	if v, ok := r.Match([]byte("b.example.com"), []byte("/"), nil); ok {
		t.Errorf("Match = %q; want no match without a default host", v)
	}
	if v, ok := New[string]().Match([]byte("a"), []byte("/"), nil); ok {
		t.Errorf("empty router matched %q", v)
	}
}

func TestApply(t *testing.T) {
	r := hostRouter(t, "a.example.com", "b.example.com", "*.example.com", "*")
	if got := r.Len(); got != 4 {
		t.Fatalf("Len = %d; want 4", got)
	}
	t.Run("keys are normalized", func(t *testing.T) {
		for _, k := range []string{"A.example.com", "a.example.com.", "*.EXAMPLE.com", "*"} {
			if r.Table(k) == nil {
				t.Errorf("Table(%q) = nil", k)
			}
		}
		if r.Table("c.example.com") != nil {
			t.Errorf("Table does not resolve wildcards")
		}
	})
	t.Run("replace one host", func(t *testing.T) {
		before := map[string]*HostTable[string]{}
		for _, k := range []string{"a.example.com", "b.example.com", "*.example.com", "*"} {
			before[k] = r.Table(k)
		}
		nt := mustCompile(t, prefix("new", "/"))
		r.Apply(map[string]*HostTable[string]{"a.example.com": nt})
		if r.Table("a.example.com") != nt {
			t.Errorf("a.example.com not replaced")
		}
		for k, tab := range before {
			if k != "a.example.com" && r.Table(k) != tab {
				t.Errorf("Table(%q) changed identity", k)
			}
		}
		if v, _ := r.Match([]byte("a.example.com"), []byte("/"), nil); v != "new" {
			t.Errorf("Match = %q; want new", v)
		}
		if r.Len() != 4 {
			t.Errorf("Len = %d; want 4", r.Len())
		}
	})
	t.Run("delete", func(t *testing.T) {
		r.Apply(map[string]*HostTable[string]{"a.example.com": nil, "*": nil, "*.example.com": nil, "absent": nil})
		if r.Len() != 1 {
			t.Errorf("Len = %d; want 1", r.Len())
		}
		if v, ok := r.Match([]byte("a.example.com"), []byte("/"), nil); ok {
			t.Errorf("deleted host matched %q", v)
		}
		if v, _ := r.Match([]byte("b.example.com"), []byte("/"), nil); v != "b.example.com" {
			t.Errorf("Match = %q", v)
		}
	})
}

// TestApplyLeavesOtherHostsUntouched asserts the DESIGN invariant that a
// change to one host never replaces another host's table, at scale.
func TestApplyLeavesOtherHostsUntouched(t *testing.T) {
	r := New[string]()
	tab := mustCompile(t, prefix("k", "/"))
	all := map[string]*HostTable[string]{}
	for i := range 5000 {
		all[fmt.Sprintf("h%d.example.com", i)] = tab
	}
	all["*.example.com"] = tab
	r.Apply(all)
	seen := map[string]*HostTable[string]{}
	for i := range 5000 {
		k := fmt.Sprintf("h%d.example.com", i)
		nt := mustCompile(t, prefix(k, "/"))
		r.Apply(map[string]*HostTable[string]{k: nt})
		seen[k] = nt
	}
	for k, want := range seen {
		if r.Table(k) != want {
			t.Fatalf("Table(%q) lost its table", k)
		}
	}
	if r.Table("*.example.com") != tab || r.Len() != 5001 {
		t.Fatalf("wildcard or count changed")
	}
}

// TestConcurrentMatchApply runs readers against a writer; run it with -race.
func TestConcurrentMatchApply(t *testing.T) {
	r := New[string]()
	hosts := make([]string, 200)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.com", i)
	}
	tables := map[string]*HostTable[string]{}
	for _, h := range hosts {
		tables[h] = mustCompile(t, prefix(h, "/"))
	}
	r.Apply(tables)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var matched atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				h := hosts[rng.IntN(len(hosts))]
				v, ok := r.Match([]byte(h), []byte("/x"), nil)
				// Hosts are only ever replaced by a table for the same
				// host, or briefly removed.
				if ok && v != "wild" && !strings.HasPrefix(v, h) {
					t.Errorf("Match(%q) = %q", h, v)
					return
				}
				matched.Add(1)
				_ = r.Len()
			}
		})
	}
	wild := mustCompile(t, prefix("wild", "/"))
	for i := range 2000 {
		h := hosts[i%len(hosts)]
		var tab *HostTable[string]
		if i%7 != 0 {
			tab = mustCompile(t, prefix(fmt.Sprintf("%s#%d", h, i), "/"))
		}
		r.Apply(map[string]*HostTable[string]{h: tab, "*.example.com": wild})
	}
	stop.Store(true)
	wg.Wait()
	if matched.Load() == 0 {
		t.Fatal("readers never ran")
	}
}
