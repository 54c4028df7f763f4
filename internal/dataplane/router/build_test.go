package router

import (
	"reflect"
	"testing"
)

// TestSingleRouteTable checks that a host with one route gets exactly the
// table the general build makes of it, for every kind of route.
func TestSingleRouteTable(t *testing.T) {
	tests := []struct {
		name  string
		entry Entry[string]
	}{
		{"prefix", prefix("a", "/api/")},
		{"root prefix", prefix("a", "/")},
		{"exact", exact("a", "/x")},
		{"long exact", exact("a", "/a/path/longer/than/the/inline/copy/of/a/table/entry/0123456789")},
		{"regex", regex("a", "/u/[0-9]+")},
		{"priority", withPrio(prefix("a", "/"), -3)},
		{"methods", withMethods(exact("a", "/x"), "PUT", "POST")},
		{"header", withHeader(prefix("a", "/"), "X-Env", MatchExact, "canary")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := []Entry[string]{tc.entry}
			routes := make([]route[string], 1)
			if errs := compileEntry(&entries[0], &routes[0]); len(errs) > 0 {
				t.Fatal(errs)
			}
			general := make([]route[string], 1)
			copy(general, routes)
			got, want := singleTable(routes), buildLevels(entries, general)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("single-route table\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
