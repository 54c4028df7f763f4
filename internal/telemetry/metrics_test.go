package telemetry

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRouteSeries(t *testing.T) {
	m := NewMetrics()
	r := m.Route("default/shop", "shop-svc")
	if m.Route("default/shop", "shop-svc") != r {
		t.Fatal("Route returned new stats for an unchanged route; counters would reset on recompile")
	}
	m.Route("default/idle", "idle-svc") // never gets traffic: no series
	r.Observe(200, 3*time.Millisecond)
	r.Observe(200, 40*time.Millisecond)
	r.Observe(404, 2*time.Second)
	r.Observe(42, time.Millisecond) // out of range

	want := `
# HELP pylon_requests_total Requests handled, by route, service and response status code.
# TYPE pylon_requests_total counter
pylon_requests_total{code="200",route="default/shop",service="shop-svc"} 2
pylon_requests_total{code="404",route="default/shop",service="shop-svc"} 1
pylon_requests_total{code="unknown",route="default/shop",service="shop-svc"} 1
# HELP pylon_request_duration_seconds Time from reading the request to the end of the response, by route and service.
# TYPE pylon_request_duration_seconds histogram
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.005"} 2
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.01"} 2
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.025"} 2
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.05"} 3
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.1"} 3
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.25"} 3
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="0.5"} 3
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="1"} 3
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="2.5"} 4
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="5"} 4
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="10"} 4
pylon_request_duration_seconds_bucket{route="default/shop",service="shop-svc",le="+Inf"} 4
pylon_request_duration_seconds_sum{route="default/shop",service="shop-svc"} 2.044
pylon_request_duration_seconds_count{route="default/shop",service="shop-svc"} 4
`
	expectLines(t, scrape(t, m), want)

	// A route now pointing elsewhere starts fresh series; a forgotten
	// route disappears.
	if m.Route("default/shop", "shop-v2") == r {
		t.Fatal("Route kept the stats of the old service")
	}
	m.Forget("default/shop")
	if body := scrape(t, m); strings.Contains(body, "pylon_requests_total{") {
		t.Fatalf("after Forget, series remain:\n%s", body)
	}
}

// scrape serves /metrics through the handler, as Prometheus would see it.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: status %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// expectLines checks that every non-empty line of want is a whole line of
// the scraped text. Checking lines rather than comparing whole families
// keeps the test free of the testutil package's extra dependencies.
func expectLines(t *testing.T, body, want string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		have[l] = true
	}
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		if !have[l] {
			t.Errorf("scrape lacks line %q", l)
		}
	}
}

func TestManyStatusCodesOverflow(t *testing.T) {
	m := NewMetrics()
	r := m.Route("r", "s")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r.Observe(200+i%20, time.Millisecond) // 20 codes: more than the inline slots
			}
		}()
	}
	wg.Wait()
	got := map[string]float64{}
	for i := 0; i < 20; i++ {
		code := fmt.Sprint(200 + i)
		got[code] = seriesValue(t, m, "pylon_requests_total", map[string]string{"route": "r", "service": "s", "code": code})
	}
	for code, n := range got {
		if n != 400 {
			t.Errorf("code %s: %v requests, want 400", code, n)
		}
	}
}

// seriesValue gathers the registry and returns the value of the one counter
// or gauge series of the family with exactly these labels.
func seriesValue(t *testing.T, m *Metrics, family string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if c := s.GetCounter(); c != nil {
				return c.GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", family, labels)
	return 0
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := NewMetrics()
	r := m.Route("r", "s")
	for code := 200; code < 220; code++ { // fill the slots and the overflow table
		r.Observe(code, time.Millisecond)
	}
	if a := testing.AllocsPerRun(1000, func() { r.Observe(204, 7*time.Millisecond) }); a != 0 {
		t.Errorf("Observe in a slot: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { r.Observe(219, 7*time.Millisecond) }); a != 0 {
		t.Errorf("Observe in the overflow table: %v allocs, want 0", a)
	}
	var nilStats *RouteStats
	nilStats.Observe(200, time.Millisecond) // must not panic
}

func TestOtherSeries(t *testing.T) {
	m := NewMetrics()
	m.SetConfigObjects("Route", 10, 2)
	m.ObservePropagation(300 * time.Microsecond)
	m.ObserveCompile(2 * time.Millisecond)
	m.SetLastReloadSuccess(time.Unix(1700000000, 500_000_000))
	m.PanicRecovered()
	u := m.Upstream("shop-svc")
	u.Error(UpstreamConnect)
	u.Error(UpstreamConnect)
	u.Error(UpstreamReset)
	m.SetUpstreamSource(func(emit func(service, endpoint string, healthy bool)) {
		emit("shop-svc", "10.0.0.1:80", true)
		emit("shop-svc", "10.0.0.2:80", false)
	})

	want := `
# HELP pylon_config_objects Config objects by kind and validation state (accepted or rejected).
# TYPE pylon_config_objects gauge
pylon_config_objects{kind="Route",state="accepted"} 10
pylon_config_objects{kind="Route",state="rejected"} 2
# HELP pylon_config_last_reload_success_timestamp_seconds Unix time of the last config change that went live.
# TYPE pylon_config_last_reload_success_timestamp_seconds gauge
pylon_config_last_reload_success_timestamp_seconds 1.7000000005e+09
# HELP pylon_panics_recovered_total Panics recovered in request handling or background work.
# TYPE pylon_panics_recovered_total counter
pylon_panics_recovered_total 1
# HELP pylon_upstream_endpoint_healthy 1 if the upstream endpoint is healthy, 0 if it is not.
# TYPE pylon_upstream_endpoint_healthy gauge
pylon_upstream_endpoint_healthy{endpoint="10.0.0.1:80",service="shop-svc"} 1
pylon_upstream_endpoint_healthy{endpoint="10.0.0.2:80",service="shop-svc"} 0
# HELP pylon_upstream_errors_total Failed attempts to reach an upstream, by service and kind (connect, timeout, reset).
# TYPE pylon_upstream_errors_total counter
pylon_upstream_errors_total{kind="connect",service="shop-svc"} 2
pylon_upstream_errors_total{kind="reset",service="shop-svc"} 1
pylon_upstream_errors_total{kind="timeout",service="shop-svc"} 0
`
	body := scrape(t, m)
	expectLines(t, body, want)
	// Histograms, runtime and process metrics are all there.
	expectLines(t, body, `
pylon_config_propagation_seconds_bucket{le="0.0001"} 0
pylon_config_propagation_seconds_bucket{le="0.0005"} 1
pylon_config_propagation_seconds_bucket{le="30"} 1
pylon_config_compile_seconds_count 1
`)
	for _, name := range []string{"go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
}

func TestBadLabelDoesNotBreakScrape(t *testing.T) {
	m := NewMetrics()
	m.Route("ok", "s").Observe(200, time.Millisecond)
	m.SetUpstreamSource(func(emit func(service, endpoint string, healthy bool)) {
		emit("s", "\xff", true) // invalid UTF-8 label value
	})
	expectLines(t, scrape(t, m), `pylon_requests_total{code="200",route="ok",service="s"} 1`)
}

func BenchmarkObserve(b *testing.B) {
	m := NewMetrics()
	r := m.Route("r", "s")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(200, 3*time.Millisecond)
		}
	})
}

// BenchmarkScrape100kRoutes measures a scrape with 100,000 configured
// routes of which 1,000 have traffic.
func BenchmarkScrape100kRoutes(b *testing.B) {
	m := NewMetrics()
	for i := 0; i < 100_000; i++ {
		r := m.Route(fmt.Sprintf("ns/route-%d", i), "svc")
		if i%100 == 0 {
			r.Observe(200, time.Millisecond)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Registry().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestServiceSeries: every request counts in its service's series, over all
// the routes to it; a removed route's requests stay counted there (a
// counter never goes down), until the service itself is removed.
func TestServiceSeries(t *testing.T) {
	m := NewMetrics()
	a, b := m.Route("default/a", "shop"), m.Route("default/b", "shop")
	m.Route("default/c", "idle") // no traffic: no series
	a.Observe(200, time.Millisecond)
	a.Observe(200, time.Millisecond)
	b.Observe(200, 30*time.Millisecond)
	b.Observe(503, 2*time.Second)
	want := `
pylon_service_requests_total{code="200",service="shop"} 3
pylon_service_requests_total{code="503",service="shop"} 1
pylon_service_request_duration_seconds_bucket{service="shop",le="0.005"} 2
pylon_service_request_duration_seconds_bucket{service="shop",le="0.05"} 3
pylon_service_request_duration_seconds_bucket{service="shop",le="+Inf"} 4
pylon_service_request_duration_seconds_sum{service="shop"} 2.032
pylon_service_request_duration_seconds_count{service="shop"} 4
`
	expectLines(t, scrape(t, m), want)
	if body := scrape(t, m); strings.Contains(body, `service="idle"`) {
		t.Errorf("a service without traffic has series:\n%s", body)
	}

	m.Forget("default/b")
	a.Observe(404, time.Millisecond)
	expectLines(t, scrape(t, m), `
pylon_service_requests_total{code="200",service="shop"} 3
pylon_service_requests_total{code="503",service="shop"} 1
pylon_service_requests_total{code="404",service="shop"} 1
pylon_service_request_duration_seconds_count{service="shop"} 5
`)
	m.Forget("default/a")
	m.ForgetUpstream("shop")
	if body := scrape(t, m); strings.Contains(body, `service="shop"`) {
		t.Errorf("a removed service keeps its series:\n%s", body)
	}
}

// TestRouteSeriesCap: only the busiest routes get series of their own, so
// 100,000 routes with traffic do not mean 100,000 × codes × buckets series;
// the services' series still count every request.
func TestRouteSeriesCap(t *testing.T) {
	routeLines := func(body string) (routes map[string]bool, lines int) {
		routes = map[string]bool{}
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "pylon_requests_total{") || strings.HasPrefix(l, "pylon_request_duration_seconds") {
				lines++
				i := strings.Index(l, `route="`)
				routes[l[i+7:i+7+strings.Index(l[i+7:], `"`)]] = true
			}
		}
		return routes, lines
	}
	fill := func(m *Metrics) {
		for i := range 5 {
			s := m.Route(fmt.Sprintf("default/r%d", i), "svc")
			for range 10 * (i + 1) {
				s.Observe(200, time.Millisecond)
			}
		}
	}
	for _, tc := range []struct {
		name string
		opts []Option
		want []string
	}{
		{"the two busiest", []Option{WithRouteSeries(2)}, []string{"default/r3", "default/r4"}},
		{"none", []Option{WithRouteSeries(0)}, nil},
		{"all", []Option{WithRouteSeries(RouteSeriesAll)}, []string{"default/r0", "default/r1", "default/r2", "default/r3", "default/r4"}},
		{"the default, more than there are", nil, []string{"default/r0", "default/r1", "default/r2", "default/r3", "default/r4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(tc.opts...)
			fill(m)
			body := scrape(t, m)
			got, _ := routeLines(body)
			if len(got) != len(tc.want) {
				t.Errorf("series for routes %v, want %v", got, tc.want)
			}
			for _, r := range tc.want {
				if !got[r] {
					t.Errorf("no series for %s; got %v", r, got)
				}
			}
			expectLines(t, body, `pylon_service_requests_total{code="200",service="svc"} 150`)
		})
	}

	// At 100,000 routes with traffic the default keeps the output small.
	m := NewMetrics()
	for i := range 100_000 {
		m.Route(fmt.Sprintf("default/r%d", i), fmt.Sprintf("svc%d", i%100)).Observe(200+i%3, time.Millisecond)
	}
	body := scrape(t, m)
	routes, lines := routeLines(body)
	if len(routes) != DefaultRouteSeries || lines > DefaultRouteSeries*16 {
		t.Errorf("100,000 routes: series for %d routes in %d lines, want %d routes", len(routes), lines, DefaultRouteSeries)
	}
	if n := strings.Count(body, "\npylon_service_requests_total{"); n != 300 {
		t.Errorf("%d service request series, want 300 (100 services × 3 codes)", n)
	}
	if len(body) > 1<<20 {
		t.Errorf("the scrape of 100,000 routes is %d bytes", len(body))
	}
}

// BenchmarkScrape100kBusyRoutes: one /metrics scrape with 100,000 routes
// that have all had traffic, over 1,000 services, with the default cap.
func BenchmarkScrape100kBusyRoutes(b *testing.B) {
	m := NewMetrics()
	for i := range 100_000 {
		m.Route(fmt.Sprintf("default/r%d", i), fmt.Sprintf("svc%d", i%1000)).Observe(200+i%3, time.Millisecond)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// TestListenerSeries: every answer counts on its listener, routed or not; a
// listener removed from the config takes its series with it.
func TestListenerSeries(t *testing.T) {
	m := NewMetrics()
	web := m.Listener("web")
	if m.Listener("web") != web {
		t.Fatal("Listener returned new stats for the same listener; its counters would reset on a config change")
	}
	m.Listener("idle")
	web.Observe(200, time.Millisecond)
	web.Observe(404, 0)
	web.Observe(431, 0)
	expectLines(t, scrape(t, m), `
pylon_listener_requests_total{code="200",listener="web"} 1
pylon_listener_requests_total{code="404",listener="web"} 1
pylon_listener_requests_total{code="431",listener="web"} 1
pylon_listener_request_duration_seconds_count{listener="web"} 3
`)
	if body := scrape(t, m); strings.Contains(body, `listener="idle"`) {
		t.Errorf("a listener without requests has series")
	}
	m.ForgetListener("web")
	if body := scrape(t, m); strings.Contains(body, `listener="web"`) {
		t.Errorf("a removed listener keeps its series")
	}
	var none *Metrics
	none.Listener("web").Observe(200, 0) // no metrics: ignored, no panic
}

// TestCertificateSeries: a handful of series say how many certificates are
// served, how many expire soon or have expired, and when the first one
// expires, however many certificates there are.
func TestCertificateSeries(t *testing.T) {
	m := NewMetrics()
	if body := scrape(t, m); strings.Contains(body, "pylon_certificate") {
		t.Fatalf("certificate series without a source:\n%s", body)
	}
	now := time.Now()
	expiries := []time.Duration{-time.Hour, 3 * 24 * time.Hour, 10 * 24 * time.Hour, 20 * 24 * time.Hour, 90 * 24 * time.Hour}
	m.SetCertificateSource(func(emit func(time.Time)) {
		for _, d := range expiries {
			emit(now.Add(d))
		}
	})
	body := scrape(t, m)
	expectLines(t, body, `
pylon_certificates 5
pylon_certificates_expired 1
pylon_certificates_expiring{within="7d"} 2
pylon_certificates_expiring{within="14d"} 3
pylon_certificates_expiring{within="30d"} 4
`)
	var earliest float64
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, "pylon_certificate_expiry_earliest_timestamp_seconds "); ok {
			fmt.Sscan(v, &earliest)
		}
	}
	if want := float64(now.Add(-time.Hour).UnixNano()) / 1e9; earliest < want-1 || earliest > want+1 {
		t.Errorf("earliest expiry %f, want %f", earliest, want)
	}
}
