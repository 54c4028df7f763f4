package annotations

import (
	"strings"
	"testing"
)

// FuzzParse feeds one value to every annotation at once: nothing panics,
// every annotation gets exactly one note, and every error names an
// annotation.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"true", "10", "5s", "8m", "$http_x", "10.0.0.0/8", "https://x.example/a", "GRPCS", "cookie", "basic", "ns/name", "404,503", "error http_502", "x-pylon-tag", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ann := map[string]string{}
		for _, s := range Table() {
			ann[NginxPrefix+s.Name] = v
		}
		ann[NginxPrefix+"server-snippet"] = v
		_, notes, err := Parse(ann)
		if len(notes) != len(ann) {
			t.Fatalf("%d notes for %d annotations", len(notes), len(ann))
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "annotation ") {
					t.Fatalf("error line without its annotation: %q", line)
				}
			}
		}
	})
}
