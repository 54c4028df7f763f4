package consul

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/ir"
)

func TestConfigYAML(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte(`
servers: ["127.0.0.1:8500", "[::1]:8500"]
scheme: https
tls: { caFile: ca.pem, certFile: c.pem, keyFile: k.pem, serverName: consul.test }
token: s3cr3t
datacenter: dc2
passingOnly: false
zoneKey: az
waitTime: 90s
timeout: 200ms
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("discovery[0].consul"); err != nil {
		t.Fatal(err)
	}
	if c.Timeout.D() != 200*time.Millisecond || c.WaitTime.D() != 90*time.Second || *c.PassingOnly || c.TLS.ServerName != "consul.test" {
		t.Fatalf("config = %+v", c)
	}
	d := Config{Servers: []string{"127.0.0.1:8500"}}.withDefaults()
	if !*d.PassingOnly || d.ZoneKey != "zone" || d.WaitTime.D() != 5*time.Minute || d.Timeout.D() != 5*time.Second || d.Scheme != "http" {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestValidateNamesEachField(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{"no servers", Config{}, []string{"discovery[3].consul.servers: at least one server is required"}},
		{"bad servers", Config{Servers: []string{"nohost", "h:0", ":8500", "h:x"}}, []string{
			"discovery[3].consul.servers[0]: ", "discovery[3].consul.servers[1]: ", "discovery[3].consul.servers[2]: ", "discovery[3].consul.servers[3]: "}},
		{"scheme", Config{Servers: []string{"h:1"}, Scheme: "ftp"}, []string{`discovery[3].consul.scheme: "ftp" is not one of http, https`}},
		{"tls without https", Config{Servers: []string{"h:1"}, TLS: &TLS{CAFile: "ca.pem"}}, []string{`discovery[3].consul.tls: applies to scheme "https" only`}},
		{"cert without key", Config{Servers: []string{"h:1"}, Scheme: "https", TLS: &TLS{CertFile: "c.pem"}}, []string{"discovery[3].consul.tls: certFile and keyFile go together"}},
		{"token", Config{Servers: []string{"h:1"}, Token: "abc def"}, []string{"discovery[3].consul.token: must not contain spaces"}},
		{"datacenter", Config{Servers: []string{"h:1"}, Datacenter: "dc 1"}, []string{"discovery[3].consul.datacenter: "}},
		{"namespace", Config{Servers: []string{"h:1"}, Namespace: "a\nb"}, []string{"discovery[3].consul.namespace: "}},
		{"partition", Config{Servers: []string{"h:1"}, Partition: "a\tb"}, []string{"discovery[3].consul.partition: "}},
		{"zoneKey", Config{Servers: []string{"h:1"}, ZoneKey: "a b"}, []string{"discovery[3].consul.zoneKey: "}},
		{"waitTime low", Config{Servers: []string{"h:1"}, WaitTime: ir.Duration(200 * time.Millisecond)}, []string{"discovery[3].consul.waitTime: must be between 1s and 10m0s (got 200ms)"}},
		{"waitTime high", Config{Servers: []string{"h:1"}, WaitTime: ir.Duration(time.Hour)}, []string{"discovery[3].consul.waitTime: "}},
		{"timeout", Config{Servers: []string{"h:1"}, Timeout: ir.Duration(-time.Second)}, []string{"discovery[3].consul.timeout: must not be negative"}},
		{"all at once", Config{Scheme: "x", Timeout: -1, WaitTime: -1}, []string{"consul.servers:", "consul.scheme:", "consul.timeout:", "consul.waitTime:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate("discovery[3].consul")
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; want it to contain %q", err, w)
				}
			}
		})
	}
	err := Config{Servers: []string{"h:1"}, Token: "my secret\x01"}.Validate("consul")
	if err == nil || strings.Contains(err.Error(), "my secret") {
		t.Fatalf("Validate() = %v; want an error without the token", err)
	}
}

func TestCheck(t *testing.T) {
	for _, q := range []discovery.Query{
		{Name: "orders"},
		{Name: "orders", Tags: []string{"v2", "gray"}, Namespace: "shop", Partition: "eu", Datacenter: "dc2", Port: 8080},
	} {
		if err := Check(q); err != nil {
			t.Errorf("Check(%+v) = %v", q, err)
		}
	}
	for _, tc := range []struct {
		q    discovery.Query
		want string
	}{
		{discovery.Query{}, "name is required"},
		{discovery.Query{Name: "orders", Group: "g"}, "only name, tags, namespace, partition, datacenter and port apply"},
		{discovery.Query{Name: "orders", SRV: "_x._tcp"}, "only name"},
		{discovery.Query{Name: "orders", App: "a"}, "only name"},
		{discovery.Query{Name: "orders", Clusters: []string{"c"}}, "only name"},
		{discovery.Query{Name: "orders", Path: "/p"}, "only name"},
		{discovery.Query{Name: "a/b"}, "name must not contain '/'"},
		{discovery.Query{Name: "orders", Tags: []string{"ok", ""}}, "tags[1]"},
		{discovery.Query{Name: "orders", Datacenter: "d c"}, "datacenter"},
		{discovery.Query{Name: "orders", Port: 70000}, "port must be 0-65535"},
	} {
		if err := Check(tc.q); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v; want %q", tc.q, err, tc.want)
		}
	}
}
