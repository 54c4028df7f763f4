package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// gwName is the name on the gateway's certificate; TLS clients send it as
// SNI whatever virtual host they ask for.
const gwName = "gw.matrix.test"

// matrixBodyLimit is every matrix listener's limits.maxBodyBytes, and
// matrixPluginLimit the request-size plugin's maxBytes on the limit routes.
const (
	matrixBodyLimit   = 64 << 10
	matrixPluginLimit = 1 << 10
)

// upstreamKind is one way Pylon talks to a service: the service's protocol
// and tls fields. Each has two matrix backends that share the journal.
type upstreamKind struct {
	name     string // http1, http1tls, http2, h2c
	protocol string // the service's protocol field; empty is http1
	tls      bool   // the service has a tls block
	a, b     string // the backends' addresses
	ca       string // their certificate (httptest's, the same for all), with tls
}

// h2 reports whether Pylon speaks HTTP/2 to this kind of upstream.
func (u *upstreamKind) h2() bool { return u.protocol == "http2" || u.protocol == "h2c" }

// matrix is one gateway in front of every kind of upstream, with a
// listener for every kind of client.
type matrix struct {
	gw      *gateway
	journal *backends.Journal
	access  string // the access log file
	dead    string // an address nothing listens on
	ca      *testCA
	clients []*clientKind
	ups     []*upstreamKind
}

func startMatrix(t *testing.T) *matrix {
	t.Helper()
	m := &matrix{journal: backends.NewJournal(), dead: testenv.FreeAddr(t), ca: newCA(t)}
	for _, u := range []*upstreamKind{
		{name: "http1"},
		{name: "http1tls", tls: true},
		{name: "http2", protocol: "http2", tls: true},
		{name: "h2c", protocol: "h2c"},
	} {
		u.a, u.ca = backends.StartMatrix(t, u.name+"-a", m.journal, u.tls)
		u.b, _ = backends.StartMatrix(t, u.name+"-b", m.journal, u.tls)
		m.ups = append(m.ups, u)
	}
	m.clients = clientKinds()
	for _, c := range m.clients {
		c.addr = testenv.FreeAddr(t)
	}
	dir := t.TempDir()
	m.access = filepath.Join(dir, "access.log")
	cfg := filepath.Join(dir, "pylon.yaml")
	writeFile(t, cfg, m.config(t))
	// Without the race detector: the table holds latencies to bounds
	// (timeouts, events one by one), and must finish quickly.
	m.gw = startGatewayBin(t, testenv.BuildPylonForTiming(t), cfg,
		"--access-log=true", "--access-log-path", m.access)
	for _, c := range m.clients {
		c.connect(t, m)
	}
	return m
}

// config is one file: a listener per client kind, and per upstream kind the
// services and routes the cases use. Hosts are CASE.UPSTREAM.test, or
// CASE.CLIENT.UPSTREAM.test where a case keeps state per pair (a retry
// budget, passive health).
func (m *matrix) config(t *testing.T) string {
	cert, key := m.ca.leaf(t, gwName)
	var b strings.Builder
	b.WriteString("listeners:\n")
	for _, c := range m.clients {
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n    protocol: %s\n    limits: { maxBodyBytes: %d }\n",
			c.name, c.addr, c.listener, matrixBodyLimit)
		if c.listener == "https" {
			b.WriteString("    tls: { defaultCertificate: gw }\n")
		}
	}
	fmt.Fprintf(&b, "certificates:\n  - name: gw\n    cert: |\n%s    key: |\n%s", indent(cert, 6), indent(key, 6))
	var services, routes strings.Builder
	for _, u := range m.ups {
		one, two := fmt.Sprintf("[%q]", u.a), fmt.Sprintf("[%q, %q]", u.a, u.b)
		svc := func(name, endpoints, extra string) {
			fmt.Fprintf(&services, "  - name: %s-%s\n    endpoints: %s\n", name, u.name, endpoints)
			if u.protocol != "" {
				fmt.Fprintf(&services, "    protocol: %s\n", u.protocol)
			}
			if u.tls {
				fmt.Fprintf(&services, "    tls:\n      serverName: example.com\n      ca: |\n%s", indent(u.ca, 8))
			}
			services.WriteString(extra)
		}
		route := func(name, host, service, extra string) {
			fmt.Fprintf(&routes, "  - name: %s-%s\n    hosts: [%q]\n    backends: [{ service: %s-%s }]\n%s",
				name, u.name, host, service, u.name, extra)
		}
		svc("echo", one, "")
		svc("pair", two, "")
		// Weights put the dead endpoint (or the 503 one) first on nearly
		// every request, whatever else runs at the same time.
		svc("connect", fmt.Sprintf("[{ address: %q, weight: 1000 }, { address: %q, weight: 1 }]", m.dead, u.a), "")
		svc("last", fmt.Sprintf("[{ address: %q, weight: 1000 }, { address: %q, weight: 1 }]", u.a, m.dead), "")
		svc("dead", fmt.Sprintf("[%q]", m.dead), "")
		svc("none", "[]", "    discovered: true\n")
		h := func(c string) string { return c + "." + u.name + ".test" }
		route("echo", h("echo"), "echo", "")
		route("retry", h("retry"), "pair", "    timeouts: { request: 10s }\n    retries: { attempts: 2, on: [503] }\n")
		// The per-try timeout has a route of its own, so that a try slowed by
		// a loaded machine on the other retry routes is not taken for one.
		route("slow", h("slow"), "pair", "    timeouts: { request: 10s }\n    retries: { attempts: 2, perTryTimeout: 1s }\n")
		route("connect", h("connect"), "connect", "    retries: { attempts: 2 }\n")
		route("last", h("last"), "last", "    retries: { attempts: 2, on: [503] }\n")
		route("dead", h("dead"), "dead", "    retries: { attempts: 1 }\n")
		route("none", h("none"), "none", "")
		route("rto", h("rto"), "echo", "    timeouts: { request: 300ms }\n    retries: { attempts: 1 }\n")
		route("pto", h("pto"), "echo", "    timeouts: { request: 5s }\n    retries: { attempts: 1, perTryTimeout: 300ms }\n")
		route("limit", h("limit"), "echo", fmt.Sprintf("    plugins:\n      - name: request-size\n        config: { maxBytes: %d }\n", matrixPluginLimit))
		route("deny", h("deny"), "echo", "    plugins:\n      - name: ip-restriction\n        config: { deny: [\"127.0.0.0/8\"] }\n")
		route("auth", h("auth"), "echo", "    plugins:\n      - name: key-auth\n        config: { hideCredentials: true, keys: [{ consumer: matrix-client, key: matrix-secret }] }\n")
		route("redir", h("redir"), "echo", "    plugins:\n      - name: redirect\n        config: { path: /moved, code: 307 }\n")
		route("rw", h("rw"), "echo", "    match: { path: { prefix: /static/ } }\n    plugins:\n      - name: rewrite\n        config: { prefix: { match: /static/, replacement: /svc/ } }\n")
		for _, c := range m.clients {
			svc("budget-"+c.name, two, "    retryBudget: { percent: 20, minRetries: 3 }\n")
			route("budget-"+c.name, h("budget."+c.name), "budget-"+c.name, "    timeouts: { request: 10s }\n    retries: { attempts: 3, on: [503] }\n")
			svc("passive-"+c.name, one, "    healthCheck:\n      passive: { consecutiveFailures: 3, ejectionTime: 30s }\n")
			route("passive-"+c.name, h("passive."+c.name), "passive-"+c.name, "    retries: { attempts: 1 }\n")
		}
	}
	b.WriteString("services:\n")
	b.WriteString(services.String())
	b.WriteString("routes:\n")
	b.WriteString(routes.String())
	return b.String()
}

// pair is one client kind in front of one upstream kind.
type pair struct {
	client *clientKind
	up     *upstreamKind
	m      *matrix
}

// host is the virtual host of route c for this pair's upstream kind.
func (p pair) host(c string) string { return c + "." + p.up.name + ".test" }

// own is the host of route c kept for this pair alone.
func (p pair) own(c string) string { return c + "." + p.client.name + "." + p.up.name + ".test" }
