package all_test

import (
	"encoding/json"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// FuzzPluginConfigs feeds arbitrary JSON to every plugin's config decoding
// and validation: a bad config must be an error naming a field, never a
// panic. (Instances are not built: a fuzzed config could name any address.)
func FuzzPluginConfigs(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"rate": 10, "period": "1s"}`, `{"rate": -1}`, `{"rules": [{"weight": 200}]}`,
		`{"allowOrigins": ["*"], "maxAge": "10m"}`, `{"level": 99}`, `{"request": {"set": {"a": "b"}}}`,
		`{"allow": ["10.0.0.0/8", "::1/128"], "trustedProxies": ["bad"]}`, `{"regex": "(", "replacement": "$1"}`,
		`{"failureRatio": 1.5, "window": "-1s"}`, `{"percentage": 101, "delay": "1h"}`, `{"service": ""}`,
		`{"service": "w", "timeout": "-1s", "failure": "ajar", "blockStatuses": [200, 99999], "breaker": {"openFor": "x"}}`,
	} {
		f.Add(seed)
	}
	defs := plugin.All()
	f.Fuzz(func(t *testing.T, data string) {
		var cfg map[string]any
		if json.Unmarshal([]byte(data), &cfg) != nil {
			return
		}
		for _, d := range defs {
			_, _ = plugin.DecodeConfig(d.Name, cfg)
		}
	})
}
