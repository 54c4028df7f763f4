package wafbypass

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// Each bad field is refused with an error naming it; the interface
// config is accepted as written.
func TestConfigValidation(t *testing.T) {
	good := map[string]any{"service": "external-waf", "timeout": "200ms", "failure": "open"}
	if _, err := plugin.DecodeConfig("waf-bypass", good); err != nil {
		t.Fatalf("the documented config: %v", err)
	}
	for _, tc := range []struct {
		name  string
		cfg   map[string]any
		field string
	}{
		{"missing service", map[string]any{"timeout": "200ms"}, "service: must name the WAF service"},
		{"bad failure", map[string]any{"service": "w", "failure": "sometimes"}, `failure: must be open or closed (got "sometimes")`},
		{"negative timeout", map[string]any{"service": "w", "timeout": "-200ms"}, "timeout: "},
		{"zero timeout", map[string]any{"service": "w", "timeout": "0s"}, "timeout: must be 1ms to 10s"},
		{"huge timeout", map[string]any{"service": "w", "timeout": "1m"}, "timeout: must be 1ms to 10s"},
		{"timeout not a duration", map[string]any{"service": "w", "timeout": "soon"}, "timeout: "},
		{"2xx block status", map[string]any{"service": "w", "blockStatuses": []any{403, 200}}, "blockStatuses[1]: must be 300 to 599"},
		{"no block status", map[string]any{"service": "w", "blockStatuses": []any{}}, "blockStatuses: must list"},
		{"bad failure status", map[string]any{"service": "w", "failureStatus": 200}, "failureStatus: must be 400 to 599"},
		{"percent", map[string]any{"service": "w", "percent": 101}, "percent: must be a percentage"},
		{"maxBody", map[string]any{"service": "w", "maxBody": -1}, "maxBody: must be 0 to"},
		{"breaker ratio", map[string]any{"service": "w", "breaker": map[string]any{"failureRatio": 2}}, "breaker.failureRatio: must be > 0"},
		{"breaker probes", map[string]any{"service": "w", "breaker": map[string]any{"halfOpenRequests": 5000}}, "breaker.halfOpenRequests: must be 1 to 1000"},
		{"unknown field", map[string]any{"service": "w", "timeuot": "1s"}, "timeuot: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugin.DecodeConfig("waf-bypass", tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %q", err, tc.field)
			}
		})
	}
	// Every problem at once, not the first only.
	_, err := plugin.DecodeConfig("waf-bypass", map[string]any{"failure": "x", "maxBody": -5})
	for _, f := range []string{"service:", "failure:", "maxBody:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not name %s", err, f)
		}
	}
}
