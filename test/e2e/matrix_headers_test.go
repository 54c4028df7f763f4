package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
)

// headerCases: what the upstream request carries, whatever the pair.
func headerCases() []matrixCase {
	return []matrixCase{
		{name: "forwarded", skip: always, run: caseForwarded},
		{name: "request-id", skip: always, run: caseRequestID},
		{name: "hop-by-hop", skip: always, run: caseHopByHop},
		{name: "forged-client-cert", skip: always, run: caseForgedClientCert},
		{name: "forged-consumer", skip: always, run: caseForgedConsumer},
	}
}

// caseForwarded: X-Forwarded-For ends with the client, X-Forwarded-Proto
// and -Host are the gateway's own, whatever the client claimed.
func caseForwarded(t *testing.T, p pair) {
	forgedProto := "https"
	wantProto := "http"
	if p.client.tls {
		forgedProto, wantProto = "http", "https"
	}
	host := p.host("echo")
	saw := upstreamSaw(t, p.send(t, request{host: host, path: "/forwarded?x=1", header: [][2]string{
		{"X-Forwarded-For", "203.0.113.7"},
		{"X-Forwarded-Proto", forgedProto},
		{"X-Forwarded-Host", "forged.example"},
	}}))
	xff := strings.Join(saw.Header.Values("X-Forwarded-For"), ", ")
	// Appending to the client's list or replacing it are both honest; the
	// client's address must end it either way.
	if xff != "203.0.113.7, 127.0.0.1" && xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client 127.0.0.1 last", xff)
	}
	if got := saw.Header.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != wantProto {
		t.Errorf("X-Forwarded-Proto = %q, want [%s]", got, wantProto)
	}
	if got := saw.Header.Values("X-Forwarded-Host"); len(got) != 1 || got[0] != host {
		t.Errorf("X-Forwarded-Host = %q, want [%s]", got, host)
	}
	if saw.Host != host {
		t.Errorf("upstream Host = %q, want %q", saw.Host, host)
	}
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// caseRequestID: a valid client id is kept, a missing or invalid one is
// replaced by a generated one.
func caseRequestID(t *testing.T, p pair) {
	for _, tc := range []struct {
		name, sent string // sent "": no header
		keep       bool
	}{
		{"none", "", false},
		{"valid", "client-id_1.2:3", true},
		{"invalid", "no spaces allowed", false},
		{"too-long", strings.Repeat("a", 129), false},
	} {
		req := request{host: p.host("echo"), path: "/request-id"}
		if tc.sent != "" {
			req.header = [][2]string{{"X-Request-Id", tc.sent}}
		}
		saw := upstreamSaw(t, p.send(t, req))
		got := saw.Header.Values("X-Request-Id")
		switch {
		case len(got) != 1:
			t.Errorf("%s: upstream X-Request-Id = %q, want one value", tc.name, got)
		case tc.keep && got[0] != tc.sent:
			t.Errorf("%s: upstream X-Request-Id = %q, want the client's %q", tc.name, got[0], tc.sent)
		case !tc.keep && !generatedID.MatchString(got[0]):
			t.Errorf("%s: upstream X-Request-Id = %q, want a generated 32-hex id", tc.name, got[0])
		}
	}
}

// caseHopByHop: hop-by-hop headers, and headers the client's Connection
// names, stop at the gateway. HTTP/2 forbids connection-specific headers
// (RFC 9113 8.2.2), so HTTP/2 clients send the ones it allows.
func caseHopByHop(t *testing.T, p pair) {
	hdr := [][2]string{{"Proxy-Authorization", "Basic bWF0cml4OnNlY3JldA=="}}
	if !p.client.h2 {
		hdr = append(hdr,
			[2]string{"Connection", "keep-alive, X-Hop-Named"},
			[2]string{"X-Hop-Named", "secret"},
			[2]string{"Keep-Alive", "timeout=5"},
			[2]string{"Proxy-Connection", "keep-alive"},
			[2]string{"TE", "gzip"},
		)
		if p.client.family != famWS {
			// Upgrade on a request that is no upgrade (Connection does
			// not name it) is just a hop-by-hop header.
			hdr = append(hdr, [2]string{"Upgrade", "matrix-proto"})
		}
	}
	saw := upstreamSaw(t, p.send(t, request{host: p.host("echo"), path: "/hop", header: hdr}))
	for _, name := range []string{"Proxy-Authorization", "X-Hop-Named", "Keep-Alive", "Proxy-Connection"} {
		if v, ok := saw.Header[name]; ok {
			t.Errorf("upstream got %s: %q", name, v)
		}
	}
	if te := saw.Header.Values("Te"); len(te) > 0 && !(len(te) == 1 && strings.EqualFold(te[0], "trailers")) {
		t.Errorf("upstream got TE %q; only \"trailers\" may pass", te)
	}
	for _, v := range saw.Header.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "x-hop-named") {
			t.Errorf("upstream got Connection %q, naming the client's hop-by-hop header", v)
		}
	}
	up := saw.Header.Values("Upgrade")
	if p.client.family == famWS {
		if p.client.h2 {
			return // RFC 8441 has no Upgrade header; the gateway may upgrade over HTTP/1.1 upstream
		}
		if len(up) != 1 || !strings.EqualFold(up[0], "websocket") {
			t.Errorf("upgrade reached the upstream with Upgrade %q, want [websocket]", up)
		}
	} else if len(up) > 0 {
		t.Errorf("upstream got Upgrade %q on a request that is no upgrade", up)
	}
}

// forged sends headers only the gateway may set and fails for each that
// reached the upstream.
func forged(t *testing.T, p pair, req request, names ...string) *backends.Saw {
	t.Helper()
	saw := upstreamSaw(t, p.send(t, req))
	for _, name := range names {
		if v, ok := saw.Header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("upstream got the client's forged %s: %q", name, v)
		}
	}
	return saw
}

// caseForgedClientCert: the client-certificate headers are the gateway's
// word to the upstream (no client certificate here, so none at all), on
// upgrades as on any request.
func caseForgedClientCert(t *testing.T, p pair) {
	forged(t, p, request{host: p.host("echo"), path: "/forged", header: [][2]string{
		{"X-Client-Verify", "SUCCESS"},
		{"X-Client-Subject-Dn", "CN=admin,O=Matrix"},
		{"X-Client-Cert", "-----BEGIN%20CERTIFICATE-----forged"},
	}}, "X-Client-Verify", "X-Client-Subject-Dn", "X-Client-Cert")
}

// caseForgedConsumer: X-Consumer names the consumer an auth plugin
// identified; on a route without one the client's own goes nowhere.
func caseForgedConsumer(t *testing.T, p pair) {
	forged(t, p, request{host: p.host("echo"), path: "/forged", header: [][2]string{{"X-Consumer", "admin"}}}, "X-Consumer")
}
