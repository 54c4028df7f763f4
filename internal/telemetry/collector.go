package telemetry

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	requestsDesc = prometheus.NewDesc("pylon_requests_total",
		"Requests handled, by route, service and response status code.",
		[]string{"route", "service", "code"}, nil)
	durationDesc = prometheus.NewDesc("pylon_request_duration_seconds",
		"Time from reading the request to the end of the response, by route and service.",
		[]string{"route", "service"}, nil)
	listenerRequestsDesc = prometheus.NewDesc("pylon_listener_requests_total",
		"Requests answered, by listener and response status code, routed or not.",
		[]string{"listener", "code"}, nil)
	listenerDurationDesc = prometheus.NewDesc("pylon_listener_request_duration_seconds",
		"Time from reading the request to the end of the response, by listener.",
		[]string{"listener"}, nil)
	certificatesDesc = prometheus.NewDesc("pylon_certificates",
		"Certificates served.", nil, nil)
	certificatesExpiringDesc = prometheus.NewDesc("pylon_certificates_expiring",
		"Certificates served that expire within the given time (7d, 14d, 30d) or have expired.",
		[]string{"within"}, nil)
	certificatesExpiredDesc = prometheus.NewDesc("pylon_certificates_expired",
		"Certificates served whose validity has ended.", nil, nil)
	certificateEarliestDesc = prometheus.NewDesc("pylon_certificate_expiry_earliest_timestamp_seconds",
		"Unix time when the first of the certificates served expires.", nil, nil)
	serviceRequestsDesc = prometheus.NewDesc("pylon_service_requests_total",
		"Requests handled, by service and response status code, over every route.",
		[]string{"service", "code"}, nil)
	serviceDurationDesc = prometheus.NewDesc("pylon_service_request_duration_seconds",
		"Time from reading the request to the end of the response, by service, over every route.",
		[]string{"service"}, nil)
	endpointHealthyDesc = prometheus.NewDesc("pylon_upstream_endpoint_healthy",
		"1 if the upstream endpoint is healthy, 0 if it is not.",
		[]string{"service", "endpoint"}, nil)
	upstreamErrorsDesc = prometheus.NewDesc("pylon_upstream_errors_total",
		"Failed attempts to reach an upstream, by service and kind (connect, timeout, reset).",
		[]string{"service", "kind"}, nil)
	localityPicksDesc = prometheus.NewDesc("pylon_upstream_locality_picks_total",
		"Endpoints picked by a service that has endpoints near the gateway, by tier: node (on the gateway's node), zone (in its zone), other (spilled over to the whole service).",
		[]string{"service", "tier"}, nil)
)

// codeLabels are the code label values, built once so that a scrape does
// not format the same few numbers 100,000 times.
var codeLabels = func() [codeIndexes]string {
	var l [codeIndexes]string
	l[0] = "unknown"
	for i := 1; i < codeIndexes; i++ {
		l[i] = strconv.Itoa(i + 99)
	}
	return l
}()

// liveCollector turns the lock-free per-route and per-service counters into
// series at scrape time. Series exist only for routes that have had traffic,
// so 100k idle routes cost a map entry each and nothing in the output.
type liveCollector Metrics

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- durationDesc
	ch <- serviceRequestsDesc
	ch <- certificatesDesc
	ch <- certificatesExpiringDesc
	ch <- certificatesExpiredDesc
	ch <- certificateEarliestDesc
	ch <- listenerRequestsDesc
	ch <- listenerDurationDesc
	ch <- serviceDurationDesc
	ch <- endpointHealthyDesc
	ch <- upstreamErrorsDesc
	ch <- localityPicksDesc
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	// Copy the pointers and emit outside the lock, so that a slow scrape
	// never delays a config compile calling Route or Forget.
	c.mu.Lock()
	routes := make([]*RouteStats, 0, len(c.routes))
	for _, stats := range c.routes {
		for _, s := range stats {
			if s.hist.Load() != nil {
				routes = append(routes, s)
			}
		}
	}
	services := make(map[string]*serviceTotals, len(c.retired))
	for name, t := range c.retired {
		services[name] = t.clone()
	}
	upstreams := make([]*UpstreamStats, 0, len(c.upstreams))
	for _, s := range c.upstreams {
		upstreams = append(upstreams, s)
	}
	limit := c.routeSeries
	listeners := make([]*ListenerStats, 0, len(c.listeners))
	for _, l := range c.listeners {
		if l.stats.hist.Load() != nil {
			listeners = append(listeners, l)
		}
	}
	c.mu.Unlock()

	for _, l := range listeners {
		l.stats.eachCode(func(idx, n uint64) {
			ch <- constMetric(listenerRequestsDesc, prometheus.CounterValue, float64(n), l.name, codeLabels[idx])
		})
		hist := l.stats.hist.Load()
		count, sum, buckets := hist.snapshot()
		h, err := prometheus.NewConstHistogram(listenerDurationDesc, count, sum, buckets, l.name)
		if err != nil {
			h = prometheus.NewInvalidMetric(listenerDurationDesc, err)
		}
		ch <- hist.withExemplars(h)
	}

	for _, s := range routes {
		t := services[s.service]
		if t == nil {
			t = new(serviceTotals)
			services[s.service] = t
		}
		t.add(s)
	}
	for name, t := range services {
		for _, c := range t.codes {
			ch <- constMetric(serviceRequestsDesc, prometheus.CounterValue, float64(c.n), name, codeLabels[c.idx])
		}
		count, sum, buckets := t.histogram()
		if count == 0 {
			continue
		}
		h, err := prometheus.NewConstHistogram(serviceDurationDesc, count, sum, buckets, name)
		if err != nil {
			h = prometheus.NewInvalidMetric(serviceDurationDesc, err)
		}
		ch <- h
	}
	for _, s := range busiest(routes, limit) {
		s.eachCode(func(idx, n uint64) {
			ch <- constMetric(requestsDesc, prometheus.CounterValue, float64(n), s.route, s.service, codeLabels[idx])
		})
		hist := s.hist.Load()
		count, sum, buckets := hist.snapshot()
		h, err := prometheus.NewConstHistogram(durationDesc, count, sum, buckets, s.route, s.service)
		if err != nil {
			h = prometheus.NewInvalidMetric(durationDesc, err)
		}
		ch <- hist.withExemplars(h)
	}
	for _, s := range upstreams {
		for k := range s.errs {
			ch <- constMetric(upstreamErrorsDesc, prometheus.CounterValue, float64(s.errs[k].Load()), s.service, upstreamKindNames[k])
		}
	}
	if src := c.certs.Load(); src != nil {
		collectCertificates(ch, *src, time.Now())
	}
	if src := c.source.Load(); src != nil {
		(*src)(func(service, endpoint string, healthy bool) {
			v := 0.0
			if healthy {
				v = 1
			}
			ch <- constMetric(endpointHealthyDesc, prometheus.GaugeValue, v, service, endpoint)
		})
	}
	if src := c.locality.Load(); src != nil {
		(*src)(func(service, tier string, picks uint64) {
			ch <- constMetric(localityPicksDesc, prometheus.CounterValue, float64(picks), service, tier)
		})
	}
}

// expiringWithin are the windows of pylon_certificates_expiring.
var expiringWithin = [...]struct {
	label string
	d     time.Duration
}{{"7d", 7 * 24 * time.Hour}, {"14d", 14 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

func collectCertificates(ch chan<- prometheus.Metric, src CertificateSource, now time.Time) {
	var n, expired int
	var within [len(expiringWithin)]int
	var earliest time.Time
	src(func(notAfter time.Time) {
		n++
		if earliest.IsZero() || notAfter.Before(earliest) {
			earliest = notAfter
		}
		if !notAfter.After(now) {
			expired++
		}
		for i, w := range expiringWithin {
			if notAfter.Before(now.Add(w.d)) {
				within[i]++
			}
		}
	})
	ch <- constMetric(certificatesDesc, prometheus.GaugeValue, float64(n))
	ch <- constMetric(certificatesExpiredDesc, prometheus.GaugeValue, float64(expired))
	for i, w := range expiringWithin {
		ch <- constMetric(certificatesExpiringDesc, prometheus.GaugeValue, float64(within[i]), w.label)
	}
	if n > 0 {
		ch <- constMetric(certificateEarliestDesc, prometheus.GaugeValue, float64(earliest.UnixNano())/1e9)
	}
}

// busiest returns the n routes of routes with the most requests (all of
// them for RouteSeriesAll). Counting since the route was configured keeps
// the set steady: a route leaves it only when others overtake it, and its
// series then stop rather than reset.
func busiest(routes []*RouteStats, n int) []*RouteStats {
	if n < 0 || len(routes) <= n {
		return routes
	}
	type ranked struct {
		s     *RouteStats
		total uint64
	}
	rs := make([]ranked, len(routes))
	for i, s := range routes {
		rs[i] = ranked{s, s.total()}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.total, a.total), cmp.Compare(a.s.route, b.s.route), cmp.Compare(a.s.service, b.s.service))
	})
	out := make([]*RouteStats, n)
	for i := range out {
		out[i] = rs[i].s
	}
	return out
}

// constMetric reports a bad label value (invalid UTF-8 from a config name,
// say) as a failed series instead of panicking in the scrape.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
