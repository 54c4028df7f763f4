package tlsindex

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParse(t *testing.T) {
	c := genCert(t, "cn.example.com", "a.example.com", "*.Wild.example.com")
	cnOnly := genCert(t, "cn.example.com")
	other := genCert(t, "", "other.example.com")
	other.keyPEM = nil
	mismatched := genCert(t, "", "x.example.com")
	for mismatched.keyPEM == nil || string(mismatched.keyPEM) == string(c.keyPEM) {
		mismatched = genCert(t, "", "x.example.com")
	}

	tests := []struct {
		name      string
		in        Cert
		wantNames []string
		wantErr   string
	}{
		{"sans", Cert{Key: "k", CertPEM: c.certPEM, KeyPEM: c.keyPEM}, []string{"a.example.com", "*.wild.example.com"}, ""},
		{"cn fallback", Cert{Key: "k", CertPEM: cnOnly.certPEM, KeyPEM: cnOnly.keyPEM}, []string{"cn.example.com"}, ""},
		{"explicit sni", Cert{Key: "k", CertPEM: c.certPEM, KeyPEM: c.keyPEM, SNI: []string{"B.example.com.", "b.example.com"}}, []string{"b.example.com"}, ""},
		{"empty key", Cert{CertPEM: c.certPEM, KeyPEM: c.keyPEM}, nil, `certificate "": key: must not be empty`},
		{"bad cert", Cert{Key: "file/default/x", CertPEM: []byte("junk"), KeyPEM: c.keyPEM}, nil, `certificate "file/default/x": certPEM: `},
		{"missing key", Cert{Key: "file/default/x", CertPEM: other.certPEM}, nil, `certificate "file/default/x": keyPEM: `},
		{"wrong key", Cert{Key: "file/default/x", CertPEM: c.certPEM, KeyPEM: mismatched.keyPEM}, nil, `certificate "file/default/x": keyPEM: `},
		{"bad wildcard", Cert{Key: "file/default/x", CertPEM: c.certPEM, KeyPEM: c.keyPEM, SNI: []string{"a.*.example.com", "*x.example.com"}}, nil, `certificate "file/default/x": sni: name "a.*.example.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.Names(), tt.wantNames) {
				t.Fatalf("names = %q, want %q", e.Names(), tt.wantNames)
			}
		})
	}
}

func TestHandshake(t *testing.T) {
	exact := genCert(t, "", "www.example.com")
	wild := genCert(t, "", "*.example.com")
	def := genCert(t, "", "default.invalid")
	x := New()
	x.Apply([]*Entry{mustParse(t, "f/d/exact", exact), mustParse(t, "f/d/wild", wild), mustParse(t, "f/d/default", def)}, nil)
	addr := serve(t, x)

	t.Run("exact", func(t *testing.T) { expectServed(t, addr, "www.example.com", exact) })
	t.Run("case-insensitive", func(t *testing.T) { expectServed(t, addr, "WWW.Example.COM", exact) })
	t.Run("wildcard", func(t *testing.T) { expectServed(t, addr, "api.example.com", wild) })
	t.Run("no default yet", func(t *testing.T) {
		expectFailed(t, addr, "a.b.example.com") // a wildcard covers one label only
		expectFailed(t, addr, "example.com")
		expectFailed(t, addr, "unknown.test")
		expectFailed(t, addr, "") // no SNI at all
	})
	x.SetDefault("f/d/default")
	t.Run("default", func(t *testing.T) {
		expectServed(t, addr, "a.b.example.com", def)
		expectServed(t, addr, "unknown.test", def)
		expectServed(t, addr, "", def)
	})
	t.Run("delete", func(t *testing.T) {
		x.Apply(nil, []string{"f/d/exact"})
		expectServed(t, addr, "www.example.com", wild)
		x.Apply(nil, []string{"f/d/wild"})
		expectServed(t, addr, "www.example.com", def)
		x.Apply(nil, []string{"f/d/default"})
		expectFailed(t, addr, "www.example.com")
		if x.Len() != 0 {
			t.Fatalf("Len = %d, want 0", x.Len())
		}
	})
	t.Run("default arrives after SetDefault", func(t *testing.T) {
		x.Apply([]*Entry{mustParse(t, "f/d/default", def)}, nil)
		expectServed(t, addr, "anything.test", def)
	})
}

func TestOverlapPrecedence(t *testing.T) {
	a := genCert(t, "", "shared.example.com")
	b := genCert(t, "", "shared.example.com", "b-only.example.com")
	c := genCert(t, "", "shared.example.com")
	// Whatever the order of arrival, the smallest key wins.
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "b", "a"}, {"b", "c", "a"}} {
		t.Run(strings.Join(order, ""), func(t *testing.T) {
			certs := map[string]testCert{"a": a, "b": b, "c": c}
			x := New()
			for _, k := range order {
				x.Apply([]*Entry{mustParse(t, "ns/"+k, certs[k])}, nil)
			}
			addr := serve(t, x)
			expectServed(t, addr, "shared.example.com", a)
			expectServed(t, addr, "b-only.example.com", b)

			x.Apply(nil, []string{"ns/a"}) // removing the winner reveals the next
			expectServed(t, addr, "shared.example.com", b)
			x.Apply(nil, []string{"ns/c"}) // removing a loser changes nothing
			expectServed(t, addr, "shared.example.com", b)
			x.Apply(nil, []string{"ns/b"})
			expectFailed(t, addr, "shared.example.com")
			if len(x.shadow) != 0 {
				t.Fatalf("shadow table leaked %d names", len(x.shadow))
			}
		})
	}
}

func TestUpsertReplacesNames(t *testing.T) {
	v1 := genCert(t, "", "old.example.com")
	v2 := genCert(t, "", "new.example.com")
	x := New()
	x.Apply([]*Entry{mustParse(t, "k", v1)}, nil)
	x.Apply([]*Entry{mustParse(t, "k", v2)}, nil)
	addr := serve(t, x)
	expectServed(t, addr, "new.example.com", v2)
	expectFailed(t, addr, "old.example.com")
	if x.Len() != 1 {
		t.Fatalf("Len = %d, want 1", x.Len())
	}
}

func TestNamesShareOneParsedCertificate(t *testing.T) {
	c := genCert(t, "", "a.example.com", "b.example.com", "*.c.example.com")
	x := New()
	x.Apply([]*Entry{mustParse(t, "k", c)}, nil)
	var first *tls.Certificate
	for _, n := range []string{"a.example.com", "B.example.com", "x.c.example.com"} {
		got, err := x.GetCertificate(&tls.ClientHelloInfo{ServerName: n})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if got != first {
			t.Fatalf("%s: parsed again instead of sharing", n)
		}
	}
}

// TestGetCertificateDoesNotAllocate guards the hot path: a hit must cost no
// allocation once the certificate has been parsed.
func TestGetCertificateDoesNotAllocate(t *testing.T) {
	c := genCert(t, "", "www.example.com", "*.example.org")
	x := New()
	x.Apply([]*Entry{mustParse(t, "k", c)}, nil)
	x.SetDefault("k")
	for _, n := range []string{"www.example.com", "WWW.EXAMPLE.COM", "api.example.org", "miss.test", "", "a."} {
		hello := &tls.ClientHelloInfo{ServerName: n}
		x.GetCertificate(hello) // parse once
		if a := testing.AllocsPerRun(100, func() { x.GetCertificate(hello) }); a != 0 {
			t.Errorf("GetCertificate(%q): %v allocs per run, want 0", n, a)
		}
	}
	x.SetDefault("")
	miss := &tls.ClientHelloInfo{ServerName: "miss.test"}
	if a := testing.AllocsPerRun(100, func() { x.GetCertificate(miss) }); a != 0 {
		t.Errorf("GetCertificate miss without default: %v allocs per run, want 0", a)
	}
}

// TestConcurrentApply runs readers against a writer; run with -race.
func TestConcurrentApply(t *testing.T) {
	certs := make([]*Entry, 50)
	for i := range certs {
		certs[i] = mustParse(t, fmt.Sprintf("k%02d", i), genCert(t, "", fmt.Sprintf("h%d.example.com", i), "*.example.net"))
	}
	x := New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hello := &tls.ClientHelloInfo{}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				hello.ServerName = fmt.Sprintf("h%d.example.com", i%len(certs))
				x.GetCertificate(hello)
				hello.ServerName = "x.example.net"
				x.GetCertificate(hello)
			}
		}()
	}
	for round := 0; round < 200; round++ {
		i := round % len(certs)
		x.Apply([]*Entry{certs[i]}, []string{certs[(i+7)%len(certs)].key})
	}
	close(stop)
	wg.Wait()
	// The wildcard always goes to the smallest live key.
	var live []string
	for k := range x.byKey {
		live = append(live, k)
	}
	slices.Sort(live)
	got, _ := x.GetCertificate(&tls.ClientHelloInfo{ServerName: "x.example.net"})
	want, _ := x.byKey[live[0]].certificate()
	if got != want {
		t.Fatalf("wildcard served by the wrong certificate after concurrent updates")
	}
}
