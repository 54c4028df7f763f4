package all

import (
	"io/fs"
	"strings"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins"
)

// Every plugin's config schema takes its field descriptions from the
// plugin's README, once all of them have registered (the imports' init
// functions run before this package's). A README that falls behind its
// config leaves fields undescribed rather than stopping the binary;
// TestSchemasDescribeEveryField catches it.
func init() { documentAll() }

// documentAll describes every registered plugin's fields from its README
// and returns what did not fit.
func documentAll() []string {
	var problems []string
	for _, d := range plugin.All() {
		readme, err := fs.ReadFile(plugins.READMEs, strings.ReplaceAll(d.Name, "-", "")+"/README.md")
		if err != nil {
			problems = append(problems, d.Name+": no README")
			continue
		}
		problems = append(problems, plugin.Document(d.Name, readme)...)
	}
	return problems
}
