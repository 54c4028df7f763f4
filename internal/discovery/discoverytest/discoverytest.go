// Package discoverytest holds what the providers' tests share: a Watch
// that runs for a whole test and is read set by set, and the invariants
// every decoded set must hold (for the fuzz targets).
package discoverytest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
)

// Watch is one provider Watch running for a whole test.
type Watch struct {
	sets chan discovery.Set
	done chan error
}

// StartWatch runs p.Watch(q) until the test ends; it must then return
// context.Canceled.
func StartWatch(t testing.TB, p discovery.Provider, q discovery.Query) *Watch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watch{sets: make(chan discovery.Set, 64), done: make(chan error, 1)}
	// A set the test no longer reads must not block the provider's
	// return once the test ends.
	send := func(s discovery.Set) {
		select {
		case w.sets <- s:
		case <-ctx.Done():
		}
	}
	go func() { w.done <- p.Watch(ctx, q, send) }()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != context.Canceled {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	})
	return w
}

// Next waits up to within for a set whose addresses are want (none: an
// empty set), skipping sets on the way; it fails the test if the watch
// ends first.
func (w *Watch) Next(t testing.TB, within time.Duration, want ...string) discovery.Set {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	return w.Until(t, within, fmt.Sprintf("a set %v", want), func(s discovery.Set) bool { return slices.Equal(Addrs(s), want) })
}

// Until waits up to within for a set ok accepts (what names it in the
// failure), skipping sets on the way; it fails the test if the watch ends
// first.
func (w *Watch) Until(t testing.TB, within time.Duration, what string, ok func(discovery.Set) bool) discovery.Set {
	t.Helper()
	deadline := time.After(within)
	var seen [][]string
	for {
		select {
		case s := <-w.sets:
			if ok(s) {
				return s
			}
			seen = append(seen, Addrs(s))
		case err := <-w.done:
			t.Fatalf("waiting for %s: Watch ended: %v", what, err)
		case <-deadline:
			t.Fatalf("no %s within %s (saw %v)", what, within, seen)
		}
	}
}

// Quiet fails the test if the watch sends a set within d.
func (w *Watch) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case s := <-w.sets:
		t.Fatalf("unexpected set %v", Addrs(s))
	case <-time.After(d):
	}
}

// Addrs lists the addresses of a set, in its order.
func Addrs(s discovery.Set) []string {
	out := []string{}
	for _, in := range s.Instances {
		out = append(out, in.Address)
	}
	return out
}

// CheckSet fails on a set no decoder may make, whatever its input said:
// more than discovery.MaxInstances instances, an address that is not
// host:port with a port in 1-65535, a weight below 1, or metadata, tags or
// a zone that are not text.
func CheckSet(t testing.TB, set discovery.Set) {
	t.Helper()
	if len(set.Instances) > discovery.MaxInstances {
		t.Fatalf("%d instances", len(set.Instances))
	}
	for _, in := range set.Instances {
		host, port, err := net.SplitHostPort(in.Address)
		if err != nil || host == "" {
			t.Fatalf("address %q: %v", in.Address, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("address %q: port", in.Address)
		}
		if in.Weight < 1 {
			t.Fatalf("%s: weight %d", in.Address, in.Weight)
		}
		for k, v := range in.Metadata {
			if !discovery.IsText(k) || !discovery.IsText(v) {
				t.Fatalf("%s: metadata %q=%q is not text", in.Address, k, v)
			}
		}
		for _, tag := range in.Tags {
			if !discovery.IsText(tag) {
				t.Fatalf("%s: tag %q is not text", in.Address, tag)
			}
		}
		if !discovery.IsText(in.Zone) {
			t.Fatalf("%s: zone %q is not text", in.Address, in.Zone)
		}
	}
}
