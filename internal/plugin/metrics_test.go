package plugin

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestIdleEventCountersHaveNoSeries: every plugin instance registers its
// counters when it is built; only those whose event happened are series,
// so 100,000 routes with an auth plugin and no denials cost none.
func TestIdleEventCountersHaveNoSeries(t *testing.T) {
	m := newMetrics()
	for i := range 1000 {
		m.counter("jwt-auth", "route/r"+string(rune('a'+i%26))+string(rune('a'+i/26)), "denied")
	}
	m.counter("jwt-auth", "route/hit", "denied").Inc()
	m.counter("ip-restriction", "route/\xff", "denied").Inc() // not UTF-8: a failed series, not a panic
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	if series != 1 || err == nil {
		t.Errorf("%d series (error %v), want the one counter that counted and an error for the bad label", series, err)
	}
}

var testFamily = NewFamily("pylon_test_outcomes_total", "Outcomes of a test plugin.", "outcome")

// A plugin's own family is described to the registry (a pedantic one
// refuses undescribed series) and, like events, has a series only for the
// counters that counted.
func TestFamilyCounters(t *testing.T) {
	m := newMetrics()
	m.familyCounter(testFamily, "route/a", "allowed").Add(3)
	m.familyCounter(testFamily, "route/b", "allowed") // idle
	if m.familyCounter(testFamily, "route/a", "allowed").Value() != 3 {
		t.Fatal("the same scope and value must give the same counter")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			got = append(got, fmt.Sprintf("%s %s=%s %s=%s %v", mf.GetName(), s.Label[0].GetName(), s.Label[0].GetValue(),
				s.Label[1].GetName(), s.Label[1].GetValue(), s.GetCounter().GetValue()))
		}
	}
	want := "pylon_test_outcomes_total outcome=allowed scope=route/a 3"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("series %q, want [%q]", got, want)
	}
}

func TestFamilyNames(t *testing.T) {
	for _, name := range []string{"pylon_test_outcomes_total", "waf_total", "pylon_Bad_total", "pylon_plugin_events_total", "pylon_x"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFamily(%q) did not panic", name)
				}
			}()
			NewFamily(name, "", "x")
		}()
	}
}
