package ir

import (
	"strings"
	"testing"
)

func TestListenerTrustedProxies(t *testing.T) {
	ok := Listener{Name: "web", Address: "127.0.0.1:8080", Protocol: ProtocolHTTP, TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1", "::1"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid trusted proxies refused: %v", err)
	}
	bad := ok
	bad.TrustedProxies = []string{"10.0.0.0/8", "not-an-ip", "10.0.0.0/33"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad trusted proxies accepted")
	}
	for _, want := range []string{"trustedProxies[1]", `"not-an-ip"`, "trustedProxies[2]", `"10.0.0.0/33"`, `listener "web"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
