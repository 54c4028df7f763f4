package faultinjection

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func parse(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAbort(t *testing.T) {
	r := plugintest.Build(t, "fault-injection", parse(t, `{"abort":{"status":503,"body":"injected"}}`), nil)
	c := plugintest.New()
	if r.Request(c) != plugin.Stop || c.StatusV != 503 || string(c.RespBody) != "injected" {
		t.Fatalf("abort: %d %q", c.StatusV, c.RespBody)
	}
}

func TestOnlyMatchingHeaders(t *testing.T) {
	r := plugintest.Build(t, "fault-injection", parse(t,
		`{"abort":{"status":500},"headers":[{"name":"x-fault","exact":"abort"},{"name":"x-user","regex":"test-.*"}]}`), nil)
	for _, tc := range []struct {
		hdr  []string
		stop bool
	}{
		{nil, false},
		{[]string{"X-Fault", "abort"}, false},
		{[]string{"X-Fault", "abort", "X-User", "prod-1"}, false},
		{[]string{"X-Fault", "abort", "X-User", "test-1"}, true},
	} {
		c := plugintest.New()
		for i := 0; i < len(tc.hdr); i += 2 {
			c.ReqHeader.Set(tc.hdr[i], tc.hdr[i+1])
		}
		if got := r.Request(c) == plugin.Stop; got != tc.stop {
			t.Errorf("%v: aborted %v, want %v", tc.hdr, got, tc.stop)
		}
	}
}

func TestDelay(t *testing.T) {
	r := plugintest.Build(t, "fault-injection", parse(t, `{"delay":{"duration":"50ms"}}`), nil)
	start := time.Now()
	if r.Request(plugintest.New()) != plugin.Continue {
		t.Fatal("a delay stopped the request")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Fatalf("delayed %v, want 50ms", d)
	}
}

// A delay ends when the request no longer needs an answer (the client
// went away, the gateway is stopping), with 499 rather than an upstream
// call for nobody.
func TestDelayEndsWhenTheRequestIsDone(t *testing.T) {
	r := plugintest.Build(t, "fault-injection", parse(t, `{"delay":{"duration":"30s"}}`), nil)
	c := plugintest.New()
	c.DoneV = make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(c.DoneV) })
	start := time.Now()
	if r.Request(c) != plugin.Stop || c.StatusV != 499 {
		t.Fatalf("action after the client left: status %d, want 499 and a stop", c.StatusV)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the delay ran %v after the request was done", d)
	}
}

func TestPercentages(t *testing.T) {
	r := plugintest.Build(t, "fault-injection", parse(t, `{"abort":{"status":500,"percent":25},"delay":{"duration":"1ns","percent":0}}`), nil)
	n := 0
	const total = 20000
	for range total {
		if r.Request(plugintest.New()) == plugin.Stop {
			n++
		}
	}
	if got := float64(n) / total * 100; got < 23 || got > 27 {
		t.Fatalf("aborted %.2f%%, want 25%% ± 2", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{}`, "must set delay"},
		{`{"delay":{"duration":"2m"}}`, "delay.duration:"},
		{`{"delay":{"duration":"0s"}}`, "delay.duration:"},
		{`{"delay":{"duration":"1s","percent":120}}`, "delay.percent:"},
		{`{"abort":{"status":99}}`, "abort.status:"},
		{`{"abort":{"status":500,"percent":-1}}`, "abort.percent:"},
		{`{"abort":{"status":500},"headers":[{"name":""}]}`, "headers[0].name:"},
		{`{"abort":{"status":500},"headers":[{"name":"x","regex":"["}]}`, "headers[0].regex:"},
	} {
		_, err := plugin.DecodeConfig("fault-injection", parse(t, tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want one naming %s", tc.json, err, tc.field)
		}
	}
}
