package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// The waf plugin with the OWASP CRS in a real gateway: SQL injection and
// XSS are refused with 403 over HTTP/1.1 and HTTP/2 (query and body), an
// ordinary request and form pass, detect mode logs but passes, and the
// access log names the matched rules.
func TestWAFBlocksAttacksPassesTraffic(t *testing.T) {
	t.Parallel()
	listen, h2c := testenv.FreeAddr(t), testenv.FreeAddr(t)
	app := backends.StartHTTP(t, "app")
	accessLog := filepath.Join(t.TempDir(), "access.log")
	gw := startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
  - { name: h2c, address: %s, protocol: h2c }
services:
  - name: app
    endpoints: [%q]
routes:
  - name: app
    hosts: ["app.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf, config: { crs: { enabled: true, paranoiaLevel: 1 } } }]
  - name: watch
    hosts: ["watch.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf, config: { mode: detect, crs: { enabled: true } } }]
`, listen, h2c, app), "--access-log=true", "--access-log-path", accessLog)

	const sqli = "/products?id=1%27%20OR%20%271%27=%271"
	const xss = "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E"
	ua := "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
	for _, cl := range []struct {
		name string
		c    *http.Client
		base string
	}{{"HTTP/1.1", newClient(), "http://" + listen}, {"HTTP/2", h2cClient(h2c), "http://" + h2c}} {
		c, base := cl.c, cl.base
		if r := do(t, c, "GET", base+"/products?id=42&sort=price", "app.test", ua, "Accept: text/html"); r.Status != 200 || r.echo(t).Backend != "app" {
			t.Fatalf("%s: ordinary request: %d", cl.name, r.Status)
		}
		for _, target := range []string{sqli, xss, "/files?name=../../../../etc/passwd"} {
			if r := do(t, c, "GET", base+target, "app.test", ua, "Accept: text/html"); r.Status != 403 || strings.Contains(r.Body, `"backend"`) {
				t.Fatalf("%s: %s: %d %q, want 403 without reaching the app", cl.name, target, r.Status, r.Body)
			}
		}
		form := func(body string) int {
			req, _ := http.NewRequest("POST", base+"/login", io.NopCloser(strings.NewReader(body)))
			req.Host = "app.test"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
			req.Header.Set("Accept", "text/html")
			if cl.name == "HTTP/2" {
				req.ContentLength = -1 // streamed: the plugin reads it ahead
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && !strings.Contains(string(b), fmt.Sprintf(`"bodyLength":%d,`, len(body))) {
				t.Fatalf("%s: the app did not get the whole form: %s", cl.name, b)
			}
			return resp.StatusCode
		}
		if s := form("user=alice&password=s3cret&remember=on"); s != 200 {
			t.Fatalf("%s: ordinary form: %d", cl.name, s)
		}
		if s := form("user=admin'--&password=x' or '1'='1"); s != 403 {
			t.Fatalf("%s: SQL injection in the body: %d", cl.name, s)
		}
		if s := form("user=alice&comment=<img src=x onerror=alert(1)>"); s != 403 {
			t.Fatalf("%s: XSS in the body: %d", cl.name, s)
		}
	}
	c := newClient()
	if r := do(t, c, "GET", "http://"+listen+sqli, "watch.test", ua, "Accept: text/html"); r.Status != 200 || r.echo(t).Backend != "app" {
		t.Fatalf("detect mode: %d, want the request passed", r.Status)
	}

	type line struct{ Host, Path, WAF string }
	var lines []line
	eventually(t, 5*time.Second, "access log lines", func() (bool, string) {
		b, _ := os.ReadFile(accessLog)
		lines = lines[:0]
		for _, l := range strings.Split(string(b), "\n") {
			var e line
			if json.Unmarshal([]byte(l), &e) == nil && e.Path != "" {
				lines = append(lines, e)
			}
		}
		return len(lines) >= 13, fmt.Sprintf("%d lines", len(lines))
	})
	seen := map[string]bool{}
	for _, l := range lines {
		switch {
		case l.Host == "watch.test":
			seen["detect"] = strings.Contains(l.WAF, "942100")
		case l.Path == "/products" && strings.Contains(l.WAF, "942100") && strings.Contains(l.WAF, "949110"):
			seen["sqli"] = true
		case l.Path == "/search" && strings.Contains(l.WAF, "941100"):
			seen["xss"] = true
		case l.Path == "/products" && l.WAF == "":
			seen["clean"] = true
		}
	}
	for _, k := range []string{"detect", "sqli", "xss", "clean"} {
		if !seen[k] {
			t.Errorf("access log: no %s line with the expected waf field: %+v", k, lines)
		}
	}
	if m := gw.get("/metrics"); !strings.Contains(m, `pylon_waf_rule_matches_total{rule_id="942100"}`) ||
		!strings.Contains(m, `pylon_plugin_events_total{event="blocked",plugin="waf",scope="route/app"}`) {
		t.Errorf("metrics lack the waf series:\n%s", grepLines(m, "waf"))
	}
}

// Bad waf configs are refused one by one, naming the route, the field and,
// for SecLang, the line; the good route serves.
func TestWAFBadConfig(t *testing.T) {
	t.Parallel()
	app := backends.StartHTTP(t, "app")
	listen := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
services:
  - name: app
    endpoints: [%q]
routes:
  - name: good
    hosts: ["good.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf, config: { crs: { enabled: true } } }]
  - name: bad-seclang
    hosts: ["a.test"]
    backends: [{ service: app }]
    plugins:
      - name: waf
        config:
          rules: |
            SecRuleEngine On
            # refuse an old client
            SecRule REQUEST_HEADERS:User-Agent "@contains Old" \
              "id:1001,phase:1,deny,status:403,bogus"
  - name: no-such-rule
    hosts: ["b.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf, config: { crs: { enabled: true }, exclusions: [{ ids: [942100, 999123] }] } }]
  - name: bad-paranoia
    hosts: ["c.test"]
    backends: [{ service: app }]
    plugins: [{ name: waf, config: { crs: { enabled: true, paranoiaLevel: 7 } } }]
`, listen, app)
	path := filepath.Join(t.TempDir(), "pylon.yaml")
	writeFile(t, path, cfg)
	out, _ := exec.Command(testenv.BuildPylon(t), "validate", "--config", path).CombinedOutput()
	want := map[string]string{
		"bad-seclang":  `plugins[0].config.rules: waf: line 3: "secrule": invalid action "bogus"`,
		"no-such-rule": `plugins[0].config.exclusions[0].ids[1]: waf: no rule has id 999123`,
		"bad-paranoia": `plugins[0].config.crs.paranoiaLevel: waf: must be 1 to 4 (got 7)`,
	}
	for route, msg := range want {
		found := false
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, fmt.Sprintf("route %q", route)) && strings.Contains(l, msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("validate: no line for route %s with %q:\n%s", route, msg, out)
		}
	}
	if strings.Contains(string(out), `route "good"`) {
		t.Errorf("validate complains about the good route:\n%s", out)
	}
	gw := startGatewayAt(t, path)
	rejected := map[string]string{}
	for _, r := range gw.debugConfig().Rejected {
		rejected[r.Object] = r.Error
	}
	for route, msg := range want {
		if e := findRejected(rejected, route); !strings.Contains(e, msg) {
			t.Errorf("gateway: route %s rejected with %q, want %q (all: %v)", route, e, msg, rejected)
		}
	}
	c := newClient()
	if r := do(t, c, "GET", "http://"+listen+"/?id=1%27%20OR%20%271%27=%271", "good.test"); r.Status != 403 {
		t.Fatalf("the good route: %d, want its waf to refuse", r.Status)
	}
	if r := do(t, c, "GET", "http://"+listen+"/", "good.test", "User-Agent: Mozilla/5.0", "Accept: */*"); r.Status != 200 {
		t.Fatalf("the good route: %d %q", r.Status, r.Body)
	}
}
