package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"
)

// syncBuffer is a bytes.Buffer safe for the goroutines that log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientLogsGoThroughSlog: what client-go logs through klog, globally
// or through a context (leader election does the latter), comes out of
// the source's logger as JSON, marked as client-go's, not as klog's plain
// text; its verbose levels are left out as klog leaves them out.
func TestClientLogsGoThroughSlog(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(klog.ClearLogger)
	kubeconfig := writeKubeconfig(t, t.TempDir(), "config", "https://127.0.0.1:6441")
	if _, err := New(Options{Kubeconfig: kubeconfig, Log: log}, nil); err != nil {
		t.Fatal(err)
	}
	klog.Infof("attempting to acquire leader lease %s...", "default/pylon")
	klog.FromContext(context.Background()).Info("Successfully acquired lease", "lock", "default/pylon")
	klog.Errorf("watch of %s ended", "ingresses")
	// client-go's verbose levels stay out, even at --log-level debug.
	klog.V(2).Infof("Starting reflector %s", "*v1.Ingress")
	klog.FromContext(context.Background()).V(4).Info("Failed to acquire lease", "lock", "default/pylon")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []struct{ level, msg string }{
		{"INFO", "attempting to acquire leader lease default/pylon..."},
		{"INFO", "Successfully acquired lease"},
		{"ERROR", "watch of ingresses ended"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		if rec["level"] != want[i].level || rec["msg"] != want[i].msg || rec["component"] != "client-go" {
			t.Errorf("line %d = %s, want level %s, msg %q, component client-go", i+1, l, want[i].level, want[i].msg)
		}
	}
}
