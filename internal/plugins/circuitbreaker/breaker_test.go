package circuitbreaker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func cfg(kv ...any) map[string]any {
	m := map[string]any{"minRequests": 10, "failureRatio": 0.5, "window": "10s", "openFor": "50ms", "halfOpenRequests": 2}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestStaysClosedBelowMinRequests(t *testing.T) {
	h := newHarness(t, cfg())
	for range 9 {
		if st := h.do("api", failed()); st != 500 {
			t.Fatalf("status %d, want the upstream's 500 while closed", st)
		}
	}
	if n := h.counter("opened"); n != 0 {
		t.Fatalf("opened %d times with 9 requests, minRequests 10", n)
	}
}

func TestOpensOnFailureRatioAndAnswersFallback(t *testing.T) {
	h := newHarness(t, cfg("fallback", map[string]any{"status": 502, "body": "down", "headers": []any{map[string]any{"name": "X-Breaker", "value": "open"}}}))
	// 4 successes then failures: the 10th request makes 6/10 >= 0.5.
	for range 4 {
		h.do("api", ok())
	}
	for range 6 {
		h.do("api", failed())
	}
	if n := h.counter("opened"); n != 1 {
		t.Fatalf("opened = %d, want 1", n)
	}
	c := plugintest.New()
	c.ServiceList = []string{"api"}
	h.r.Reset(h.ch, "default", h.rt.Metrics(), nil)
	if h.r.Upstream(c) != plugin.Stop {
		t.Fatal("open breaker let a request through")
	}
	if c.StatusV != 502 || string(c.RespBody) != "down" || c.RespHeader.Get("X-Breaker") != "open" {
		t.Fatalf("fallback = %d %q %v", c.StatusV, c.RespBody, c.RespHeader)
	}
	if n := h.counter("rejected"); n != 1 {
		t.Fatalf("rejected = %d, want 1", n)
	}
}

func TestDefaultFallbackIs503(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 1))
	h.do("api", failed())
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("status %d, want 503", st)
	}
}

func TestHalfOpenProbesClose(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 2))
	h.do("api", failed())
	h.do("api", failed())
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("status %d, want 503 while open", st)
	}
	time.Sleep(60 * time.Millisecond)

	// Two probes go through at once; a third request meanwhile is refused.
	probes := make([]*plugintest.Ctx, 2)
	runners := make([]plugin.Runner, 2)
	for i := range probes {
		probes[i] = plugintest.New()
		probes[i].ServiceList = []string{"api"}
		runners[i].Reset(h.ch, "default", h.rt.Metrics(), nil)
		if runners[i].Upstream(probes[i]) == plugin.Stop {
			t.Fatalf("probe %d refused", i)
		}
	}
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("third request while half-open: status %d, want 503", st)
	}
	for i := range probes {
		runners[i].Log(probes[i], &plugin.Outcome{Status: 200, UpstreamStatus: 200, Service: "api"})
	}
	if n := h.counter("half-open"); n != 1 {
		t.Fatalf("half-open = %d, want 1", n)
	}
	if n := h.counter("closed"); n != 1 {
		t.Fatalf("closed = %d, want 1", n)
	}
	for range 20 {
		if st := h.do("api", ok()); st != 200 {
			t.Fatalf("closed breaker answered %d", st)
		}
	}
}

func TestHalfOpenFailureReopens(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 1))
	h.do("api", failed())
	time.Sleep(60 * time.Millisecond)
	if st := h.do("api", failed()); st != 500 {
		t.Fatalf("probe status %d, want the upstream's 500", st)
	}
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("after a failed probe: status %d, want 503 (open again)", st)
	}
	if n := h.counter("opened"); n != 2 {
		t.Fatalf("opened = %d, want 2", n)
	}
}

func TestProbeWithoutAnswerFreesItsSlot(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 1, "halfOpenRequests", 1))
	h.do("api", failed())
	time.Sleep(60 * time.Millisecond)
	h.do("api", plugin.Outcome{Status: 499}) // client gone: no upstream status, no failure
	if st := h.do("api", ok()); st != 200 {
		t.Fatalf("status %d, want 200: the unanswered probe's slot should be free", st)
	}
	if st := h.do("api", ok()); st != 200 {
		t.Fatalf("status %d, want 200 after the probe closed the breaker", st)
	}
}

func TestSlowCallRatio(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 4, "slowCallRatio", 0.5, "slowCallDuration", "100ms"))
	for range 2 {
		h.do("api", plugin.Outcome{UpstreamStatus: 200, Duration: 10 * time.Millisecond})
	}
	for range 2 {
		h.do("api", plugin.Outcome{UpstreamStatus: 200, Duration: 200 * time.Millisecond})
	}
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("status %d, want 503 after 2 of 4 slow calls", st)
	}
}

func TestWhatCountsIsConfigurable(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 2, "failureStatuses", []any{"502"}, "failures", []any{"connect"}))
	// 500 and timeouts do not count here; 502 and connect failures do.
	for _, o := range []plugin.Outcome{failed(), {Status: 504, Failure: "timeout"}, failed(), {Status: 504, Failure: "timeout"}} {
		h.do("api", o)
	}
	if n := h.counter("opened"); n != 0 {
		t.Fatalf("opened on outcomes that do not count")
	}
	h.do("api", plugin.Outcome{UpstreamStatus: 502})
	h.do("api", plugin.Outcome{Status: 502, Failure: "connect"})
	h.do("api", plugin.Outcome{UpstreamStatus: 502})
	h.do("api", plugin.Outcome{Status: 502, Failure: "connect"})
	if n := h.counter("opened"); n != 1 {
		t.Fatalf("opened = %d, want 1 (4 of 8 failed)", n)
	}
}

func TestWindowResets(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 4, "window", "40ms"))
	h.do("api", failed())
	h.do("api", failed())
	h.do("api", failed())
	time.Sleep(50 * time.Millisecond) // a new window: the three failures are gone
	h.do("api", ok())
	h.do("api", ok())
	h.do("api", ok())
	h.do("api", failed())
	if n := h.counter("opened"); n != 0 {
		t.Fatalf("opened with failures from an old window")
	}
}

func TestPerService(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 1))
	h.do("a", failed())
	if st := h.do("a", ok()); st != 503 {
		t.Fatalf("a: status %d, want 503", st)
	}
	if st := h.do("b", ok()); st != 200 {
		t.Fatalf("b: status %d, want 200: a's breaker must not guard b", st)
	}
}

func TestStateSurvivesRebuild(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 1, "openFor", "1h"))
	h.do("api", failed())
	h.rebuild()
	if st := h.do("api", ok()); st != 503 {
		t.Fatalf("status %d after a rebuild, want 503: breaker state was lost", st)
	}
}

func TestConcurrent(t *testing.T) {
	h := newHarness(t, cfg("minRequests", 50, "openFor", "1ms", "halfOpenRequests", 3))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var r plugin.Runner
			for i := range 2000 {
				c := plugintest.New()
				c.ServiceList = []string{"api"}
				r.Reset(h.ch, "default", h.rt.Metrics(), nil)
				if r.Upstream(c) == plugin.Stop {
					continue
				}
				st := 200
				if (i+g)%5 < 3 {
					st = 500
				}
				r.Log(c, &plugin.Outcome{Status: st, UpstreamStatus: st, Service: "api"})
			}
		})
	}
	wg.Wait()
	opened, closedN := h.counter("opened"), h.counter("closed")
	if opened == 0 {
		t.Fatal("never opened")
	}
	// Every close follows an opening: closes never outnumber openings.
	if closedN > opened {
		t.Fatalf("closed %d > opened %d", closedN, opened)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"failureRatio": 0}, "failureRatio"},
		{map[string]any{"failureRatio": 1.5}, "failureRatio"},
		{map[string]any{"slowCallRatio": 0.5}, "slowCallDuration"},
		{map[string]any{"minRequests": -1}, "minRequests"},
		{map[string]any{"halfOpenRequests": 5000}, "halfOpenRequests"},
		{map[string]any{"failureStatuses": []any{"6xx"}}, "failureStatuses[0]"},
		{map[string]any{"failureStatuses": []any{"abc"}}, "failureStatuses[0]"},
		{map[string]any{"failures": []any{"dns"}}, "failures[0]"},
		{map[string]any{"fallback": map[string]any{"status": 42}}, "fallback.status"},
		{map[string]any{"openFor": "0s"}, "openFor"},
		{map[string]any{"bogus": 1}, "bogus"},
	} {
		_, err := plugin.DecodeConfig("circuit-breaker", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%v: error %v, want one naming %s", tc.cfg, err, tc.field)
		}
	}
}
