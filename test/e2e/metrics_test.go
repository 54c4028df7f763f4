package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	gw := startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: svc-a
    endpoints: [%q]
routes:
  - name: route-a
    hosts: ["m.example.com"]
    backends: [{ service: svc-a }]
`, listen, a))
	c := newClient()
	for range 5 {
		do(t, c, "GET", "http://"+listen+"/ok", "m.example.com")
	}
	for range 3 {
		do(t, c, "GET", "http://"+listen+"/status/503", "m.example.com")
	}
	body := gw.get("/metrics")
	for _, want := range []string{
		`pylon_requests_total{code="200",route="route-a",service="svc-a"} 5`,
		`pylon_requests_total{code="503",route="route-a",service="svc-a"} 3`,
		`pylon_request_duration_seconds_count{route="route-a",service="svc-a"} 8`,
		fmt.Sprintf(`pylon_upstream_endpoint_healthy{endpoint=%q,service="svc-a"} 1`, a),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, re := range []string{
		`(?m)^pylon_request_duration_seconds_bucket\{.*route="route-a".*\} \d+`,
		`(?m)^pylon_config_objects\{.*kind="route".*\} 1$`,
		`(?m)^pylon_config_objects\{.*kind="service".*\} 1$`,
		`(?m)^pylon_config_propagation_seconds_count \d+`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks a line matching %s", re)
		}
	}
	if t.Failed() {
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "pylon_") {
				lines = append(lines, l)
			}
		}
		t.Logf("pylon series:\n%s", strings.Join(lines, "\n"))
	}
}
