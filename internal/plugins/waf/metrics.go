package waf

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/plugin"
)

// ruleCounters counts matches by rule id, across every waf instance: the
// ids are the rule sets' (the CRS has about 650), not the traffic's, so the
// series are bounded.
type ruleCounters struct {
	m sync.Map // int → *atomic.Int64
}

func (r *ruleCounters) inc(id int) {
	v, ok := r.m.Load(id)
	if !ok {
		v, _ = r.m.LoadOrStore(id, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

var (
	matches = &ruleCounters{}

	matchesDesc = prometheus.NewDesc("pylon_waf_rule_matches_total",
		"WAF rule matches that logged, by rule id, in block and detect mode alike.", []string{"rule_id"}, nil)
	ruleSetsDesc = prometheus.NewDesc("pylon_waf_rule_sets",
		"Compiled WAF rule sets: one per distinct waf config, shared by every scope using it.", nil, nil)
)

func ruleMetrics() *ruleCounters { return matches }

type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- matchesDesc
	ch <- ruleSetsDesc
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	matches.m.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(matchesDesc, prometheus.CounterValue,
			float64(v.(*atomic.Int64).Load()), strconv.Itoa(k.(int)))
		return true
	})
	cache.mu.Lock()
	n := 0
	for _, e := range cache.m {
		if e.refs > 0 {
			n++
		}
	}
	cache.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(ruleSetsDesc, prometheus.GaugeValue, float64(n))
}

func init() { plugin.RegisterCollector(collector{}) }
