package dns

import (
	"context"
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/test/testenv"
)

func addrs(s discovery.Set) string {
	var out []string
	for _, in := range s.Instances {
		out = append(out, in.Address)
	}
	return strings.Join(out, ",")
}

// TestDnsmasq asks a real dnsmasq: A records that change under SIGHUP,
// failover past a dead server, SRV with priority and weight, and an error
// when no server answers.
func TestDnsmasq(t *testing.T) {
	d := testenv.StartDnsmasq(t, "127.0.0.2 api.service.test\n127.0.0.3 b.service.test\n",
		"_http._tcp.api.service.test,api.service.test,8080,10,5",
		"_http._tcp.api.service.test,b.service.test,8081,10,1",
		"_http._tcp.api.service.test,nowhere.service.test,9999,1,1")
	dead := testenv.FreeAddr(t)
	p, err := New(Config{Servers: []string{dead, d.Addr()}, Timeout: 3e8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	q := discovery.Query{Name: "api.service.test", Port: 8080}
	s, err := p.Resolve(ctx, q)
	if err != nil || addrs(s) != "127.0.0.2:8080" {
		t.Fatalf("got %q, %v", addrs(s), err)
	}
	d.SetHosts("127.0.0.2 api.service.test\n127.0.0.4 api.service.test\n127.0.0.3 b.service.test\n")
	if s, _ = p.Resolve(ctx, q); addrs(s) != "127.0.0.2:8080,127.0.0.4:8080" {
		t.Fatalf("after scale up got %q", addrs(s))
	}
	s, err = p.Resolve(ctx, discovery.Query{SRV: "_http._tcp.api.service.test"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range s.Instances {
		got = append(got, in.Address+"/"+string(rune('0'+in.Weight)))
	}
	// priority 1's target has no address: priority 10 serves, weights kept
	if strings.Join(got, ",") != "127.0.0.2:8080/5,127.0.0.4:8080/5,127.0.0.3:8081/1" &&
		strings.Join(got, ",") != "127.0.0.2:8080/5,127.0.0.3:8081/1,127.0.0.4:8080/5" {
		t.Fatalf("srv got %v", got)
	}
	d.SetHosts("")
	if s, err = p.Resolve(ctx, q); err != nil || len(s.Instances) != 0 {
		t.Fatalf("deregistered: got %q, %v", addrs(s), err)
	}
	d.Kill()
	if _, err = p.Resolve(ctx, q); err == nil || !strings.Contains(err.Error(), d.Addr()) {
		t.Fatalf("with no server up: %v", err)
	}
}
