package admin

import (
	"net/http"
	"testing"
)

// TestDiscoveredServiceRoundTrip: a service with a discovery block and no
// endpoints is accepted, and GET gives the block back as it was sent.
func TestDiscoveredServiceRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	body := `{"name":"api","discovery":{"provider":"local-dns","name":"api.service.test","port":8080,"keepLastKnown":false}}`
	if r := ts.do("POST", "/api/v1/services", body); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	r := ts.do("GET", "/api/v1/services/api", "")
	d, _ := r.object()["discovery"].(map[string]any)
	if r.code != 200 || d["provider"] != "local-dns" || d["name"] != "api.service.test" || d["port"] != float64(8080) || d["keepLastKnown"] != false {
		t.Fatalf("get: %d %s", r.code, r.raw)
	}
	if r := ts.do("POST", "/api/v1/services", `{"name":"b","discovery":{"provider":"local-dns","port":1}}`); r.code != http.StatusUnprocessableEntity && r.code != http.StatusBadRequest {
		t.Errorf("a discovery block with neither name nor srv: %d %s", r.code, r.raw)
	}
}
