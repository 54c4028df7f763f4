package compression

import (
	"strings"
	"testing"
)

func TestParseQ(t *testing.T) {
	for in, want := range map[string]int{"1": 1000, "0": 0, "0.5": 500, "0.123": 123, "1.000": 1000, "1.": 1000,
		"1.1": -1, "2": -1, "0.1234": -1, "": -1, "x": -1, "0.a": -1} {
		if got := parseQ([]byte(in)); got != want {
			t.Errorf("parseQ(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8, *;q=0.1", "*;q=0", "identity;q=0",
		"gzip;q=0.5;level=3", ";;,,", "zstd;q=1.001", "x-gzip; Q=0.2"} {
		f.Add(s)
	}
	prefs := []coding{zstdC, brotliC, gzipC}
	f.Fuzz(func(t *testing.T, h string) {
		c := negotiate([]byte(h), prefs)
		if c >= numCodings {
			t.Fatalf("coding %d out of range", c)
		}
		// A coding is chosen only if the client named it or "*".
		if c != identity && !containsFold([]byte(h), names[c]) && !strings.Contains(h, "*") {
			t.Fatalf("%q: chose %s, which it does not name", h, names[c])
		}
		if negotiate([]byte(h), prefs) != c {
			t.Fatal("not deterministic")
		}
	})
}
