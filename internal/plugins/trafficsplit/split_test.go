package trafficsplit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// split runs one request through a one-plugin chain and returns the chosen
// service and the request's tag header.
func split(r *plugin.Runner, c *plugintest.Ctx) (service, tag string) {
	c.ServiceList = []string{"stable", "canary", "beta"}
	c.Chosen = ""
	if r.Upstream(c) != plugin.Continue {
		panic("traffic-split stopped a request")
	}
	return c.Service(), c.ReqHeader.Get("X-Pylon-Tag")
}

func withHeader(kv ...string) *plugintest.Ctx {
	c := plugintest.New()
	for i := 0; i+1 < len(kv); i += 2 {
		c.ReqHeader.Add(kv[i], kv[i+1])
	}
	return c
}

func rules(rs ...map[string]any) map[string]any {
	l := make([]any, len(rs))
	for i, r := range rs {
		l[i] = r
	}
	return map[string]any{"rules": l}
}

func TestHeaderAndCookieMatches(t *testing.T) {
	r := plugintest.Build(t, "traffic-split", rules(
		map[string]any{"service": "canary", "header": map[string]any{"name": "x-canary", "exact": "yes"}, "tag": map[string]any{"value": "gray"}},
		map[string]any{"service": "beta", "header": map[string]any{"name": "user-agent", "regex": ".*Beta/[0-9]+"}},
		map[string]any{"service": "canary", "cookie": map[string]any{"name": "release", "regex": "canary|gray"}},
		map[string]any{"service": "beta", "cookie": map[string]any{"name": "beta"}},
	), nil)
	for _, tc := range []struct {
		hdr      []string
		svc, tag string
	}{
		{nil, "stable", ""},
		{[]string{"X-Canary", "yes"}, "canary", "gray"},
		{[]string{"X-Canary", "no"}, "stable", ""},
		{[]string{"User-Agent", "App Beta/12"}, "beta", ""},
		{[]string{"User-Agent", "App Beta/12 extra"}, "stable", ""}, // the regex matches the whole value
		{[]string{"Cookie", "a=1; release=gray"}, "canary", ""},
		{[]string{"Cookie", "release=grayish"}, "stable", ""},
		{[]string{"Cookie", "beta=anything"}, "beta", ""},
	} {
		svc, tag := split(r, withHeader(tc.hdr...))
		if svc != tc.svc || tag != tc.tag {
			t.Errorf("%v: service %q tag %q, want %q %q", tc.hdr, svc, tag, tc.svc, tc.tag)
		}
	}
}

func TestConditionsCombine(t *testing.T) {
	r := plugintest.Build(t, "traffic-split", rules(map[string]any{"service": "canary",
		"header": map[string]any{"name": "x-region", "exact": "eu"}, "weight": 0}), nil)
	if svc, _ := split(r, withHeader("X-Region", "eu")); svc != "stable" {
		t.Fatalf("weight 0 took a request (%s)", svc)
	}
}

func TestRandomWeight(t *testing.T) {
	r := plugintest.Build(t, "traffic-split", rules(map[string]any{"service": "canary", "weight": 20}), nil)
	n := 0
	const total = 20000
	for range total {
		if svc, _ := split(r, plugintest.New()); svc == "canary" {
			n++
		}
	}
	if got := float64(n) / total * 100; got < 18.5 || got > 21.5 {
		t.Fatalf("canary took %.2f%%, want 20%% ± 1.5", got)
	}
}

// The check: 100k distinct users at a 10% stable split land on the
// canary 10% ± 0.5% of the time, and no user ever changes sides — not on a
// later request, and not on another instance (another node, a restart).
func TestStablePercentage(t *testing.T) {
	for _, hash := range []string{"xxhash", "fnv"} {
		t.Run(hash, func(t *testing.T) {
			cfg := rules(map[string]any{"service": "canary", "weight": 10, "hashOn": map[string]any{"header": "x-user-id"},
				"tag": map[string]any{"value": "gray"}})
			cfg["hash"] = hash
			r1 := plugintest.Build(t, "traffic-split", cfg, nil)
			r2 := plugintest.Build(t, "traffic-split", cfg, nil)
			const users = 100000
			keys := make([]string, users)
			for u := range keys {
				keys[u] = fmt.Sprintf("user-%d", u)
			}
			side := make([]bool, users)
			n := 0
			c := plugintest.New()
			for u, k := range keys {
				c.ReqHeader.Set("X-User-Id", k)
				svc, _ := split(r1, c)
				side[u] = svc == "canary"
				if side[u] {
					n++
				}
			}
			if got := float64(n) / users * 100; got < 9.5 || got > 10.5 {
				t.Fatalf("canary took %.3f%% of users, want 10%% ± 0.5", got)
			}
			// Every user again on the other instance, and every 7th on the
			// first one once more.
			for round, r := range []*plugin.Runner{r2, r1} {
				for u := 0; u < users; u += 1 + 6*round {
					c.ReqHeader.Set("X-User-Id", keys[u])
					c.ReqHeader.Del("X-Pylon-Tag")
					svc, tag := split(r, c)
					if (svc == "canary") != side[u] || (tag == "gray") != side[u] {
						t.Fatalf("round %d: %s moved to %s (tag %q)", round, keys[u], svc, tag)
					}
				}
			}
		})
	}
}

// The hash is part of the contract: nodes of one version and the next must
// agree, so the buckets are pinned.
func TestBucketsArePinned(t *testing.T) {
	r := rule{saltFNV: fnv1a(fnvOffset, []byte("canary")), salt: xxhash.Sum64String("canary")}
	if b := r.bucket([]byte("user-42"), true); b != fnvBucket {
		t.Errorf("fnv bucket of user-42 = %d, want %d", b, fnvBucket)
	}
	if b := r.bucket([]byte("user-42"), false); b != xxBucket {
		t.Errorf("xxhash bucket of user-42 = %d, want %d", b, xxBucket)
	}
}

func TestMissingKey(t *testing.T) {
	hashed := func(missing string) map[string]any {
		return rules(map[string]any{"service": "canary", "weight": 100, "hashOn": map[string]any{"cookie": "uid", "missing": missing}})
	}
	// weight 100: with the default, a request without the cookie still
	// takes the weight; with skip, it goes to the route's backends.
	if svc, _ := split(plugintest.Build(t, "traffic-split", hashed("weight"), nil), plugintest.New()); svc != "canary" {
		t.Errorf("missing=weight: %s, want canary", svc)
	}
	if svc, _ := split(plugintest.Build(t, "traffic-split", hashed("skip"), nil), plugintest.New()); svc != "stable" {
		t.Errorf("missing=skip: %s, want stable", svc)
	}
}

func TestDefaultTagAndCustomHeader(t *testing.T) {
	cfg := rules(map[string]any{"service": "canary", "header": map[string]any{"name": "x-canary"},
		"tag": map[string]any{"header": "x-env", "value": "canary"}})
	cfg["defaultTag"] = map[string]any{"header": "x-env", "value": "base"}
	r := plugintest.Build(t, "traffic-split", cfg, nil)
	c := withHeader("X-Canary", "1")
	split(r, c)
	if got := c.ReqHeader.Get("X-Env"); got != "canary" {
		t.Errorf("tag %q, want canary", got)
	}
	c = plugintest.New()
	split(r, c)
	if got := c.ReqHeader.Get("X-Env"); got != "base" {
		t.Errorf("default tag %q, want base", got)
	}
}

func TestServicesDeclared(t *testing.T) {
	cfg := rules(map[string]any{"service": "canary", "weight": 5}, map[string]any{"service": "beta", "weight": 5},
		map[string]any{"service": "canary", "weight": 5})
	got := plugin.ServicesOf("traffic-split", cfg)
	if strings.Join(got, ",") != "canary,beta" {
		t.Fatalf("services %v, want [canary beta]", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		json, field string
	}{
		{`{"rules":[]}`, "rules"},
		{`{"rules":[{"weight":5}]}`, "rules[0].service"},
		{`{"rules":[{"service":"a"}]}`, "rules[0]"},
		{`{"rules":[{"service":"a","weight":101}]}`, "rules[0].weight"},
		{`{"rules":[{"service":"a","header":{"name":"x","regex":"("}}]}`, "rules[0].header.regex"},
		{`{"rules":[{"service":"a","header":{"name":"bad name"}}]}`, "rules[0].header.name"},
		{`{"rules":[{"service":"a","cookie":{"name":"c","exact":"1","regex":"1"}}]}`, "rules[0].cookie"},
		{`{"rules":[{"service":"a","hashOn":{"header":"x"}}]}`, "rules[0].hashOn"},
		{`{"rules":[{"service":"a","weight":5,"hashOn":{"header":"x","cookie":"y"}}]}`, "rules[0].hashOn"},
		{`{"rules":[{"service":"a","weight":5,"hashOn":{"cookie":"y","missing":"drop"}}]}`, "rules[0].hashOn.missing"},
		{`{"rules":[{"service":"a","weight":5,"tag":{"value":""}}]}`, "rules[0].tag.value"},
		{`{"rules":[{"service":"a","weight":5}],"hash":"md5"}`, "hash"},
		{`{"rules":[{"service":"a","weight":5}],"defaultTag":{"header":"a b","value":"x"}}`, "defaultTag.header"},
	} {
		var raw map[string]any
		if err := json.Unmarshal([]byte(tc.json), &raw); err != nil {
			t.Fatal(err)
		}
		_, err := plugin.DecodeConfig("traffic-split", raw)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: error %v, want one naming %s", tc.json, err, tc.field)
		}
	}
}

func FuzzConfig(f *testing.F) {
	f.Add(`{"rules":[{"service":"canary","weight":10,"hashOn":{"header":"x-user-id"},"tag":{"value":"gray"}}]}`, "user-1")
	f.Add(`{"rules":[{"service":"canary","header":{"name":"x","regex":"a|b"}}],"hash":"fnv"}`, "a")
	f.Add(`{"rules":[{"service":"canary","cookie":{"name":"uid"},"weight":50}]}`, "")
	f.Fuzz(func(t *testing.T, cfgJSON, value string) {
		var raw map[string]any
		if json.Unmarshal([]byte(cfgJSON), &raw) != nil {
			return
		}
		if _, err := plugin.DecodeConfig("traffic-split", raw); err != nil {
			return
		}
		r := plugintest.Build(t, "traffic-split", raw, nil)
		c := withHeader("X-User-Id", value, "X", value, "Cookie", "uid="+value)
		c.ServiceList = plugin.ServicesOf("traffic-split", raw)
		r.Upstream(c)
	})
}
