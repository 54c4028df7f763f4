package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
)

// fakeSink records every Change; reject decides which upserts it refuses.
type fakeSink struct {
	changes chan ir.Change
	reject  func(ir.Object) error
}

func (s *fakeSink) Apply(ch ir.Change) ir.Result {
	res := ir.Result{Rejected: map[ir.Key]error{}}
	for _, o := range ch.Upserts {
		if s.reject != nil {
			if err := s.reject(o); err != nil {
				res.Rejected[o.Key] = err
			}
		}
	}
	s.changes <- ch
	return res
}

// start runs a source on path and returns its sink after the first Change.
func start(t *testing.T, path string, reject func(ir.Object) error) (*fakeSink, ir.Change) {
	t.Helper()
	sink := &fakeSink{changes: make(chan ir.Change, 100), reject: reject}
	src := New(path, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-src.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return sink, next(t, sink)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func next(t *testing.T, s *fakeSink) ir.Change {
	t.Helper()
	select {
	case ch := <-s.changes:
		return ch
	case <-time.After(5 * time.Second):
		t.Fatal("no change")
		return ir.Change{}
	}
}

func none(t *testing.T, s *fakeSink) {
	t.Helper()
	select {
	case ch := <-s.changes:
		t.Fatalf("unexpected change: %s", summary(ch))
	case <-time.After(300 * time.Millisecond):
	}
}

// summary renders a change as "+route/echo -service/old", sorted.
func summary(ch ir.Change) string {
	var parts []string
	for _, o := range ch.Upserts {
		parts = append(parts, "+"+string(o.Key.Kind)+"/"+o.Key.Name)
	}
	for _, k := range ch.Deletes {
		parts = append(parts, "-"+string(k.Kind)+"/"+k.Name)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func manyRoutes(n int, edit func(i int) string) string {
	var b strings.Builder
	b.WriteString("services:\n  - name: echo\n    endpoints: [127.0.0.1:9001]\nroutes:\n")
	for i := range n {
		prefix := fmt.Sprintf("/r%d", i)
		if edit != nil {
			if p := edit(i); p != "" {
				prefix = p
			}
		}
		fmt.Fprintf(&b, "  - name: r%d\n    hosts: [h%d.example.com]\n    match: {path: {prefix: %q}}\n    backends: [{service: echo}]\n", i, i, prefix)
	}
	return b.String()
}

// rewrite replaces a file the way editors do: write a temp file, rename it over.
func rewrite(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestSourceEdits(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "routes.yaml", manyRoutes(1000, nil))
	g := writeFile(t, dir, "more/extra.yaml", "routes:\n  - name: extra\n    backends: [{service: echo}]\n")
	sink, first := start(t, dir, nil)
	if len(first.Upserts) != 1002 || len(first.Deletes) != 0 {
		t.Fatalf("first change: %d upserts, %d deletes", len(first.Upserts), len(first.Deletes))
	}

	steps := []struct {
		name string
		do   func()
		want string // summary of the expected change; "" means no change at all
	}{
		{"edit one route of 1000", func() {
			writeFile(t, dir, "routes.yaml", manyRoutes(1000, func(i int) string {
				if i == 500 {
					return "/edited"
				}
				return ""
			}))
		}, "+route/r500"},
		{"rename-over with the same content", func() {
			rewrite(t, f, manyRoutes(1000, func(i int) string { return map[int]string{500: "/edited"}[i] }))
		}, ""},
		{"delete an object", func() {
			rewrite(t, f, strings.Replace(manyRoutes(1000, nil), "  - name: r999\n    hosts: [h999.example.com]\n    match: {path: {prefix: \"/r999\"}}\n    backends: [{service: echo}]\n", "", 1))
		}, "+route/r500 -route/r999"},
		{"invalid edit keeps last good", func() {
			writeFile(t, dir, "routes.yaml", manyRoutes(999, func(i int) string {
				if i == 7 {
					return "no-slash"
				}
				return ""
			}))
		}, ""},
		{"syntax error changes nothing", func() { writeFile(t, dir, "routes.yaml", "routes: [\n") }, ""},
		{"fixed again", func() {
			writeFile(t, dir, "routes.yaml", manyRoutes(999, func(i int) string { return map[int]string{7: "/seven"}[i] }))
		}, "+route/r7"},
		{"new directory with a file", func() {
			writeFile(t, dir, "new/deeper/n.yaml", "routes:\n  - name: n\n    backends: [{service: echo}]\n")
		}, "+route/n"},
		{"delete a file", func() {
			if err := os.Remove(g); err != nil {
				t.Fatal(err)
			}
		}, "-route/extra"},
		{"duplicate in a later file is ignored", func() {
			writeFile(t, dir, "z.yaml", "routes:\n  - name: r1\n    backends: [{service: other}]\n")
		}, ""},
	}
	for _, s := range steps {
		before := time.Now()
		s.do()
		if s.want == "" {
			none(t, sink)
			continue
		}
		ch := next(t, sink)
		if got := summary(ch); got != s.want {
			t.Fatalf("%s: change %q, want %q", s.name, got, s.want)
		}
		if ch.Event.Before(before) || time.Since(ch.Event) > 5*time.Second {
			t.Errorf("%s: event time %v, edit at %v", s.name, ch.Event, before)
		}
	}

	// Shrink routes.yaml to r0 only: r1 now comes from z.yaml, the rest (r2-r998) go.
	writeFile(t, dir, "routes.yaml", manyRoutes(1, nil))
	ch := next(t, sink)
	if len(ch.Deletes) != 997 || len(ch.Upserts) != 1 || ch.Upserts[0].Key.Name != "r1" ||
		ch.Upserts[0].Resource.(*ir.Route).Backends[0].Service != "other" {
		t.Fatalf("after shrink: %d upserts %v, %d deletes", len(ch.Upserts), ch.Upserts, len(ch.Deletes))
	}
}

func TestSourceCertificateFileChange(t *testing.T) {
	dir := t.TempDir()
	cert1, key1 := selfSigned(t, "a.example.com")
	writeFile(t, dir, "certs/a.crt", cert1)
	writeFile(t, dir, "certs/a.key", key1)
	f := writeFile(t, dir, "conf/pylon.yaml", "certificates:\n  - name: a\n    certFile: ../certs/a.crt\n    keyFile: ../certs/a.key\n")
	sink, first := start(t, f, nil)
	if summary(first) != "+certificate/a" {
		t.Fatalf("first change %q", summary(first))
	}
	cert2, key2 := selfSigned(t, "a.example.com")
	writeFile(t, dir, "certs/a.key", key2)
	writeFile(t, dir, "certs/a.crt", cert2)
	ch := next(t, sink)
	// The key and certificate may land in two bursts; wait for the pair.
	for ch.Upserts[0].Resource.(*ir.Certificate).Cert != cert2 {
		ch = next(t, sink)
	}
	if summary(ch) != "+certificate/a" || ch.Upserts[0].Resource.(*ir.Certificate).Key != key2 {
		t.Fatalf("change %q", summary(ch))
	}
}

func TestSourceConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	route := func(name string) string { return "routes:\n  - name: " + name + "\n    backends: [{service: s}]\n" }
	writeFile(t, dir, "..v1/pylon.yaml", route("one"))
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/pylon.yaml", filepath.Join(dir, "pylon.yaml")))
	sink, first := start(t, filepath.Join(dir, "pylon.yaml"), nil)
	if summary(first) != "+route/one" {
		t.Fatalf("first change %q", summary(first))
	}
	// What the kubelet does: new timestamped dir, new ..data symlink renamed over the old.
	writeFile(t, dir, "..v2/pylon.yaml", route("two"))
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if got := summary(next(t, sink)); got != "+route/two -route/one" {
		t.Fatalf("after swap: %q", got)
	}
}

func TestSourceRetriesRejected(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "routes:\n  - name: a\n    backends: [{service: missing}]\n")
	tries := 0
	sink, first := start(t, dir, func(o ir.Object) error {
		if o.Key.Name == "a" {
			if tries++; tries == 1 {
				return errors.New("service missing not found")
			}
		}
		return nil
	})
	if summary(first) != "+route/a" {
		t.Fatalf("first change %q", summary(first))
	}
	writeFile(t, dir, "b.yaml", "services:\n  - name: missing\n    endpoints: [1.2.3.4:80]\n")
	if got := summary(next(t, sink)); got != "+route/a +service/missing" {
		t.Fatalf("rejected route not re-sent: %q", got)
	}
	writeFile(t, dir, "c.yaml", "routes: []\n")
	none(t, sink)
}

func TestSourceMissingPath(t *testing.T) {
	err := New(filepath.Join(t.TempDir(), "nope"), nil).Run(context.Background(), &fakeSink{})
	if err == nil || !strings.HasPrefix(err.Error(), "file: ") {
		t.Fatalf("Run = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDuplicateProblemsStand: a duplicate name stays reported after an
// unrelated edit elsewhere, until one of the two definitions goes.
func TestDuplicateProblemsStand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "services:\n  - name: echo\n    endpoints: [\"127.0.0.1:1\"]\n")
	b := writeFile(t, dir, "b.yaml", "services:\n  - name: echo\n    endpoints: [\"127.0.0.1:2\"]\n")
	c := writeFile(t, dir, "c.yaml", "services:\n  - name: other\n    endpoints: [\"127.0.0.1:3\"]\n")
	sink := &fakeSink{changes: make(chan ir.Change, 100)}
	src := New(dir, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	<-src.Ready()
	next(t, sink)
	hasDup := func() bool {
		for _, p := range src.Problems() {
			if strings.Contains(p.Error(), "duplicate service name") {
				return true
			}
		}
		return false
	}
	if !hasDup() {
		t.Fatalf("duplicate not reported: %v", src.Problems())
	}
	rewrite(t, c, "services:\n  - name: other\n    endpoints: [\"127.0.0.1:4\"]\n")
	next(t, sink)
	if !hasDup() {
		t.Fatalf("duplicate forgotten after an unrelated edit: %v", src.Problems())
	}
	rewrite(t, b, "services:\n  - name: renamed\n    endpoints: [\"127.0.0.1:2\"]\n")
	next(t, sink)
	if hasDup() {
		t.Fatalf("duplicate still reported after it was resolved: %v", src.Problems())
	}
}
