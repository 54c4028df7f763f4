package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
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
	do(t, c, "GET", "http://"+listen+"/ok", "unknown.example.com") // no route: 404
	// A request the listener refuses itself (a field name with a space)
	// counts on the listener too.
	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: m.example.com\r\nX Bad: 1\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400") {
		t.Fatalf("a bad field name: %q, %v; want 400", line, err)
	}
	body := gw.get("/metrics")
	for _, want := range []string{
		`pylon_listener_requests_total{code="200",listener="web"} 5`,
		`pylon_listener_requests_total{code="503",listener="web"} 3`,
		`pylon_listener_requests_total{code="404",listener="web"} 1`,
		`pylon_listener_requests_total{code="400",listener="web"} 1`,
		`pylon_listener_request_duration_seconds_count{listener="web"} 10`,
		`pylon_requests_total{code="200",route="route-a",service="svc-a"} 5`,
		`pylon_requests_total{code="503",route="route-a",service="svc-a"} 3`,
		`pylon_request_duration_seconds_count{route="route-a",service="svc-a"} 8`,
		`pylon_service_requests_total{code="200",service="svc-a"} 5`,
		`pylon_service_requests_total{code="503",service="svc-a"} 3`,
		`pylon_service_request_duration_seconds_count{service="svc-a"} 8`,
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

// TestMetricsRouteCap: with --metrics-routes 1 only the busiest route has
// series of its own; the service's series count both routes. A value that
// is not a count stops pylon with the flag named.
func TestMetricsRouteCap(t *testing.T) {
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
  - name: busy
    hosts: ["busy.example.com"]
    backends: [{ service: svc-a }]
  - name: quiet
    hosts: ["quiet.example.com"]
    backends: [{ service: svc-a }]
`, listen, a), "--metrics-routes", "1")
	c := newClient()
	for range 4 {
		do(t, c, "GET", "http://"+listen+"/ok", "busy.example.com")
	}
	do(t, c, "GET", "http://"+listen+"/ok", "quiet.example.com")
	body := gw.get("/metrics")
	for _, want := range []string{
		`pylon_requests_total{code="200",route="busy",service="svc-a"} 4`,
		`pylon_service_requests_total{code="200",service="svc-a"} 5`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `route="quiet"`) {
		t.Errorf("the quieter route has series beyond the cap of 1")
	}

	out, err := exec.Command(testenv.BuildPylon(t), "run", "--config", gw.config, "--metrics-routes", "lots",
		"--metrics-address", testenv.FreeAddr(t), "--admin-address", "off", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--metrics-routes") || !strings.Contains(string(out), "lots") {
		t.Errorf("pylon run --metrics-routes lots: %v\n%s", err, out)
	}
}
