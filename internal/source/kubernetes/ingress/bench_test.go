package ingress

import (
	"testing"
)

// BenchmarkTranslate measures one Ingress of the common shape (one host,
// one Prefix path, one TLS section) and one with a handful of annotations:
// at 100,000 Ingresses a controller start translates every one.
func BenchmarkTranslate(b *testing.B) {
	for _, name := range []string{"tls", "nginx-plugins"} {
		b.Run(name, func(b *testing.B) {
			ing, l := readInput(b, "testdata/"+name+".in.yaml")
			b.ReportAllocs()
			for b.Loop() {
				if res := Translate(ing, l, Options{}); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}
