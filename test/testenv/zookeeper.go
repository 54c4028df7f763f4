package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZooKeeper is a real standalone ZooKeeper server (Debian's package, run
// with java) started by a test on a free port on 127.0.0.1, with its data
// dir in the test's temp dir and the admin server off. It is killed in
// t.Cleanup.
//
// Its Register methods write nodes the way the registering libraries do,
// over a client session of their own: ending that session
// (ExpireSession) makes the ephemeral nodes vanish, as when an
// application dies.
type ZooKeeper struct {
	t       testing.TB
	java    string
	cp      string
	port    int
	dataDir string
	cfg     string

	mu   sync.Mutex
	proc *Process
	reg  *ZKClient // the default registering session; nil until used
}

// zkTick is the server's tickTime. Session timeouts a client asks for are
// bounded by the server to [2, 20] ticks unless the config says otherwise;
// the config below allows 400 ms to 60 s.
const zkTick = 200 * time.Millisecond

// StartZooKeeper starts ZooKeeper and waits until it serves requests.
// Under CI a missing ZooKeeper fails the test; elsewhere it skips.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	jar := Tool(t, "zookeeper")
	java, err := exec.LookPath("java")
	if err != nil {
		unavailable(t, "testenv: zookeeper: java is not on PATH: %v", err)
	}
	// The jar's manifest names its dependencies (Class-Path). slf4j-simple,
	// from the same Debian package set, makes the server log to stderr,
	// which lands in the process log printed when a test fails.
	cp := jar
	if simple := filepath.Join(filepath.Dir(jar), "slf4j-simple.jar"); fileExists(simple) {
		cp += ":" + simple
	}
	dir := t.TempDir()
	z := &ZooKeeper{t: t, java: java, cp: cp, port: FreePort(t),
		dataDir: filepath.Join(dir, "data"), cfg: filepath.Join(dir, "zoo.cfg")}
	if err := os.MkdirAll(z.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
minSessionTimeout=400
maxSessionTimeout=60000
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
forceSync=no
`, zkTick.Milliseconds(), z.dataDir, z.port)
	if err := os.WriteFile(z.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	z.Start()
	t.Cleanup(func() {
		z.mu.Lock()
		reg := z.reg
		z.mu.Unlock()
		if reg != nil {
			reg.Close()
		}
		z.Stop()
	})
	return z
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Addr returns "127.0.0.1:PORT".
func (z *ZooKeeper) Addr() string { return fmt.Sprintf("127.0.0.1:%d", z.port) }

// Start starts ZooKeeper on its port with its data dir (sessions and
// nodes written before a Stop are still there) and waits until it serves.
// It must not be running.
func (z *ZooKeeper) Start() {
	z.t.Helper()
	// Container nodes (Curator creates the parents of its instances as
	// containers) are swept every 200 ms instead of every minute, so a
	// service node emptied by a test really goes away, as it does in
	// production a minute later.
	p := Start(z.t, z.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dznode.container.checkIntervalMs=200", "-Dznode.container.maxPerMinute=100000",
		"-cp", z.cp, "org.apache.zookeeper.server.ZooKeeperServerMain", z.cfg)
	z.mu.Lock()
	z.proc = p
	z.mu.Unlock()
	err := p.waitFor(60*time.Second, func() error {
		out, err := z.fourLetter("srvr")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "Mode: standalone") {
			return fmt.Errorf("srvr: %q", out)
		}
		return nil
	})
	if err != nil {
		p.dumpLog(z.t)
		z.t.Fatalf("testenv: zookeeper on %s: %v", z.Addr(), err)
	}
}

// Stop kills ZooKeeper with SIGKILL, as a crash would, and waits for it to
// exit. The data dir is kept for Start.
func (z *ZooKeeper) Stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.proc == nil {
		return
	}
	if !z.proc.Exited() {
		_ = syscall.Kill(-z.proc.Pid(), syscall.SIGKILL)
	}
	_ = z.proc.Wait()
}

// fourLetter sends a four-letter command ("srvr") and returns the answer.
func (z *ZooKeeper) fourLetter(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", z.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// ZKClient is one client session of the test, writing nodes as a
// registering application would.
type ZKClient struct {
	t    testing.TB
	conn *zk.Conn
	acl  []zk.ACL
	once sync.Once
}

// ZKClientOption changes a client Client opens.
type ZKClientOption func(*ZKClient)

// WithDigest makes the client authenticate as user:password and create
// its nodes readable and writable by that identity only.
func WithDigest(user, password string) ZKClientOption {
	return func(c *ZKClient) {
		if err := c.conn.AddAuth("digest", []byte(user+":"+password)); err != nil {
			c.t.Fatalf("testenv: zookeeper: add auth: %v", err)
		}
		c.acl = zk.DigestACL(zk.PermAll, user, password)
	}
}

// Client opens a client session of its own (closed in t.Cleanup), with a
// 4 s session timeout.
func (z *ZooKeeper) Client(opts ...ZKClientOption) *ZKClient {
	z.t.Helper()
	conn, _, err := zk.Connect([]string{z.Addr()}, 4*time.Second, zk.WithLogger(quietZK{}), zk.WithLogInfo(false))
	if err != nil {
		z.t.Fatalf("testenv: zookeeper: connect: %v", err)
	}
	c := &ZKClient{t: z.t, conn: conn, acl: zk.WorldACL(zk.PermAll)}
	for _, o := range opts {
		o(c)
	}
	z.t.Cleanup(c.Close)
	return c
}

// quietZK keeps the client library's log lines out of the test output.
type quietZK struct{}

func (quietZK) Printf(string, ...any) {}

// Close ends the session: the server deletes its ephemeral nodes at once.
func (c *ZKClient) Close() { c.once.Do(c.conn.Close) }

// SessionID returns the client's current session id.
func (c *ZKClient) SessionID() int64 { return c.conn.SessionID() }

func (z *ZooKeeper) client() *ZKClient {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.reg == nil {
		z.reg = z.Client()
	}
	return z.reg
}

// RegisterDubbo registers a provider of iface with the default session;
// see ZKClient.RegisterDubbo.
func (z *ZooKeeper) RegisterDubbo(iface, ip string, port int, params map[string]string) string {
	z.t.Helper()
	return z.client().RegisterDubbo(iface, ip, port, params)
}

// RegisterCurator registers an instance with the default session; see
// ZKClient.RegisterCurator.
func (z *ZooKeeper) RegisterCurator(name, id, ip string, port int, meta map[string]string) string {
	z.t.Helper()
	return z.client().RegisterCurator(name, id, ip, port, meta)
}

// Deregister deletes the node at path, as an application shutting down
// cleanly does.
func (z *ZooKeeper) Deregister(path string) {
	z.t.Helper()
	z.client().Deregister(path)
}

// ExpireSession ends the default registering session, as when the
// application holding it dies: its ephemeral nodes vanish. The next
// Register opens a new session.
func (z *ZooKeeper) ExpireSession() {
	z.mu.Lock()
	reg := z.reg
	z.reg = nil
	z.mu.Unlock()
	if reg != nil {
		reg.Close()
	}
}

// RegisterDubbo writes a provider of the Java interface iface as Apache
// Dubbo's ZooKeeper registry does: the persistent parents
// /dubbo/IFACE/providers, then an ephemeral child named with the
// provider's URL, URL-encoded as java.net.URLEncoder does
// (dubbo://IP:PORT/IFACE?anyhost=true&...), holding the provider's IP as
// its data. params add to or replace the URL's usual parameters. It
// returns the node's path.
func (c *ZKClient) RegisterDubbo(iface, ip string, port int, params map[string]string) string {
	c.t.Helper()
	p := map[string]string{
		"anyhost": "true", "application": "demo-provider", "category": "providers", "deprecated": "false",
		"dubbo": "2.0.2", "dynamic": "true", "generic": "false", "interface": iface, "methods": "sayHello,sayHelloAsync",
		"pid": strconv.Itoa(os.Getpid()), "release": "3.2.0", "service-name-mapping": "true", "side": "provider",
		"timestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
	}
	for k, v := range params {
		p[k] = v
	}
	var q []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		q = append(q, k+"="+p[k])
	}
	host := ip
	if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	u := fmt.Sprintf("dubbo://%s:%d/%s?%s", host, port, iface, strings.Join(q, "&"))
	dir := "/dubbo/" + JavaURLEncode(iface) + "/providers"
	c.mkdirs(dir, false)
	path := dir + "/" + JavaURLEncode(u)
	if _, err := c.conn.Create(path, []byte(ip), zk.FlagEphemeral, c.acl); err != nil {
		c.t.Fatalf("testenv: zookeeper: create %s: %v", path, err)
	}
	return path
}

// CuratorInstance is the JSON of a Curator x-discovery ServiceInstance
// with a Spring Cloud Zookeeper payload, as Spring Cloud Zookeeper writes it.
func CuratorInstance(name, id, ip string, port int, meta map[string]string) []byte {
	if meta == nil {
		meta = map[string]string{}
	}
	b, err := json.Marshal(map[string]any{
		"name": name, "id": id, "address": ip, "port": port, "sslPort": nil,
		"payload": map[string]any{
			"@class": "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
			"id":     name + "-" + id, "name": name, "metadata": meta,
		},
		"registrationTimeUTC": time.Now().UnixMilli(), "serviceType": "DYNAMIC",
		"uriSpec": map[string]any{"parts": []map[string]any{
			{"value": "scheme", "variable": true}, {"value": "://", "variable": false},
			{"value": "address", "variable": true}, {"value": ":", "variable": false},
			{"value": "port", "variable": true},
		}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// RegisterCurator writes an instance as Curator's ServiceDiscovery does
// for Spring Cloud Zookeeper: the parents /services/NAME as container
// nodes (the server deletes them once empty), then an ephemeral child
// named id holding the instance's JSON. It returns the node's path.
func (c *ZKClient) RegisterCurator(name, id, ip string, port int, meta map[string]string) string {
	c.t.Helper()
	dir := "/services/" + name
	c.mkdirs(dir, true)
	path := dir + "/" + id
	if _, err := c.conn.Create(path, CuratorInstance(name, id, ip, port, meta), zk.FlagEphemeral, c.acl); err != nil {
		c.t.Fatalf("testenv: zookeeper: create %s: %v", path, err)
	}
	return path
}

// UpdateCurator rewrites a registered instance's JSON, as Curator's
// updateService does (a data change on the same node).
func (c *ZKClient) UpdateCurator(name, id, ip string, port int, meta map[string]string) {
	c.t.Helper()
	path := "/services/" + name + "/" + id
	if _, err := c.conn.Set(path, CuratorInstance(name, id, ip, port, meta), -1); err != nil {
		c.t.Fatalf("testenv: zookeeper: set %s: %v", path, err)
	}
}

// Exists reports whether the node at path exists.
func (c *ZKClient) Exists(path string) bool {
	c.t.Helper()
	ok, _, err := c.conn.Exists(path)
	if err != nil {
		c.t.Fatalf("testenv: zookeeper: exists %s: %v", path, err)
	}
	return ok
}

// Deregister deletes the node at path.
func (c *ZKClient) Deregister(path string) {
	c.t.Helper()
	if err := c.conn.Delete(path, -1); err != nil {
		c.t.Fatalf("testenv: zookeeper: delete %s: %v", path, err)
	}
}

// mkdirs creates the persistent (or container) nodes of dir that are
// missing.
func (c *ZKClient) mkdirs(dir string, container bool) {
	c.t.Helper()
	p := ""
	for _, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		p += "/" + part
		var err error
		if container {
			_, err = c.conn.CreateContainer(p, nil, zk.FlagContainer, c.acl)
		} else {
			_, err = c.conn.Create(p, nil, 0, c.acl)
		}
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			c.t.Fatalf("testenv: zookeeper: create %s: %v", p, err)
		}
	}
}

// JavaURLEncode encodes s as java.net.URLEncoder.encode(s, "UTF-8") does,
// which is how Dubbo names its provider nodes: letters, digits and ".-*_"
// stay, a space becomes "+", every other byte is %XX.
func JavaURLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.', ch == '-', ch == '*', ch == '_':
			b.WriteByte(ch)
		case ch == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}
