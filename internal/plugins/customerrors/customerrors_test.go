package customerrors

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// Without a reachable error service the original answer goes out as it
// came: headers and body untouched.
func TestErrorServiceMissingKeepsResponse(t *testing.T) {
	r := plugintest.Build(t, "custom-errors", map[string]any{"statuses": []any{404}, "service": "errors"}, nil)
	c := plugintest.New()
	c.StatusV = 404
	c.RespHeader.Set("Content-Length", "9")
	c.RespHeader.Set("Content-Type", "text/plain")
	r.Response(c)
	if c.RespHeader.Get("Content-Length") != "9" || c.RespHeader.Get("Content-Type") != "text/plain" {
		t.Fatalf("headers changed: %v", c.RespHeader)
	}
	if _, ok := r.Body(c, nil); ok {
		t.Fatal("body replaced without a page")
	}
}

func TestConfigErrors(t *testing.T) {
	for field, cfg := range map[string]map[string]any{
		"statuses":    {"service": "e"},
		"statuses[0]": {"statuses": []any{302}, "service": "e"},
		"service":     {"statuses": []any{404}},
		"headers":     {"statuses": []any{404}, "service": "e", "headers": map[string]any{"X A": "1"}},
		"timeout":     {"statuses": []any{404}, "service": "e", "timeout": "2m"},
	} {
		_, err := plugin.DecodeConfig("custom-errors", cfg)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%v: error %v, want one naming %s", cfg, err, field)
		}
	}
}
