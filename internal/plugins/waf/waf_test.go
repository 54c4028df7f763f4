package waf

import (
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

var crsPL1 = map[string]any{"crs": map[string]any{"enabled": true, "paranoiaLevel": 1}}

// run sends one request through a waf chain and returns the context.
func run(t *testing.T, r *plugin.Runner, method, target, body string, hdr ...string) *plugintest.Ctx {
	t.Helper()
	clear(r.Slots[:]) // a new request: the proxy's Reset does this
	c := plugintest.New()
	c.MethodV, c.HostV = method, "app.test"
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatal(err)
	}
	c.PathV, c.QueryV, c.RawURI = u.Path, u.RawQuery, target
	c.ReqHeader.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
	c.ReqHeader.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		c.ReqHeader.Set(hdr[i], hdr[i+1])
	}
	if body != "" {
		c.BodyV, c.BodyBuffered, c.Length = []byte(body), true, int64(len(body))
		c.ReqHeader.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		c.Length = 0
	}
	if r.Request(c) == plugin.Continue {
		c.StatusV = 200
		c.RespHeader.Set("Content-Type", "text/html")
		r.Response(c)
	} else {
		r.Response(c)
	}
	r.Log(c, &plugin.Outcome{Status: c.StatusV})
	return c
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func TestCRSBlocksAttacksAndPassesOrdinaryRequests(t *testing.T) {
	r := plugintest.Build(t, "waf", crsPL1, nil)
	for _, tc := range []struct {
		name, method, target, body string
		hdr                        []string
		blocked                    bool
		rule                       string
	}{
		{"page", "GET", "/products?id=42&sort=price", "", nil, false, ""},
		{"form", "POST", "/login", "user=alice&password=s3cret", []string{"Content-Type", "application/x-www-form-urlencoded"}, false, ""},
		{"json", "POST", "/api/items", `{"name":"chair","qty":2}`, []string{"Content-Type", "application/json"}, false, ""},
		{"sqli query", "GET", "/products?id=1%27%20OR%20%271%27=%271", "", nil, true, "942100"},
		{"sqli union", "GET", "/products?id=1+UNION+SELECT+username,password+FROM+users--", "", nil, true, ""},
		{"xss query", "GET", "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", "", nil, true, "941100"},
		{"sqli body", "POST", "/login", "user=admin'--&password=x' or '1'='1", []string{"Content-Type", "application/x-www-form-urlencoded"}, true, ""},
		{"xss json body", "POST", "/api/comments", `{"text":"<img src=x onerror=alert(1)>"}`, []string{"Content-Type", "application/json"}, true, ""},
		{"path traversal", "GET", "/files?name=../../../../etc/passwd", "", nil, true, "930100"},
	} {
		c := run(t, r, tc.method, tc.target, tc.body, tc.hdr...)
		if tc.blocked != c.Answered || tc.blocked && c.StatusV != 403 {
			t.Errorf("%s: answered %v status %d, want blocked %v (noted %v)", tc.name, c.Answered, c.StatusV, tc.blocked, c.Security)
		}
		if tc.blocked && !slices.Contains(c.Security, "949110") {
			t.Errorf("%s: the anomaly score rule is not in the log note: %v", tc.name, c.Security)
		}
		if tc.rule != "" && !slices.Contains(c.Security, tc.rule) {
			t.Errorf("%s: rule %s not noted: %v", tc.name, tc.rule, c.Security)
		}
		if !tc.blocked && len(c.Security) > 0 {
			t.Errorf("%s: ordinary request matched %v", tc.name, c.Security)
		}
	}
}

func TestDetectModeLogsButPasses(t *testing.T) {
	r := plugintest.Build(t, "waf", map[string]any{"mode": "detect", "crs": map[string]any{"enabled": true}}, nil)
	c := run(t, r, "GET", "/products?id=1%27%20OR%20%271%27=%271", "")
	if c.Answered {
		t.Fatalf("detect mode answered %d", c.StatusV)
	}
	if !slices.Contains(c.Security, "942100") {
		t.Fatalf("detect mode did not note the match: %v", c.Security)
	}
}

func TestOwnRulesAndExclusions(t *testing.T) {
	own := map[string]any{"rules": `SecRule REQUEST_HEADERS:X-Evil "@streq yes" "id:1001,phase:1,deny,status:418,msg:'evil header'"`}
	r := plugintest.Build(t, "waf", own, nil)
	if c := run(t, r, "GET", "/", "", "X-Evil", "yes"); c.StatusV != 418 || !slices.Contains(c.Security, "1001") {
		t.Fatalf("own rule: %d %v", c.StatusV, c.Security)
	}
	if c := run(t, r, "GET", "/", "", "X-Evil", "no"); c.Answered {
		t.Fatalf("own rule matched a good request")
	}

	sqli := "/products?id=1%27%20OR%20%271%27=%271"
	byID := map[string]any{"crs": map[string]any{"enabled": true},
		"exclusions": []any{map[string]any{"tags": []any{"attack-sqli"}, "paths": []any{"/reports/"}}}}
	r = plugintest.Build(t, "waf", byID, nil)
	if c := run(t, r, "GET", "/reports"+sqli, ""); c.Answered {
		t.Fatalf("tag excluded under /reports/ still blocked: %v", c.Security)
	}
	if c := run(t, r, "GET", sqli, ""); !c.Answered {
		t.Fatal("exclusion under a path applied elsewhere")
	}
}

func TestBodyOverLimit(t *testing.T) {
	cfg := map[string]any{"crs": map[string]any{"enabled": true}, "requestBody": map[string]any{"limit": 64}}
	r := plugintest.Build(t, "waf", cfg, nil)
	big := "a=" + strings.Repeat("b", 100)
	if c := run(t, r, "POST", "/upload", big, "Content-Type", "application/x-www-form-urlencoded"); c.StatusV != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit: %d", c.StatusV)
	}
	cfg["requestBody"] = map[string]any{"limit": 64, "overLimit": "inspect-partial"}
	r = plugintest.Build(t, "waf", cfg, nil)
	if c := run(t, r, "POST", "/upload", big, "Content-Type", "application/x-www-form-urlencoded"); c.Answered {
		t.Fatalf("inspect-partial refused: %d", c.StatusV)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg        map[string]any
		field, has string
	}{
		{map[string]any{"rules": "SecRuleEngine On\n\n# a comment\nSecRule ARGS \"@rx a\" \"id:7,phase:1,deny\"\nSecRule ARGS \"@rx b\" \\\n  \"id:8,phase:1,bogus\"\n"}, "rules", "line 5"},
		{map[string]any{"crs": map[string]any{"enabled": true}, "rulesAfterCRS": "SecRuleUpdateTargetById 942100 !ARGS:x\nSecNoSuchDirective on\n"}, "rulesAfterCRS", "line 2"},
		{map[string]any{"crs": map[string]any{"enabled": true}, "exclusions": []any{map[string]any{"ids": []any{942100, 123456}}}}, "exclusions[0].ids[1]", "123456"},
		{map[string]any{"crs": map[string]any{"enabled": true}, "exclusions": []any{map[string]any{"tags": []any{"no-such-tag"}}}}, "exclusions[0].tags[0]", "no-such-tag"},
		{map[string]any{"crs": map[string]any{"enabled": true, "paranoiaLevel": 5}}, "crs.paranoiaLevel", "1 to 4"},
		{map[string]any{"crs": map[string]any{"enabled": true}, "mode": "log"}, "mode", "block or detect"},
	} {
		_, err := plugin.DecodeConfig("waf", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.has) {
			t.Errorf("%v: %v; want an error on %s naming %q", tc.cfg, err, tc.field, tc.has)
		}
	}
}

// The same config compiles once, whatever scope uses it.
func TestRuleSetSharedBySameConfig(t *testing.T) {
	a, err := plugin.DecodeConfig("waf", crsPL1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := plugin.DecodeConfig("waf", crsPL1)
	if a.(*Config).rules != b.(*Config).rules || a.(*Config).rules.waf == nil {
		t.Fatal("the same config compiled twice")
	}
	other, _ := plugin.DecodeConfig("waf", map[string]any{"crs": map[string]any{"enabled": true, "paranoiaLevel": 2}})
	if other.(*Config).rules == a.(*Config).rules {
		t.Fatal("different configs share a rule set")
	}
}
