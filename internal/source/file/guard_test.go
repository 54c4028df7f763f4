package file

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
)

// runSource runs src into a recording sink until the test ends, and returns
// the sink once the first change is in.
func runSource(t *testing.T, src *Source) *fakeSink {
	t.Helper()
	sink := &fakeSink{changes: make(chan ir.Change, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	next(t, sink)
	return sink
}

func heldProblem(src *Source) string {
	for _, err := range src.Problems() {
		if strings.Contains(err.Error(), "held back") {
			return err.Error()
		}
	}
	return ""
}

// TestDeleteGuard: an edit that would delete too much is held back and
// reported until it is reverted, superseded, or confirmed.
func TestDeleteGuard(t *testing.T) {
	const two = "services:\n  - name: a\n    endpoints: [127.0.0.1:1]\n  - name: b\n    endpoints: [127.0.0.1:2]\n"
	const one = "services:\n  - name: a\n    endpoints: [127.0.0.1:1]\n"
	const other = "services:\n  - name: c\n    endpoints: [127.0.0.1:3]\n"
	for _, tc := range []struct {
		name  string
		guard float64
		edit  string // what the file becomes
		held  bool
	}{
		{"truncated to nothing", 1, "", true},
		{"only a comment left", 1, "# nothing\n", true},
		{"half deleted, default guard", 1, one, false},
		{"everything renamed", 1, other, false},
		{"half deleted, guard at a third", 1.0 / 3, one, true},
		{"guard off", 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "pylon.yaml", two)
			src := New(path, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
			src.SetDeleteGuard(tc.guard)
			sink := runSource(t, src)
			if err := os.WriteFile(path, []byte(tc.edit), 0o644); err != nil {
				t.Fatal(err)
			}
			if !tc.held {
				next(t, sink)
				if p := heldProblem(src); p != "" {
					t.Fatalf("held back: %s", p)
				}
				return
			}
			none(t, sink)
			if p := heldProblem(src); !strings.Contains(p, path) || !strings.Contains(p, "SIGHUP") {
				t.Fatalf("held edit not reported with its file and what to do: %q", p)
			}
			// Put back as it was: nothing to apply, and the report goes.
			rewrite(t, path, two)
			none(t, sink)
			if p := heldProblem(src); p != "" {
				t.Fatalf("still reported after the revert: %s", p)
			}
			// Again, and confirmed: the deletes apply.
			if err := os.WriteFile(path, []byte(tc.edit), 0o644); err != nil {
				t.Fatal(err)
			}
			none(t, sink)
			src.Confirm()
			if got := summary(next(t, sink)); !strings.Contains(got, "-service/b") {
				t.Fatalf("confirmed edit: %s, want service b deleted", got)
			}
			if p := heldProblem(src); p != "" {
				t.Fatalf("still reported after the confirmation: %s", p)
			}
		})
	}
}

// TestDeleteGuardFirstLoad: an empty config at the start is loaded as it is:
// nothing was live, so nothing is deleted.
func TestDeleteGuardFirstLoad(t *testing.T) {
	path := writeFile(t, t.TempDir(), "pylon.yaml", "")
	src := New(path, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	runSource(t, src)
	select {
	case <-src.Ready():
	case <-time.After(time.Second):
		t.Fatal("not ready")
	}
	if p := heldProblem(src); p != "" {
		t.Fatalf("first load held back: %s", p)
	}
}
