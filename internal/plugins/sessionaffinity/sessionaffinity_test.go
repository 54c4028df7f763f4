package sessionaffinity

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func TestIssuesCookieOnce(t *testing.T) {
	r := plugintest.Build(t, "session-affinity", map[string]any{"cookie": "route", "maxAge": "1h", "sameSite": "Lax"}, nil)
	c := plugintest.New()
	if r.Request(c) != plugin.Continue {
		t.Fatal("stopped")
	}
	v, ok := c.Cookie("route")
	if !ok || len(v) != 32 {
		t.Fatalf("no cookie for the balancer to hash on: %q", v)
	}
	r.Response(c)
	sc := c.RespHeader.Get("Set-Cookie")
	if sc != "route="+string(v)+"; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax" {
		t.Fatalf("Set-Cookie = %q", sc)
	}
	// A client with the cookie keeps it: nothing added, nothing set.
	r = plugintest.Build(t, "session-affinity", map[string]any{"cookie": "route"}, nil) // a fresh request's slots
	c2 := plugintest.New()
	c2.ReqHeader.Set("Cookie", "a=b; route="+string(v))
	r.Request(c2)
	r.Response(c2)
	if c2.RespHeader.Get("Set-Cookie") != "" || strings.Count(strings.Join(c2.ReqHeader.Values("Cookie"), ";"), "route=") != 1 {
		t.Fatalf("existing cookie replaced: %v / %q", c2.ReqHeader, c2.RespHeader.Get("Set-Cookie"))
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]map[string]any{
		"cookie":   {"cookie": "a b"},
		"path":     {"path": "x"},
		"sameSite": {"sameSite": "lax"},
	} {
		if _, err := plugin.DecodeConfig("session-affinity", want); err == nil || !strings.Contains(err.Error(), cfg) {
			t.Errorf("%v: error %v", want, err)
		}
	}
}
