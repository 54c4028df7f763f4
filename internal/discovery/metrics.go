package discovery

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the Manager's statuses as pylon_discovery_* metrics,
// labelled by provider and service (one series per discovered service, so
// cardinality is bounded by the config).
type Collector struct{ m *Manager }

// NewCollector returns a collector over m, to register with a Prometheus
// registry.
func NewCollector(m *Manager) *Collector { return &Collector{m: m} }

var (
	labels       = []string{"provider", "service"}
	descApplied  = prometheus.NewDesc("pylon_discovery_sets_applied_total", "Endpoint sets handed to the service's pool.", labels, nil)
	descKept     = prometheus.NewDesc("pylon_discovery_empty_sets_kept_total", "Empty sets kept out by keepLastKnown; the pool served the last known endpoints.", labels, nil)
	descErrors   = prometheus.NewDesc("pylon_discovery_errors_total", "Polls of the provider that failed.", labels, nil)
	descEndpoint = prometheus.NewDesc("pylon_discovery_endpoints", "Endpoints in the service's current set.", labels, nil)
	descUp       = prometheus.NewDesc("pylon_discovery_provider_up", "1 when the last poll or watch of the service succeeded, 0 while its provider is unreachable.", labels, nil)
	descVersion  = prometheus.NewDesc("pylon_discovery_set_version", "Version of the service's current endpoint set.", labels, nil)
	descWatches  = prometheus.NewDesc("pylon_discovery_provider_watches", "Watches the provider runs against its registry: one per distinct query, whatever the number of services asking it.", []string{"provider"}, nil)
)

// Describe sends the metric descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descApplied, descKept, descErrors, descEndpoint, descUp, descVersion, descWatches} {
		ch <- d
	}
}

// Collect sends one sample per metric and discovered service, and the
// watches of each provider that shares them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.m.ProviderWatches() {
		ch <- prometheus.MustNewConstMetric(descWatches, prometheus.GaugeValue, float64(n), name)
	}
	for _, s := range c.m.Statuses() {
		up := 1.0
		if s.Err != "" {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(s.Applied), s.Provider, s.Pool)
		ch <- prometheus.MustNewConstMetric(descKept, prometheus.CounterValue, float64(s.EmptyKept), s.Provider, s.Pool)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), s.Provider, s.Pool)
		ch <- prometheus.MustNewConstMetric(descEndpoint, prometheus.GaugeValue, float64(s.Endpoints), s.Provider, s.Pool)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.Provider, s.Pool)
		ch <- prometheus.MustNewConstMetric(descVersion, prometheus.GaugeValue, float64(s.Version), s.Provider, s.Pool)
	}
}
