package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Consul is a real Consul agent (v1.16.3 from hack/testenv.sh) in -dev mode
// started by a test: a single server on free ports on 127.0.0.1 (HTTP,
// serf LAN and WAN, server RPC; DNS and gRPC off), with its data dir in
// the test's temp dir. Services are registered through the agent's HTTP
// API, as applications do, each with a TTL check the test sets. It is
// killed in t.Cleanup.
//
// A -dev agent keeps its catalog (Raft) in memory, so a restart starts a
// new index history; the services and checks registered with the agent
// are kept in the data dir and synced to the new catalog, as an agent on a
// real node does after a reboot.
type Consul struct {
	t     testing.TB
	bin   string
	dir   string
	conf  string
	ports struct{ http, https, serfLAN, serfWAN, server int }
	token string // the initial management token; "" without ACLs
	tls   string // the tls block, from ConsulHTTPS

	client *http.Client
	mu     sync.Mutex
	proc   *Process
}

// ConsulOption changes how StartConsul starts the agent.
type ConsulOption func(*Consul)

// ConsulACL turns ACLs on with default_policy deny; Token returns the
// initial management token, which the agent also uses for itself.
func ConsulACL() ConsulOption {
	return func(c *Consul) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		c.token = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
}

// ConsulHTTPS adds an HTTPS port (HTTPSAddr) serving certFile and keyFile;
// with clientCA set, it asks for client certificates signed by it
// (verify_incoming). The HTTP port stays on.
func ConsulHTTPS(certFile, keyFile, clientCA string) ConsulOption {
	return func(c *Consul) {
		c.ports.https = FreePort(c.t)
		c.tls = fmt.Sprintf("tls {\n  https {\n    cert_file = %q\n    key_file = %q\n", certFile, keyFile)
		if clientCA != "" {
			c.tls += fmt.Sprintf("    ca_file = %q\n    verify_incoming = true\n", clientCA)
		}
		c.tls += "  }\n}\n"
	}
}

// StartConsul starts the agent and waits until it has elected itself and
// registered its node. Under CI a missing consul fails the test; elsewhere
// it skips.
func StartConsul(t testing.TB, opts ...ConsulOption) *Consul {
	t.Helper()
	c := &Consul{t: t, bin: Tool(t, "consul"), dir: filepath.Join(t.TempDir(), "consul"), client: &http.Client{Timeout: 10 * time.Second}}
	c.ports.http, c.ports.serfLAN, c.ports.serfWAN, c.ports.server = FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	c.ports.https = -1
	for _, o := range opts {
		o(c)
	}
	c.writeConfig()
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Addr returns "127.0.0.1:PORT" of the HTTP API.
func (c *Consul) Addr() string { return fmt.Sprintf("127.0.0.1:%d", c.ports.http) }

// HTTPSAddr returns "127.0.0.1:PORT" of the HTTPS API (see ConsulHTTPS).
func (c *Consul) HTTPSAddr() string { return fmt.Sprintf("127.0.0.1:%d", c.ports.https) }

// Token returns the management token ("" without ConsulACL).
func (c *Consul) Token() string { return c.token }

func (c *Consul) writeConfig() {
	var b strings.Builder
	fmt.Fprintf(&b, "node_name = \"pylon-test\"\ndatacenter = \"dc1\"\ndata_dir = %q\n", c.dir)
	b.WriteString("bind_addr = \"127.0.0.1\"\nclient_addr = \"127.0.0.1\"\nadvertise_addr = \"127.0.0.1\"\n")
	b.WriteString("log_level = \"warn\"\ndisable_update_check = true\n")
	fmt.Fprintf(&b, "ports {\n  http = %d\n  https = %d\n  dns = -1\n  grpc = -1\n  grpc_tls = -1\n  serf_lan = %d\n  serf_wan = %d\n  server = %d\n}\n",
		c.ports.http, c.ports.https, c.ports.serfLAN, c.ports.serfWAN, c.ports.server)
	if c.token != "" {
		fmt.Fprintf(&b, "acl {\n  enabled = true\n  default_policy = \"deny\"\n  down_policy = \"extend-cache\"\n  tokens {\n    initial_management = %q\n    agent = %q\n  }\n}\n", c.token, c.token)
	}
	b.WriteString(c.tls)
	c.conf = filepath.Join(filepath.Dir(c.dir), "consul.hcl")
	if err := os.WriteFile(c.conf, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// Start starts the agent on its ports with its data dir; it must not be
// running.
func (c *Consul) Start() {
	c.t.Helper()
	p := Start(c.t, c.bin, "agent", "-dev", "-config-file="+c.conf)
	c.mu.Lock()
	c.proc = p
	c.mu.Unlock()
	err := p.waitFor(30*time.Second, func() error {
		var leader string
		if err := c.call("GET", "/v1/status/leader", nil, &leader); err != nil {
			return err
		}
		if leader == "" {
			return fmt.Errorf("no leader yet")
		}
		var node *struct{ Node struct{ Node string } }
		if err := c.call("GET", "/v1/catalog/node/pylon-test", nil, &node); err != nil {
			return err
		}
		if node == nil {
			return fmt.Errorf("node not registered yet")
		}
		return nil
	})
	if err != nil {
		p.dumpLog(c.t)
		c.t.Fatalf("testenv: consul on %s: %v", c.Addr(), err)
	}
}

// Stop kills the agent with SIGKILL, as a crash would, and waits for it to
// exit. The data dir stays for Start.
func (c *Consul) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return
	}
	if !c.proc.Exited() {
		_ = syscall.Kill(-c.proc.Pid(), syscall.SIGKILL)
	}
	_ = c.proc.Wait()
}

// Register registers a service instance with the agent, with a TTL check
// "check:<id>" that starts passing, and waits until the catalog has it.
func (c *Consul) Register(id, service, ip string, port int, tags []string, meta map[string]string) {
	c.t.Helper()
	c.RegisterService(map[string]any{"ID": id, "Name": service, "Address": ip, "Port": port, "Tags": tags, "Meta": meta})
}

// RegisterService registers def (the body of PUT
// /v1/agent/service/register: ID, Name, Address, Port, Weights, ...) and
// adds the TTL check "check:<ID>", passing, unless def has a Check. It
// waits until the catalog has the instance.
func (c *Consul) RegisterService(def map[string]any) {
	c.t.Helper()
	id, _ := def["ID"].(string)
	if _, ok := def["Check"]; !ok {
		def["Check"] = map[string]any{"CheckID": "check:" + id, "Name": "ttl", "TTL": "24h", "Status": "passing"}
	}
	if err := c.call("PUT", "/v1/agent/service/register", def, nil); err != nil {
		c.t.Fatalf("testenv: consul: register %s: %v", id, err)
	}
	c.waitCatalog(def["Name"].(string), id, true)
}

// Deregister removes a service instance and waits until the catalog has
// not got it.
func (c *Consul) Deregister(id string) {
	c.t.Helper()
	var svc map[string]struct{ Service string }
	if err := c.call("GET", "/v1/agent/services", nil, &svc); err != nil {
		c.t.Fatalf("testenv: consul: deregister %s: %v", id, err)
	}
	if err := c.call("PUT", "/v1/agent/service/deregister/"+url.PathEscape(id), nil, nil); err != nil {
		c.t.Fatalf("testenv: consul: deregister %s: %v", id, err)
	}
	if s, ok := svc[id]; ok {
		c.waitCatalog(s.Service, id, false)
	}
}

// SetHealth sets the TTL check of instance id to passing or critical and
// waits until the catalog has the new status.
func (c *Consul) SetHealth(id string, passing bool) {
	c.t.Helper()
	status := "critical"
	if passing {
		status = "passing"
	}
	c.SetCheck(id, status)
}

// SetCheck sets the TTL check of instance id to status (passing, warning
// or critical) and waits until the catalog has it.
func (c *Consul) SetCheck(id, status string) {
	c.t.Helper()
	body := map[string]string{"Status": status, "Output": "set by the test"}
	if err := c.call("PUT", "/v1/agent/check/update/"+url.PathEscape("check:"+id), body, nil); err != nil {
		c.t.Fatalf("testenv: consul: check %s %s: %v", id, status, err)
	}
	c.waitFor(fmt.Sprintf("check of %s %s", id, status), func() (bool, error) {
		var checks []struct{ CheckID, Status string }
		if err := c.call("GET", "/v1/health/node/pylon-test", nil, &checks); err != nil {
			return false, err
		}
		for _, ch := range checks {
			if ch.CheckID == "check:"+id {
				return ch.Status == status, nil
			}
		}
		return false, nil
	})
}

func (c *Consul) waitCatalog(service, id string, present bool) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%s in the catalog: %v", id, present), func() (bool, error) {
		var list []struct{ ServiceID string }
		if err := c.call("GET", "/v1/catalog/service/"+url.PathEscape(service), nil, &list); err != nil {
			return false, err
		}
		for _, s := range list {
			if s.ServiceID == id {
				return present, nil
			}
		}
		return !present, nil
	})
}

func (c *Consul) waitFor(what string, done func() (bool, error)) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := done()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testenv: consul: waiting for %s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call sends one request to the HTTP API with the management token and
// decodes a 200 answer into out (when not nil).
func (c *Consul) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.Addr()+path, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Call sends one request to the agent's HTTP API with the management token
// (ACL setup, and what a test needs beyond Register) and decodes a 200
// answer into out, unless out is nil.
func (c *Consul) Call(method, path string, in, out any) error { return c.call(method, path, in, out) }
