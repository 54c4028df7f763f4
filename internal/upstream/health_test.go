package upstream

import (
	"net"
	"net/http"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

func fastCheck(typ string) *ActiveCheck {
	return &ActiveCheck{Type: typ, Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond,
		HealthyThreshold: 2, UnhealthyThreshold: 3}
}

func TestActiveHTTPCheckStatus(t *testing.T) {
	r := testRegistry(t)
	a, b := newBackend(t), newBackend(t)
	p, err := r.Acquire(Config{Name: "svc", Endpoints: endpointsOf(a, b), Active: fastCheck("http")})
	if err != nil {
		t.Fatal(err)
	}
	ea := p.Endpoints()[0]
	a.failing.Store(true)
	waitFor(t, 2*time.Second, "a unhealthy", func() bool { return !ea.Healthy() })
	// Thresholds: it took at least UnhealthyThreshold failed checks.
	if n := a.health.Load(); n < 3 {
		t.Errorf("unhealthy after %d checks, threshold is 3", n)
	}
	for range 20 {
		if got := p.Pick(nil, nil); got == ea {
			t.Fatal("Pick returned the unhealthy endpoint")
		}
	}
	a.failing.Store(false)
	waitFor(t, 2*time.Second, "a healthy again", ea.Healthy)
}

// serveOn runs an HTTP server on addr until the returned func stops it.
func serveOn(t *testing.T, addr string) func() {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger briefly after the last close
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(l)
	stop := func() { srv.Close() }
	t.Cleanup(stop)
	return stop
}

func TestActiveChecksServerStopsAndReturns(t *testing.T) {
	for _, typ := range []string{"http", "tcp"} {
		t.Run(typ, func(t *testing.T) {
			r := testRegistry(t)
			addr := testenv.FreeAddr(t)
			stop := serveOn(t, addr)
			other := newBackend(t)
			p, err := r.Acquire(Config{Name: "svc", Endpoints: []EndpointConfig{{Address: addr}, {Address: other.addr()}},
				Active: fastCheck(typ)})
			if err != nil {
				t.Fatal(err)
			}
			e := p.Endpoints()[0]
			time.Sleep(100 * time.Millisecond)
			if !e.Healthy() {
				t.Fatal("endpoint unhealthy while its server runs")
			}
			stop()
			start := time.Now()
			waitFor(t, 2*time.Second, "endpoint unhealthy after server stopped", func() bool { return !e.Healthy() })
			// 3 failures at a 20ms interval: well under a second.
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to notice", d)
			}
			serveOn(t, addr)
			waitFor(t, 2*time.Second, "endpoint healthy after server returned", e.Healthy)
		})
	}
}

func TestPassiveEjectionAndRecovery(t *testing.T) {
	r := testRegistry(t)
	a, b := newBackend(t), newBackend(t)
	p, err := r.Acquire(Config{Name: "svc", Endpoints: endpointsOf(a, b),
		Passive: PassiveCheck{ConsecutiveFailures: 3, EjectionTime: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ea := p.Endpoints()[0]
	ea.ReportFailure()
	ea.ReportFailure()
	ea.ReportSuccess() // a success breaks the streak
	ea.ReportFailure()
	ea.ReportFailure()
	if !ea.Healthy() {
		t.Fatal("ejected before 3 consecutive failures")
	}
	ea.ReportFailure()
	if ea.Healthy() || !ea.Ejected() {
		t.Fatal("not ejected after 3 consecutive failures")
	}
	for range 10 {
		if send(t, p.Pick(nil, nil)) != b.addr() {
			t.Fatal("request went to the ejected endpoint")
		}
	}
	waitFor(t, time.Second, "ejection to end", ea.Healthy)
	// On probation: one more failure ejects again at once.
	ea.ReportFailure()
	if ea.Healthy() {
		t.Fatal("failure right after ejection ended did not eject again")
	}
	waitFor(t, time.Second, "second ejection to end", ea.Healthy)
	ea.ReportSuccess()
	ea.ReportFailure()
	if !ea.Healthy() {
		t.Fatal("a success did not restore the full failure budget")
	}
}

func TestReleaseStopsChecker(t *testing.T) {
	r := testRegistry(t)
	a := newBackend(t)
	cfg := Config{Name: "svc", Endpoints: endpointsOf(a), Active: fastCheck("http")}
	if _, err := r.Acquire(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Acquire(cfg); err != nil { // second reference
		t.Fatal(err)
	}
	waitFor(t, time.Second, "health checks", func() bool { return a.health.Load() >= 2 })
	r.Release("svc")
	if r.Get("svc") == nil {
		t.Fatal("pool gone while a reference remains")
	}
	n := a.health.Load()
	waitFor(t, time.Second, "checks to continue", func() bool { return a.health.Load() > n })
	r.Release("svc")
	if r.Get("svc") != nil {
		t.Fatal("pool still registered after last release")
	}
	time.Sleep(250 * time.Millisecond) // any check already in flight finishes
	n = a.health.Load()
	time.Sleep(200 * time.Millisecond) // ten intervals
	if got := a.health.Load(); got != n {
		t.Errorf("%d health checks after the pool was released", got-n)
	}
}
