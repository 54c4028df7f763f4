// Package telemetry holds Pylon's metrics, access log and ops HTTP server.
package telemetry

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// configBuckets span 100µs to 30s: a single-object change should go live in
// well under a millisecond, while a full resync of 100k objects may take
// seconds, and both ends need resolution.
var configBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// UpstreamSource reports the health of every endpoint by calling emit once
// per endpoint. It is called at scrape time, possibly concurrently.
type UpstreamSource func(emit func(service, endpoint string, healthy bool))

// LocalitySource reports, for every service with endpoints near the
// gateway, how many picks came from each tier (node, zone, other), by
// calling emit once per service and tier. It is called at scrape time.
type LocalitySource func(emit func(service, tier string, picks uint64))

// Metrics is Pylon's set of Prometheus metrics, on a private registry so
// that nothing registered by a library ends up on the gateway's endpoint.
type Metrics struct {
	reg *prometheus.Registry

	mu        sync.Mutex               // guards the maps; never taken on the request path
	routes    map[string][]*RouteStats // route → its stats, one per service (a few: a slice beats a map)
	retired   map[string]*serviceTotals
	listeners map[string]*ListenerStats
	upstreams map[string]*UpstreamStats
	source    atomic.Pointer[UpstreamSource]
	locality  atomic.Pointer[LocalitySource]
	certs     atomic.Pointer[CertificateSource]

	// routeSeries caps the routes that get series of their own, the busiest
	// first (RouteSeriesAll: every route with traffic).
	routeSeries int

	configObjects *prometheus.GaugeVec
	propagation   prometheus.Histogram
	compile       prometheus.Histogram
	lastReload    prometheus.Gauge
	panics        prometheus.Counter
}

// RouteSeriesAll, as WithRouteSeries's cap, gives every route with traffic
// its series.
const RouteSeriesAll = -1

// DefaultRouteSeries is how many routes get series of their own unless
// WithRouteSeries says otherwise.
const DefaultRouteSeries = 100

// Option configures Metrics.
type Option func(*Metrics)

// WithRouteSeries caps the routes that get per-route series
// (pylon_requests_total, pylon_request_duration_seconds) at n, chosen by
// the most requests since they were configured; 0 gives none, and
// RouteSeriesAll every route with traffic. Per-service series count every
// request whatever the cap.
func WithRouteSeries(n int) Option { return func(m *Metrics) { m.routeSeries = n } }

// NewMetrics returns the metrics with Go runtime and process collectors
// registered.
func NewMetrics(opts ...Option) *Metrics {
	m := &Metrics{
		reg:         prometheus.NewRegistry(),
		routes:      map[string][]*RouteStats{},
		retired:     map[string]*serviceTotals{},
		listeners:   map[string]*ListenerStats{},
		upstreams:   map[string]*UpstreamStats{},
		routeSeries: DefaultRouteSeries,
		configObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pylon_config_objects",
			Help: "Config objects by kind and validation state (accepted or rejected).",
		}, []string{"kind", "state"}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pylon_config_propagation_seconds",
			Help:    "Time from a config source event until the change is live in the data plane.",
			Buckets: configBuckets,
		}),
		compile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pylon_config_compile_seconds",
			Help:    "Time spent compiling one config change into data plane tables.",
			Buckets: configBuckets,
		}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pylon_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last config change that went live.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pylon_panics_recovered_total",
			Help: "Panics recovered in request handling or background work.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.configObjects, m.propagation, m.compile, m.lastReload, m.panics,
		(*liveCollector)(m),
	)
	for _, o := range opts {
		o(m)
	}
	return m
}

// Registry returns the private registry, for components that need to add
// their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats. A
// collector that fails (say, an upstream source emitting a duplicate) costs
// its own series, not the whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
}

// Route returns the stats of a route, creating them on first use. Calling it
// again for the same route and service returns the same stats, so counters
// survive recompiles. A route forwarding to several services (a weighted
// split) has stats per service.
func (m *Metrics) Route(route, service string) *RouteStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.routes[route] {
		if s.service == service {
			return s
		}
	}
	s := &RouteStats{route: route, service: service}
	m.routes[route] = append(m.routes[route], s)
	return s
}

// Forget drops a route removed from the config, with the stats of every
// service it used. Requests still in flight on an older config generation
// may observe into the dropped stats; those counts are lost, which beats
// keeping every route ever seen.
// The service's series keep what the route counted, so they never go
// down.
func (m *Metrics) Forget(route string) {
	m.mu.Lock()
	for _, s := range m.routes[route] {
		t := m.retired[s.service]
		if t == nil {
			t = new(serviceTotals)
			m.retired[s.service] = t
		}
		t.add(s)
	}
	delete(m.routes, route)
	m.mu.Unlock()
}

// Listener returns the stats of a listener, creating them on first use; a
// listener's new generation (a config change) keeps counting in them.
func (m *Metrics) Listener(name string) *ListenerStats {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.listeners[name]
	if l == nil {
		l = &ListenerStats{name: name}
		m.listeners[name] = l
	}
	return l
}

// ForgetListener drops the stats of a listener removed from the config.
func (m *Metrics) ForgetListener(name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.listeners, name)
	m.mu.Unlock()
}

// Upstream returns the error counters of a service, creating them on first
// use.
func (m *Metrics) Upstream(service string) *UpstreamStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.upstreams[service]
	if s == nil {
		s = &UpstreamStats{service: service}
		m.upstreams[service] = s
	}
	return s
}

// ForgetUpstream drops the error counters of a service removed from config.
// Its per-service request series go with it (once no route uses it).
func (m *Metrics) ForgetUpstream(service string) {
	m.mu.Lock()
	delete(m.upstreams, service)
	delete(m.retired, service)
	m.mu.Unlock()
}

// SetUpstreamSource sets the callback that reports endpoint health at scrape
// time; nil removes it. Pulling at scrape time keeps health checks free of
// metric bookkeeping and never leaves series behind for removed endpoints.
func (m *Metrics) SetUpstreamSource(fn func(emit func(service, endpoint string, healthy bool))) {
	if fn == nil {
		m.source.Store(nil)
		return
	}
	src := UpstreamSource(fn)
	m.source.Store(&src)
}

// SetLocalitySource sets the callback behind
// pylon_upstream_locality_picks_total; nil removes it.
func (m *Metrics) SetLocalitySource(fn func(emit func(service, tier string, picks uint64))) {
	if fn == nil {
		m.locality.Store(nil)
		return
	}
	src := LocalitySource(fn)
	m.locality.Store(&src)
}

// CertificateSource reports the expiry of every live certificate by calling
// emit once per certificate. It is called at scrape time.
type CertificateSource func(emit func(notAfter time.Time))

// SetCertificateSource sets the callback that reports certificate expiries
// at scrape time. The series it feeds are a handful whatever the number of
// certificates: how many there are, how many expire within 7, 14 and 30
// days or have expired, and the earliest expiry.
func (m *Metrics) SetCertificateSource(fn func(emit func(notAfter time.Time))) {
	src := CertificateSource(fn)
	m.certs.Store(&src)
}

// SetConfigObjects records how many objects of a kind were accepted and
// rejected by validation.
func (m *Metrics) SetConfigObjects(kind string, accepted, rejected int) {
	m.configObjects.WithLabelValues(kind, "accepted").Set(float64(accepted))
	m.configObjects.WithLabelValues(kind, "rejected").Set(float64(rejected))
}

// ObservePropagation records the time from a source event to the change
// being live.
func (m *Metrics) ObservePropagation(d time.Duration) { m.propagation.Observe(d.Seconds()) }

// ObserveCompile records the time spent compiling one change.
func (m *Metrics) ObserveCompile(d time.Duration) { m.compile.Observe(d.Seconds()) }

// SetLastReloadSuccess records when a config change last went live.
func (m *Metrics) SetLastReloadSuccess(t time.Time) {
	m.lastReload.Set(float64(t.UnixNano()) / 1e9)
}

// PanicRecovered counts a recovered panic.
func (m *Metrics) PanicRecovered() { m.panics.Inc() }

// WatchStore exports the config store's state: pylon_store_synced (1 while
// the node is connected to its store and watching, 0 while it serves its
// last good config without it) and pylon_store_revision.
func (m *Metrics) WatchStore(status func() (synced bool, revision int64)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pylon_store_synced", Help: "1 while the config store is reachable and watched, 0 otherwise."},
			func() float64 {
				if ok, _ := status(); ok {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pylon_store_revision", Help: "Last config store revision applied on this node."},
			func() float64 { _, rev := status(); return float64(rev) }),
	)
}
