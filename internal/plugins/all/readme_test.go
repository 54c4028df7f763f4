package all_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pylon.io/pylon/internal/app"
	"pylon.io/pylon/internal/plugin"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every plugin's README (and docs/plugins.md) documents it with examples
// that work as written:
// each YAML example is a whole config that `pylon validate` accepts, and
// each plugin has at least one example attaching it.
func TestREADMEExamplesValidate(t *testing.T) {
	readmes, err := filepath.Glob("../*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	readmes = append(readmes, "../../../docs/plugins.md")
	attached := map[string]bool{}
	for _, path := range readmes {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllSubmatch(data, -1) {
			example := m[1]
			for _, d := range plugin.All() {
				if bytes.Contains(example, []byte("name: "+d.Name+"\n")) || bytes.Contains(example, []byte("name: "+d.Name+",")) ||
					bytes.Contains(example, []byte("{name: "+d.Name)) {
					attached[d.Name] = true
				}
			}
			file := filepath.Join(t.TempDir(), "example.yaml")
			if err := os.WriteFile(file, example, 0o600); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if n := app.Validate(file, &out); n > 0 {
				t.Errorf("%s example %d does not validate:\n%s\n%s", path, i+1, out.String(), example)
			}
		}
	}
	for _, d := range plugin.All() {
		if !attached[d.Name] {
			t.Errorf("plugin %s: no README example attaches it", d.Name)
		}
	}
}
