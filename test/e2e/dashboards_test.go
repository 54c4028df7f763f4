package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestDashboardsQueryExportedMetrics: every metric a panel of
// deploy/grafana/pylon.json or a rule of deploy/prometheus/alerts.yaml
// reads is one a running pylon exports, seen on its /metrics after traffic
// that makes each family appear (a TLS listener with a certificate, a
// rate-limited route, a circuit breaker on a dead service, a config
// change). promtool checks the rules, and the panels' queries as rules.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	t.Parallel()
	exprs := append(dashboardExprs(t), alertExprs(t)...)
	if len(exprs) < 20 {
		t.Fatalf("%d queries in the dashboard and rules; the files did not read as expected", len(exprs))
	}

	families := exportedFamilies(t)
	name := regexp.MustCompile(`\bpylon_[a-z0-9_]+\b`)
	for _, e := range exprs {
		for _, m := range name.FindAllString(e.expr, -1) {
			if families[m] != "" {
				continue
			}
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if families[base] == "histogram" {
				continue
			}
			t.Errorf("%s queries %s, which pylon does not export", e.where, m)
		}
	}

	// promtool: the rules as they are, and every panel query as a
	// recording rule, with Grafana's variables filled in.
	promtool := testenv.Tool(t, "promtool")
	if out, err := exec.Command(promtool, "check", "rules", "../../deploy/prometheus/alerts.yaml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules alerts.yaml: %v\n%s", err, out)
	}
	var rules []map[string]string
	for i, e := range dashboardExprs(t) {
		q := strings.NewReplacer("$__rate_interval", "5m", "$job", ".+").Replace(e.expr)
		rules = append(rules, map[string]string{"record": fmt.Sprintf("pylon:panel%d", i), "expr": q})
	}
	b, _ := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "panels", "rules": rules}}})
	panels := filepath.Join(t.TempDir(), "panels.yaml")
	if err := os.WriteFile(panels, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", panels).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}

type query struct{ where, expr string }

func dashboardExprs(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/pylon.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/pylon.json: %v", err)
	}
	var out []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, query{"panel " + p.Title, tg.Expr})
		}
	}
	return out
}

func alertExprs(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("deploy/prometheus/alerts.yaml: %v", err)
	}
	var out []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, query{"alert " + r.Alert, r.Expr})
		}
	}
	return out
}

// exportedFamilies runs pylon with traffic that makes every family appear
// and returns the families on its /metrics, with their types.
func exportedFamilies(t *testing.T) map[string]string {
	t.Helper()
	web, secure, dead := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	cert, key := newCA(t).leaf(t, "tls.example.com")
	cfg := fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
  - name: secure
    address: %s
    protocol: https
    tls: { defaultCertificate: site }
certificates:
  - name: site
    cert: |
%s    key: |
%s
services:
  - name: ok
    endpoints: [%q]
  - name: gone
    endpoints: [%q]
routes:
  - name: ok
    hosts: ["ok.example.com"]
    backends: [{ service: ok }]
  - name: limited
    hosts: ["limited.example.com"]
    backends: [{ service: ok }]
    plugins:
      - name: rate-limit
        config: { rate: 1, period: 1h }
  - name: gone
    hosts: ["gone.example.com"]
    backends: [{ service: gone }]
    plugins:
      - name: circuit-breaker
        config: { minRequests: 5, failures: [connect], failureStatuses: ["599"], openFor: 1h }
`, web, secure, indent(cert, 6), indent(key, 6), a, dead)
	gw := startGateway(t, cfg)
	c := newClient()
	for _, host := range []string{"ok", "ok", "limited", "limited", "limited", "nowhere"} {
		do(t, c, "GET", "http://"+web+"/", host+".example.com")
	}
	for range 7 {
		tryDo(c, "GET", "http://"+web+"/", "gone.example.com")
	}
	// A change, for the propagation and compile histograms.
	writeFile(t, gw.config, cfg+route("late", "late.example.com", "ok"))
	waitServed(t, web, "late.example.com", "a", 2*time.Second)

	families := map[string]string{}
	var missing []string
	eventually(t, 5*time.Second, "every family on /metrics", func() (bool, string) {
		for _, l := range strings.Split(gw.get("/metrics"), "\n") {
			if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
				families[f[2]] = f[3]
			}
		}
		missing = missing[:0]
		for _, want := range []string{"pylon_plugin_events_total", "pylon_upstream_errors_total", "pylon_certificates", "pylon_config_propagation_seconds"} {
			if families[want] == "" {
				missing = append(missing, want)
			}
		}
		return len(missing) == 0, fmt.Sprint("missing ", missing)
	})
	names := make([]string, 0, len(families))
	for n := range families {
		if strings.HasPrefix(n, "pylon_") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	t.Logf("pylon exports %s", strings.Join(names, ", "))
	return families
}
