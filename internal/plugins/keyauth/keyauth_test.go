package keyauth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func sum(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }

func auth(t *testing.T, cfg map[string]any) *plugin.Runner {
	return plugintest.Build(t, "key-auth", cfg, nil)
}

func TestKeysNameTheirConsumer(t *testing.T) {
	r := auth(t, map[string]any{"query": "api_key", "hideCredentials": true, "keys": []any{
		map[string]any{"consumer": "alice@example.com", "key": "alice-secret-key"},
		map[string]any{"consumer": "bob", "sha256": sum("bob-secret-key")},
	}})
	for _, tc := range []struct {
		name, header, query, consumer, upstreamQuery string
	}{
		{"header, plain key", "alice-secret-key", "", "alice@example.com", ""},
		{"header, hashed key", "bob-secret-key", "", "bob", ""},
		{"query parameter", "", "x=1&api_key=bob-secret-key&y=2", "bob", "x=1&y=2"},
		{"wrong key", "alice-secret-kez", "", "", ""},
		{"a key's digest is not a key", sum("bob-secret-key"), "", "", ""},
		{"no key", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			c.ReqHeader.Set("X-Consumer", "forged")
			if tc.header != "" {
				c.ReqHeader.Set("X-API-Key", tc.header)
			}
			c.QueryV = tc.query
			act := r.Request(c)
			if tc.consumer == "" {
				if act != plugin.Stop || c.StatusV != 401 || c.ConsumerV != "" {
					t.Fatalf("action %v, status %d, consumer %q; want 401 and no consumer", act, c.StatusV, c.ConsumerV)
				}
				return
			}
			if act != plugin.Continue || c.ConsumerV != tc.consumer || c.ReqHeader.Get("X-Consumer") != tc.consumer {
				t.Fatalf("action %v, consumer %q, X-Consumer %q; want %q", act, c.ConsumerV, c.ReqHeader.Get("X-Consumer"), tc.consumer)
			}
			if c.ReqHeader.Get("X-API-Key") != "" || c.QueryV != tc.upstreamQuery {
				t.Fatalf("hideCredentials left header %q, query %q (want %q)", c.ReqHeader.Get("X-API-Key"), c.QueryV, tc.upstreamQuery)
			}
		})
	}
}

func TestConfigErrorsNameTheEntryNotTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "keys: must list at least one key"},
		{map[string]any{"keys": []any{map[string]any{"consumer": "a"}}}, "keys[0]: set exactly one of key and sha256"},
		{map[string]any{"keys": []any{map[string]any{"consumer": "a", "sha256": "abc"}}}, "keys[0].sha256: must be 64 hex digits"},
		{map[string]any{"keys": []any{map[string]any{"consumer": "a b", "key": "k"}}}, "keys[0].consumer: must be a consumer name"},
		{map[string]any{"keys": []any{map[string]any{"consumer": "a", "key": "topsecret"}, map[string]any{"consumer": "b", "sha256": sum("topsecret")}}}, `keys[1]: the same key as another entry (consumer "a")`},
		{map[string]any{"header": "X Key", "keys": []any{map[string]any{"consumer": "a", "key": "k"}}}, "header: must be a header name"},
		{map[string]any{"query": "a&b", "keys": []any{map[string]any{"consumer": "a", "key": "k"}}}, "query: must be a plain parameter name"},
	} {
		_, err := plugin.DecodeConfig("key-auth", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("an error shows the key: %v", err)
		}
	}
}

func BenchmarkKeyAuth(b *testing.B) {
	cfg, err := plugin.DecodeConfig("key-auth", map[string]any{"keys": []any{map[string]any{"consumer": "alice", "key": "alice-secret-key"}}})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := build(cfg.(*Config), nil)
	c := benchctx.New("/", "X-API-Key", "alice-secret-key")
	var s plugin.Slot
	b.ReportAllocs()
	for b.Loop() {
		if a.Access(c, &s) != plugin.Continue {
			b.Fatal("refused")
		}
	}
}
