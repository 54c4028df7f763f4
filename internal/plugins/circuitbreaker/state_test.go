package circuitbreaker

import "testing"

func testSettings() *settings {
	return &settings{failureRatio: 0.5, window: 1e9, minRequests: 2, openFor: 100, probes: 1}
}

// A request let through before the breaker opened must not count once it
// has moved on: its late success is no probe.
func TestStaleOutcomeIgnored(t *testing.T) {
	s := testSettings()
	var b breaker
	now := int64(1000)
	clock := func() int64 { return now }
	_, slowGen := b.admit(s, clock) // a slow request, still running
	_, g := b.admit(s, clock)
	b.record(s, g, false, true, false, now)
	_, g = b.admit(s, clock)
	if to, ok := b.record(s, g, false, true, false, now); !ok || to != open {
		t.Fatalf("2 failures of 2: transition %v %v, want open", to, ok)
	}
	now += 200
	v, pg := b.admit(s, clock)
	if v != halfOpened {
		t.Fatalf("after the open time: verdict %v, want halfOpened", v)
	}
	if _, ok := b.record(s, slowGen, false, false, false, now); ok {
		t.Fatal("a request from before the opening moved the breaker")
	}
	if b.load().state() != halfOpen {
		t.Fatal("stale outcome changed the state")
	}
	if to, ok := b.record(s, pg, true, false, false, now); !ok || to != closed {
		t.Fatalf("probe success: %v %v, want closed", to, ok)
	}
}

// Probes that never report do not keep the breaker half-open for ever.
func TestLostProbesRestartAfterOpenTime(t *testing.T) {
	s := testSettings()
	var b breaker
	now := int64(0)
	clock := func() int64 { return now }
	b.trip(0, closed, now)
	now += 100
	if v, _ := b.admit(s, clock); v != halfOpened {
		t.Fatalf("verdict %v, want halfOpened", v)
	}
	if v, _ := b.admit(s, clock); v != reject {
		t.Fatalf("second request while the probe runs: %v, want reject", v)
	}
	now += 100
	if v, _ := b.admit(s, clock); v != halfOpened {
		t.Fatalf("after another open time without an outcome: %v, want a new probe round", v)
	}
}

func TestWord(t *testing.T) {
	w := makeWord(1<<29+5, halfOpen, 999, 998)
	if w.gen() != 1<<29+5 || w.state() != halfOpen || w.issued() != 999 || w.passed() != 998 {
		t.Fatalf("word round trip: %d %d %d %d", w.gen(), w.state(), w.issued(), w.passed())
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"5xx", "502", "4XX", "", "6xx", "99", "1000", "-50"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseStatus(s)
		if err != nil {
			return
		}
		n := 0
		for c := range 1024 {
			if set.has(c) {
				n++
				if c < 100 || c > 599 {
					t.Fatalf("%q admits %d", s, c)
				}
			}
		}
		if n != 1 && n != 100 {
			t.Fatalf("%q stands for %d codes", s, n)
		}
	})
}
