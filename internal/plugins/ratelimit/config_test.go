package ratelimit

import (
	"encoding/json"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		cfg   string
		field string
	}{
		{`{}`, "rate"},
		{`{"rate": 0}`, "rate"},
		{`{"rate": 5, "period": "0.5ms"}`, "period"},
		{`{"rate": 5, "algorithm": "leaky"}`, "algorithm"},
		{`{"rate": 5, "burst": -1}`, "burst"},
		{`{"rate": 5, "algorithm": "fixed-window", "burst": 10}`, "burst"},
		{`{"rate": 5, "key": "user"}`, "key"},
		{`{"rate": 5, "key": "header:"}`, "key"},
		{`{"rate": 5, "key": "ip+ip+ip+ip+ip"}`, "key"},
		{`{"rate": 5, "mode": "global"}`, "mode"},
		{`{"rate": 5, "mode": "redis"}`, "redis"},
		{`{"rate": 5, "redis": {"addresses": ["a:1"]}}`, "redis"},
		{`{"rate": 5, "mode": "redis", "algorithm": "token-bucket", "redis": {"addresses": ["a:1"]}}`, "algorithm"},
		{`{"rate": 5, "mode": "redis", "redis": {"addresses": []}}`, "redis.addresses"},
		{`{"rate": 5, "mode": "redis", "redis": {"addresses": ["nohost"]}}`, "redis.addresses[0]"},
		{`{"rate": 5, "mode": "redis", "redis": {"addresses": ["a:1"], "syncInterval": "2s"}}`, "redis.syncInterval"},
		{`{"rate": 5, "reject": {"status": 200}}`, "reject.status"},
		{`{"rate": 5, "reject": {"redirect": "/x", "status": 429}}`, "reject.status"},
		{`{"rate": 5, "reject": {"redirect": "ftp://x"}}`, "reject.redirect"},
		{`{"rate": 5, "reject": {"headers": {"Bad Name": "x"}}}`, "reject.headers"},
		{`{"rate": 5, "maxKeys": -1}`, "maxKeys"},
		{`{"rate": 5, "unknown": 1}`, "unknown"},
		{`{"rate": "five"}`, "rate"},
	}
	for _, tc := range cases {
		var raw map[string]any
		if err := json.Unmarshal([]byte(tc.cfg), &raw); err != nil {
			t.Fatal(err)
		}
		_, err := plugin.DecodeConfig("rate-limit", raw)
		if err == nil {
			t.Errorf("%s: accepted", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.field+": ") {
			t.Errorf("%s: error %q does not name %s", tc.cfg, err, tc.field)
		}
	}
	for _, ok := range []string{
		`{"rate": 5}`,
		`{"rate": 100, "period": "1m", "burst": 20, "key": "consumer+header:X-Api-Key", "mode": "cluster"}`,
		`{"rate": 100, "mode": "redis", "redis": {"addresses": ["127.0.0.1:6379"], "syncInterval": "20ms", "failClosed": true}}`,
		`{"rate": 5, "reject": {"redirect": "https://example.com/wait", "status": 307}}`,
	} {
		var raw map[string]any
		_ = json.Unmarshal([]byte(ok), &raw)
		if _, err := plugin.DecodeConfig("rate-limit", raw); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// FuzzConfig feeds arbitrary configs (outside input: files and the admin
// API) to the decoder and, when accepted in a mode without Redis, runs
// requests with arbitrary key material through the instance. Nothing may
// panic, and every key stays within its bound.
func FuzzConfig(f *testing.F) {
	f.Add(`{"rate": 5}`, "10.0.0.1", "k")
	f.Add(`{"rate": 3, "period": "1m", "algorithm": "fixed-window", "key": "header:X-Api-Key+cookie:s"}`, "::1", strings.Repeat("x", 300))
	f.Add(`{"rate": 10, "mode": "cluster", "key": "route+consumer", "reject": {"redirect": "/slow"}}`, "", "\x00{}")
	f.Add(`{"rate": 1, "burst": 9, "maxKeys": 70, "reject": {"status": 503, "headers": {"X-A": "b"}}}`, "1.2.3.4", "")
	f.Fuzz(func(t *testing.T, cfgJSON, ip, value string) {
		var raw map[string]any
		if json.Unmarshal([]byte(cfgJSON), &raw) != nil {
			return
		}
		cfg, err := plugin.DecodeConfig("rate-limit", raw)
		if err != nil || cfg.(*Config).Mode == ModeRedis {
			return
		}
		g := newRig(t, raw, newMembers(2))
		for range 3 {
			c := req(ip, "X-Api-Key", value, "X-Consumer", value, "Cookie", "s="+value)
			if s := g.send(c); s == 0 {
				t.Fatalf("no status")
			}
			var buf [keyBuf]byte
			k, _ := parseKey(cfg.(*Config).Key)
			if n := len(k.extract(c, &buf)); n > keyBuf {
				t.Fatalf("key of %d bytes", n)
			}
		}
	})
}
