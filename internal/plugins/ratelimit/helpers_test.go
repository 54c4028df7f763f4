package ratelimit

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// clockMu serializes the tests that set the package clock.
var clockMu sync.Mutex

// fakeClock sets the package clock to a manual one for the test, starting
// at a whole second so windows are easy to reason about.
func fakeClock(t *testing.T) *atomic.Int64 {
	t.Helper()
	clockMu.Lock()
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	prev, prevWall := nowFunc, wallFunc
	nowFunc, wallFunc = now.Load, now.Load
	t.Cleanup(func() {
		nowFunc, wallFunc = prev, prevWall
		clockMu.Unlock()
	})
	return &now
}

// members is a membership a test changes.
type members struct {
	n  atomic.Int64
	ch chan struct{}
}

func newMembers(n int) *members {
	m := &members{ch: make(chan struct{}, 1)}
	m.n.Store(int64(n))
	return m
}

func (m *members) Live() int                { return int(m.n.Load()) }
func (m *members) Changed() <-chan struct{} { return m.ch }
func (m *members) set(n int) {
	m.n.Store(int64(n))
	select {
	case m.ch <- struct{}{}:
	default:
	}
}

// req returns a request from ip with the given headers (name, value, ...).
func req(ip string, headers ...string) *plugintest.Ctx {
	c := plugintest.New()
	c.ClientIPV = ip
	for i := 0; i+1 < len(headers); i += 2 {
		c.ReqHeader.Add(headers[i], headers[i+1])
	}
	return c
}

// rig is one rate-limit instance on a runtime of its own.
type rig struct {
	rt *plugin.Runtime
	ch *plugin.Chain
}

// newRig builds a one-plugin chain for cfg, released in t.Cleanup.
func newRig(t testing.TB, cfg map[string]any, m plugin.Membership) *rig {
	t.Helper()
	if _, err := plugin.DecodeConfig("rate-limit", cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	rt := plugin.NewRuntime(m, nil)
	g := &rig{rt: rt, ch: rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "test"}, Name: "rate-limit", Config: cfg}})}
	t.Cleanup(func() { rt.Release(g.ch) })
	return g
}

// send runs one request through the access phase and returns the status
// the client would see (200 when it passed).
func (g *rig) send(c plugin.Ctx) int {
	var r plugin.Runner
	r.Reset(g.ch, "default", g.rt.Metrics(), nil)
	if r.Request(c) == plugin.Stop {
		return c.Status()
	}
	return http.StatusOK
}

// count sends n requests made by mk and returns how many passed.
func (g *rig) count(n int, mk func() plugin.Ctx) int {
	ok := 0
	for range n {
		if g.send(mk()) == http.StatusOK {
			ok++
		}
	}
	return ok
}

// counter returns the value of one of the instance's event counters.
func (g *rig) counter(t testing.TB, event string) float64 {
	t.Helper()
	return metricValue(t, g.rt.Metrics(), event)
}

// metricValue sums pylon_plugin_events_total for event.
func metricValue(t testing.TB, m *plugin.Metrics, event string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != "pylon_plugin_events_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "event" && l.GetValue() == event {
					v += mt.GetCounter().GetValue()
				}
			}
		}
	}
	return v
}
