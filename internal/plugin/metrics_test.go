package plugin

import (
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
