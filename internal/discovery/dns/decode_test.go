package dns

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
)

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAddressesTTLAndCNAME(t *testing.T) {
	m := new(dns.Msg)
	m.Answer = []dns.RR{
		rr(t, "api.test. 60 IN CNAME real.test."),
		rr(t, "real.test. 5 IN A 127.0.0.2"),
		rr(t, "real.test. 30 IN A 127.0.0.3"),
		rr(t, "other.test. 1 IN A 127.0.0.9"), // not asked for
	}
	a := addresses(m, "api.test", 8080)
	var got []string
	for _, in := range a.set.Instances {
		got = append(got, in.Address)
	}
	if strings.Join(got, ",") != "127.0.0.2:8080,127.0.0.3:8080" || a.ttl != 5*time.Second {
		t.Fatalf("got %v ttl %s", got, a.ttl)
	}
	c := Config{MinTTL: 10e9, MaxTTL: 20e9}
	if c.clamp(a.ttl) != 10*time.Second || c.clamp(time.Hour) != 20*time.Second || (Config{}).clamp(0) != time.Second {
		t.Fatal("clamp does not keep TTLs within minTTL-maxTTL")
	}
}

func TestAddressesBounded(t *testing.T) {
	m := new(dns.Msg)
	for i := range 10000 {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "big.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))})
	}
	a := addresses(m, "big.test", 80)
	if len(a.set.Instances) != discovery.MaxInstances || a.cut != 10000-discovery.MaxInstances {
		t.Fatalf("kept %d cut %d", len(a.set.Instances), a.cut)
	}
}

func TestSRVPriorityFallbackAndWeight(t *testing.T) {
	m := new(dns.Msg)
	m.Answer = []dns.RR{
		rr(t, "_http._tcp.api.test. 10 IN SRV 10 0 8080 a.test."),
		rr(t, "_http._tcp.api.test. 10 IN SRV 10 5 8081 b.test."),
		rr(t, "_http._tcp.api.test. 10 IN SRV 1 1 9000 gone.test."), // no address: priority 1 falls back
		rr(t, "_http._tcp.api.test. 10 IN SRV 20 1 9090 c.test."),
	}
	m.Extra = []dns.RR{rr(t, "a.test. 10 IN A 127.0.0.2"), rr(t, "b.test. 10 IN A 127.0.0.3"), rr(t, "c.test. 10 IN A 127.0.0.4")}
	recs := srvRecords(m, "_http._tcp.api.test")
	a := srvSet(recs, 10*time.Second, func(target string) []net.IP { return glue(m, target) })
	var got []string
	for _, in := range a.set.Instances {
		got = append(got, fmt.Sprintf("%s/%d", in.Address, in.Weight))
	}
	if strings.Join(got, ",") != "127.0.0.2:8080/1,127.0.0.3:8081/5" {
		t.Fatalf("got %v", got)
	}
}

func TestValidateNamesField(t *testing.T) {
	err := Config{Servers: []string{"127.0.0.1:53", "nohost", "127.0.0.1:0"}, MinTTL: 9e9, MaxTTL: 1e9}.Validate("discovery[0].dns")
	for _, want := range []string{"discovery[0].dns.servers[1]", "discovery[0].dns.servers[2]", "discovery[0].dns.minTTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if err := (Config{Servers: []string{"[::1]:5353"}}).Validate("d"); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode feeds raw DNS messages through the conversion to a set: it
// must never panic, never exceed MaxInstances, and only yield host:port
// addresses of real IPs.
func FuzzDecode(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("api.test.", dns.TypeA)
	m.Answer = []dns.RR{rr(f, "api.test. 5 IN A 127.0.0.2"), rr(f, "_s._tcp.api.test. 5 IN SRV 0 1 80 api.test.")}
	m.Extra = []dns.RR{rr(f, "api.test. 5 IN AAAA ::1")}
	b, _ := m.Pack()
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		sets := []answer{addresses(m, "api.test", 80)}
		sets = append(sets, srvSet(srvRecords(m, "_s._tcp.api.test"), 0, func(tg string) []net.IP { return glue(m, tg) }))
		for _, a := range sets {
			discoverytest.CheckSet(t, a.set)
			for _, in := range a.set.Instances {
				if host, _, _ := net.SplitHostPort(in.Address); net.ParseIP(host) == nil {
					t.Fatalf("bad instance %+v", in)
				}
			}
		}
	})
}
