package app

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/telemetry"
)

func TestParseRouteSeries(t *testing.T) {
	for in, want := range map[string]int{"": telemetry.DefaultRouteSeries, "all": telemetry.RouteSeriesAll, "none": 0, "0": 0, "2500": 2500} {
		if got, err := parseRouteSeries(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "lots", "10k", "ALL"} {
		if _, err := parseRouteSeries(in); err == nil || !strings.Contains(err.Error(), "--metrics-routes") || !strings.Contains(err.Error(), in) {
			t.Errorf("%q: %v, want an error naming the flag and the value", in, err)
		}
	}
}
