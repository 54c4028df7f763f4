// Package docs checks the user documentation as a reader follows it.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	tableRule = regexp.MustCompile(`^\|\s*:?-{3,}`)
	pointer   = regexp.MustCompile(`(?i)\btables? (below|above)\b`)
)

// A sentence that sends the reader to "the table below" (or above) has a
// table there: a Markdown table's header rule after (or before) it in the
// same file.
func TestTablePointersPointAtTables(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		var rules []int
		for i, l := range lines {
			if tableRule.MatchString(strings.TrimSpace(l)) {
				rules = append(rules, i)
			}
		}
		for i, l := range lines {
			for _, m := range pointer.FindAllStringSubmatch(l, -1) {
				found := false
				for _, r := range rules {
					if (strings.EqualFold(m[1], "below") && r > i) || (strings.EqualFold(m[1], "above") && r < i) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s:%d says %q, but there is no table %s it", filepath.Base(path), i+1, m[0], strings.ToLower(m[1]))
				}
			}
		}
	}
}
