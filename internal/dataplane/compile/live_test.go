package compile

import (
	"fmt"
	"slices"
	"testing"

	"pylon.io/pylon/internal/ir"
)

func liveNames(objs []ir.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Key.Source+":"+o.Key.DisplayName())
	}
	return out
}

// TestLiveView: the read view lists the accepted objects of every source in
// display-name order, pages after a name, skips one source, follows
// upserts and deletes made before and after it was first read, and leaves
// out what was rejected.
func TestLiveView(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("echo", "127.0.0.1:1"), route("b-file", "b.test", "/", "echo"))))
	kube := []ir.Object{ir.NewObject("kubernetes", "shop", svc("cart", "127.0.0.1:2")), ir.NewObject("kubernetes", "shop", route("cart-0", "shop.test", "/", "cart"))}
	mustAccept(t, f.c.Apply(ir.Change{Upserts: append(kube, apiObj(route("a-api", "a.test", "/", "echo")))}))

	steps := []struct {
		name  string
		apply ir.Change
		after string
		skip  string
		limit int
		want  []string
	}{
		{name: "every source, in order", limit: 10, want: []string{"api:a-api", "file:b-file", "kubernetes:shop/cart-0"}},
		{name: "skip a source", skip: "api", limit: 10, want: []string{"file:b-file", "kubernetes:shop/cart-0"}},
		{name: "a page", limit: 2, want: []string{"api:a-api", "file:b-file"}},
		{name: "after a name", after: "b-file", limit: 2, want: []string{"kubernetes:shop/cart-0"}},
		{name: "an upsert after the first read", apply: upserts(route("c-file", "c.test", "/", "echo")), limit: 10,
			want: []string{"api:a-api", "file:b-file", "file:c-file", "kubernetes:shop/cart-0"}},
		{name: "a delete", apply: ir.Change{Deletes: []ir.Key{key(ir.KindRoute, "b-file")}}, limit: 10,
			want: []string{"api:a-api", "file:c-file", "kubernetes:shop/cart-0"}},
		{name: "a rejected route is not live", apply: upserts(route("d-file", "d.test", "/", "nosuch")), limit: 10,
			want: []string{"api:a-api", "file:c-file", "kubernetes:shop/cart-0"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if len(s.apply.Upserts)+len(s.apply.Deletes) > 0 {
				f.c.Apply(s.apply)
			}
			if got := liveNames(f.c.LiveList(ir.KindRoute, s.after, s.skip, s.limit)); !slices.Equal(got, s.want) {
				t.Errorf("LiveList = %v, want %v", got, s.want)
			}
		})
	}
	if got := liveNames(f.c.LiveList(ir.KindService, "", "", 10)); !slices.Equal(got, []string{"file:echo", "kubernetes:shop/cart"}) {
		t.Errorf("services: %v", got)
	}
	for _, c := range []struct {
		name, skip, want string
	}{
		{"shop/cart-0", "api", "kubernetes"},
		{"c-file", "api", "file"},
		{"a-api", "", "api"},
		{"a-api", "api", ""},
		{"b-file", "", ""},
		{"cart-0", "", ""},
	} {
		o, ok := f.c.LiveGet(ir.KindRoute, c.name, c.skip)
		if got := o.Key.Source; got != c.want || ok != (c.want != "") {
			t.Errorf("LiveGet(%q, skip %q) = %q %v, want %q", c.name, c.skip, got, ok, c.want)
		}
	}
}

// BenchmarkLiveList100k pages through 100,000 live routes 500 at a time, as
// `pylon get routes` does: each page must cost O(log n + page), not O(n).
func BenchmarkLiveList100k(b *testing.B) {
	f := newFixture(b)
	mustAccept(b, f.c.Apply(manyRoutes(100_000)))
	f.c.LiveList(ir.KindRoute, "", "", 1) // builds the view
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		after := fmt.Sprintf("r%d", (i*7919)%100_000)
		if got := f.c.LiveList(ir.KindRoute, after, "api", 500); len(got) == 0 {
			b.Fatalf("empty page after %s", after)
		}
		i++
	}
}
