package circuitbreaker

import "testing"

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"5xx", "502", "4XX", "", "6xx", "99", "1000", "-50"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseStatus(s)
		if err != nil {
			return
		}
		n := 0
		for c := range 1024 {
			if set.has(c) {
				n++
				if c < 100 || c > 599 {
					t.Fatalf("%q admits %d", s, c)
				}
			}
		}
		if n != 1 && n != 100 {
			t.Fatalf("%q stands for %d codes", s, n)
		}
	})
}
