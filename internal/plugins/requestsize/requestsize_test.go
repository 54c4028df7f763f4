package requestsize

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func TestLimit(t *testing.T) {
	r := plugintest.Build(t, "request-size", map[string]any{"maxBytes": 10}, nil)
	for _, tc := range []struct {
		name     string
		length   int64
		body     string
		buffered bool
		refused  bool
	}{
		{"declared within", 10, "", false, false},
		{"declared over", 11, "", false, true},
		{"no body", -1, "", false, false},
		{"chunked within", -1, "0123456789", true, false},
		{"chunked over", -1, "0123456789a", true, true},
		{"streamed, unknown", -1, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			c.MethodV = "POST"
			c.Length, c.BodyV, c.BodyBuffered = tc.length, []byte(tc.body), tc.buffered
			act := r.Request(c)
			if (act == plugin.Stop) != tc.refused {
				t.Fatalf("refused %v, want %v", act == plugin.Stop, tc.refused)
			}
			if tc.refused && (c.StatusV != 413 || string(c.RespBody) != "413 request body too large\n") {
				t.Fatalf("answer %d %q", c.StatusV, c.RespBody)
			}
		})
	}
	// 0 turns the limit off (ingress-nginx's proxy-body-size: 0).
	r = plugintest.Build(t, "request-size", map[string]any{"maxBytes": 0, "message": "too big"}, nil)
	c := plugintest.New()
	c.Length = 1 << 40
	if r.Request(c) != plugin.Continue {
		t.Fatal("maxBytes 0 refused a body")
	}
}

func TestValidation(t *testing.T) {
	if _, err := plugin.DecodeConfig("request-size", map[string]any{"maxBytes": -1}); err == nil || !strings.Contains(err.Error(), "maxBytes: must not be negative") {
		t.Fatalf("error %v", err)
	}
	if _, err := plugin.DecodeConfig("request-size", map[string]any{"maxBytes": "1m"}); err == nil || !strings.Contains(err.Error(), "maxBytes") {
		t.Fatalf("error %v", err)
	}
}

func BenchmarkRequest(b *testing.B) {
	var cfg Config
	cfg.Default()
	cfg.MaxBytes = 1 << 20
	l, _ := build(&cfg, nil)
	c := benchctx.New("/")
	c.Length = 4096
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		l.Request(c, &s)
	}
}
