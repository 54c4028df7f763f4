package all_test

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// Which built-in plugins a consumer may carry follows from the ordering
// table (after authentication) and from whether they send requests.
func TestCheckConsumerPlugin(t *testing.T) {
	for name, want := range map[string]string{
		"rate-limit":        "",
		"concurrency-limit": "",
		"headers":           "",
		"compression":       "",
		"ip-restriction":    "runs before authentication",
		"basic-auth":        "runs before authentication",
		"cors":              "runs before authentication",
		"mirror":            "sends requests to services",
		"traffic-split":     "sends requests to services",
		"no-such":           `unknown plugin "no-such"`,
	} {
		err := plugin.CheckConsumerPlugin(name)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
