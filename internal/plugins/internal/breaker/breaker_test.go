package breaker

import "testing"

func testSettings() *Settings {
	return &Settings{FailureRatio: 0.5, Window: 1e9, MinRequests: 2, OpenFor: 100, Probes: 1}
}

// A request let through before the breaker opened must not count once it
// has moved on: its late success is no probe.
func TestStaleOutcomeIgnored(t *testing.T) {
	s := testSettings()
	var b Breaker
	now := int64(1000)
	clock := func() int64 { return now }
	_, slowGen := b.Admit(s, clock) // a slow request, still running
	_, g := b.Admit(s, clock)
	b.Record(s, g, false, true, false, now)
	_, g = b.Admit(s, clock)
	if to, ok := b.Record(s, g, false, true, false, now); !ok || to != Open {
		t.Fatalf("2 failures of 2: transition %v %v, want open", to, ok)
	}
	now += 200
	v, pg := b.Admit(s, clock)
	if v != HalfOpened {
		t.Fatalf("after the open time: verdict %v, want halfOpened", v)
	}
	if _, ok := b.Record(s, slowGen, false, false, false, now); ok {
		t.Fatal("a request from before the opening moved the breaker")
	}
	if b.load().state() != HalfOpen {
		t.Fatal("stale outcome changed the state")
	}
	if to, ok := b.Record(s, pg, true, false, false, now); !ok || to != Closed {
		t.Fatalf("probe success: %v %v, want closed", to, ok)
	}
}

// Probes that never report do not keep the breaker half-open for ever.
func TestLostProbesRestartAfterOpenTime(t *testing.T) {
	s := testSettings()
	var b Breaker
	now := int64(0)
	clock := func() int64 { return now }
	b.trip(0, Closed, now)
	now += 100
	if v, _ := b.Admit(s, clock); v != HalfOpened {
		t.Fatalf("verdict %v, want halfOpened", v)
	}
	if v, _ := b.Admit(s, clock); v != Reject {
		t.Fatalf("second request while the probe runs: %v, want reject", v)
	}
	now += 100
	if v, _ := b.Admit(s, clock); v != HalfOpened {
		t.Fatalf("after another open time without an outcome: %v, want a new probe round", v)
	}
}

func TestWord(t *testing.T) {
	w := makeWord(1<<29+5, HalfOpen, 999, 998)
	if w.gen() != 1<<29+5 || w.state() != HalfOpen || w.issued() != 999 || w.passed() != 998 {
		t.Fatalf("word round trip: %d %d %d %d", w.gen(), w.state(), w.issued(), w.passed())
	}
}
