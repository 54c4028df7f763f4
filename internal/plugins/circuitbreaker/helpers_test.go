package circuitbreaker

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// harness runs one circuit-breaker chain on its own runtime, so tests can
// read the plugin's counters and rebuild the chain as a config change does.
type harness struct {
	t   testing.TB
	rt  *plugin.Runtime
	ref plugin.Ref
	ch  *plugin.Chain
	r   plugin.Runner
}

func newHarness(t testing.TB, cfg map[string]any) *harness {
	t.Helper()
	if _, err := plugin.DecodeConfig("circuit-breaker", cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, rt: plugin.NewRuntime(nil, slog.New(slog.DiscardHandler)),
		ref: plugin.Ref{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "circuit-breaker", Config: cfg}}
	h.ch = h.rt.Chain([]plugin.Ref{h.ref})
	t.Cleanup(func() { h.rt.Release(h.ch) })
	return h
}

// rebuild replaces the chain by a freshly built one, as the compile stage
// does when another part of the config changes.
func (h *harness) rebuild() {
	old := h.ch
	h.ch = h.rt.Chain([]plugin.Ref{h.ref})
	h.rt.Release(old)
}

// do sends one request to service; if the breaker lets it through, the
// upstream's outcome is o. It returns the client's status.
func (h *harness) do(service string, o plugin.Outcome) int {
	c := plugintest.New()
	c.ServiceList = []string{service}
	h.r.Reset(h.ch, "default", h.rt.Metrics(), nil)
	if h.r.Upstream(c) == plugin.Stop {
		h.r.Log(c, &plugin.Outcome{Status: c.StatusV, Service: service})
		return c.StatusV
	}
	o.Service = service
	if o.Status == 0 {
		o.Status = o.UpstreamStatus
	}
	h.r.Log(c, &o)
	return o.Status
}

func ok() plugin.Outcome     { return plugin.Outcome{UpstreamStatus: 200} }
func failed() plugin.Outcome { return plugin.Outcome{UpstreamStatus: 500} }

// counter returns the instance's count of event.
func (h *harness) counter(event string) int64 {
	h.t.Helper()
	return counterValue(h.rt.Metrics(), "circuit-breaker", event)
}

func counterValue(c prometheus.Collector, name, event string) int64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var n int64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil || d.Counter == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range d.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["plugin"] == name && labels["event"] == event {
			n += int64(d.Counter.GetValue())
		}
	}
	return n
}
