package plugin

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Counter is a lock-free event counter.
type Counter struct{ n atomic.Int64 }

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n.
func (c *Counter) Add(n int64) { c.n.Add(n) }

// Value returns the count.
func (c *Counter) Value() int64 { return c.n.Load() }

type counterKey struct{ plugin, scope, event string }

// Metrics is the plugins' metrics: per-instance event counters and
// recovered panics, as one Prometheus collector.
type Metrics struct {
	mu       sync.Mutex
	counters map[counterKey]*Counter
	byFamily map[familyKey]*Counter
	panics   map[string]*Counter
}

const (
	eventsName = "pylon_plugin_events_total"
	panicsName = "pylon_plugin_panics_total"
)

var (
	eventsDesc = prometheus.NewDesc(eventsName,
		"Plugin events (rejected, admitted, opened, dropped, ...) by plugin, scope and event.",
		[]string{"plugin", "scope", "event"}, nil)
	panicsDesc = prometheus.NewDesc(panicsName,
		"Panics recovered in plugin hooks; each request answered 500.", []string{"plugin"}, nil)
)

func newMetrics() *Metrics {
	return &Metrics{counters: map[counterKey]*Counter{}, byFamily: map[familyKey]*Counter{}, panics: map[string]*Counter{}}
}

func (m *Metrics) counter(plugin, scope, event string) *Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := counterKey{plugin, scope, event}
	c := m.counters[k]
	if c == nil {
		c = &Counter{}
		m.counters[k] = c
	}
	return c
}

// Panicked counts a panic recovered in the named plugin.
func (m *Metrics) Panicked(plugin string) {
	m.mu.Lock()
	c := m.panics[plugin]
	if c == nil {
		c = &Counter{}
		m.panics[plugin] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// collectors are plugins' own metric families (pylon_waf_*), added at
// init() with RegisterCollector and scraped with the platform's.
var collectors []prometheus.Collector

// RegisterCollector adds a plugin's own metrics, at init(): for families
// the per-instance event counters do not fit (a WAF's matches by rule id).
func RegisterCollector(c prometheus.Collector) { collectors = append(collectors, c) }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- panicsDesc
	for _, c := range collectors {
		c.Describe(ch)
	}
	describeFamilies(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A counter appears once its event has happened: every plugin instance
	// of 100,000 routes registers its counters, and idle ones must not
	// make 100,000 series.
	for k, c := range m.counters {
		if v := c.Value(); v != 0 {
			ch <- constCounter(eventsDesc, v, k.plugin, k.scope, k.event)
		}
	}
	for p, c := range m.panics {
		ch <- constCounter(panicsDesc, c.Value(), p)
	}
	for _, c := range collectors {
		c.Collect(ch)
	}
	m.collectFamilies(ch)
}

// constCounter reports a bad label value (invalid UTF-8 in a config name)
// as a failed series instead of panicking in the scrape.
func constCounter(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
