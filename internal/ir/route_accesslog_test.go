package ir

import (
	"strings"
	"testing"
)

func TestRouteAccessLog(t *testing.T) {
	off, half, over, under := false, 0.5, 1.5, -0.1
	for _, tc := range []struct {
		a    RouteAccessLog
		want string // "" = valid
	}{
		{RouteAccessLog{Enabled: &off}, ""},
		{RouteAccessLog{Sample: &half}, ""},
		{RouteAccessLog{Sample: &over}, `route "r": accessLog.sample: must be between 0 and 1 (got 1.5)`},
		{RouteAccessLog{Sample: &under}, `accessLog.sample: must be between 0 and 1`},
	} {
		r := &Route{Name: "r", Backends: []Backend{{Service: "s"}}, AccessLog: &tc.a}
		err := r.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.a, err, tc.want)
		}
	}
	if _, err := DecodeJSON(KindRoute, []byte(`{"name":"r","backends":[{"service":"s"}],"accessLog":{"enabled":false,"sampel":1}}`)); err == nil || !strings.Contains(err.Error(), "sampel") {
		t.Errorf("a misspelt field: %v", err)
	}
}
