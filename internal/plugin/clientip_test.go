package plugin_test

import (
	"net/netip"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func TestClientAddr(t *testing.T) {
	trusted, err := plugin.ParsePrefixes("trustedProxies", []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		header     string
		want       string
	}{
		{"untrusted peer ignores the header", "203.0.113.9", []string{"1.1.1.1"}, "", "203.0.113.9"},
		{"trusted peer, one hop", "10.0.0.1", []string{"198.51.100.7"}, "", "198.51.100.7"},
		{"rightmost untrusted", "10.0.0.1", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, "", "198.51.100.7"},
		{"spoofed entries left of the client are ignored", "10.0.0.1", []string{"1.2.3.4", "198.51.100.7"}, "", "198.51.100.7"},
		{"several lines read as one list", "10.0.0.1", []string{"198.51.100.7", "10.2.2.2"}, "", "198.51.100.7"},
		{"all trusted: leftmost", "10.0.0.1", []string{"10.9.9.9, 192.0.2.1"}, "", "10.9.9.9"},
		{"no header: the peer", "10.0.0.1", nil, "", "10.0.0.1"},
		{"garbage stops the walk", "10.0.0.1", []string{"198.51.100.7, unknown, 10.3.3.3"}, "", "10.3.3.3"},
		{"ports and brackets", "10.0.0.1", []string{"[2001:db8::1]:443"}, "", "2001:db8::1"},
		{"IPv4 with port", "10.0.0.1", []string{"198.51.100.7:5555"}, "", "198.51.100.7"},
		{"IPv4-mapped IPv6", "::ffff:10.0.0.1", []string{"::ffff:198.51.100.7"}, "", "198.51.100.7"},
		{"IPv6 proxy", "fd00::1", []string{"2001:db8::7, fd00::2"}, "", "2001:db8::7"},
		{"custom header", "10.0.0.1", []string{"198.51.100.7"}, "X-Real-IP", "198.51.100.7"},
		{"empty entries skipped", "10.0.0.1", []string{" , 198.51.100.7 ,, "}, "", "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			c.ClientIPV = tc.peer
			h := tc.header
			if h == "" {
				h = "X-Forwarded-For"
			}
			for _, v := range tc.xff {
				c.ReqHeader.Add(h, v)
			}
			got := plugin.ClientAddr(c, trusted, tc.header)
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// Only the last lines of a header repeated many times are read: the
// client is found among them, and older lines cannot push it out.
func TestClientAddrManyLines(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	c := plugintest.New()
	c.ClientIPV = "10.0.0.1"
	for range 20 {
		c.ReqHeader.Add("X-Forwarded-For", "6.6.6.6")
	}
	c.ReqHeader.Add("X-Forwarded-For", "198.51.100.7")
	for range 5 {
		c.ReqHeader.Add("X-Forwarded-For", "10.0.0.9")
	}
	if got := plugin.ClientAddr(c, trusted, ""); got != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("got %v", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := plugin.ParsePrefixes("allow", []string{"10.1.2.3/8", "::ffff:192.0.2.0/120", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::1/128"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("%d: %v, want %s", i, p, want[i])
		}
	}
	_, err = plugin.ParsePrefixes("allow", []string{"10.0.0.0/8", "10.0.0.0/33", "nope", "fe80::1%eth0"})
	if err == nil || err.Error() != `allow[1]: must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "10.0.0.0/33"`+"\n"+
		`allow[2]: must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "nope"`+"\n"+
		`allow[3]: must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "fe80::1%eth0"` {
		t.Fatalf("error %v", err)
	}
}

// FuzzClientAddr feeds arbitrary X-Forwarded-For values: the result is the
// peer or an address from the header, never a panic.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "1.2.3.4, 10.0.0.2", "[::1]:80, unknown", ",,, ", "::ffff:1.2.3.4%x", "1.2.3.4:99999"} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string) {
		c := plugintest.New()
		c.ClientIPV = "10.0.0.1"
		c.ReqHeader.Set("X-Forwarded-For", xff)
		a := plugin.ClientAddr(c, trusted, "")
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("%q: got %v", xff, a)
		}
		// A value that is one address (a comma may hide in an IPv6 zone,
		// which splits it as a list) from an untrusted client is that client.
		if b, ok := plugin.ParseAddr([]byte(xff)); ok && !strings.Contains(xff, ",") && !contains(trusted, b) && a != b {
			t.Fatalf("%q: a single untrusted address gives %v", xff, a)
		}
	})
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func BenchmarkClientAddr(b *testing.B) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	c := plugintest.New()
	c.ClientIPV = "10.0.0.1"
	c.ReqHeader.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1")
	b.ReportAllocs()
	for b.Loop() {
		plugin.ClientAddr(c, trusted, "")
	}
}
