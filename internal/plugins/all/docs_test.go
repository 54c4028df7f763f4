package all

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
)

// Each plugin's README table and its config agree: every field a user can
// set has a row (which becomes its schema description) and every row names
// a real field.
func TestSchemasDescribeEveryField(t *testing.T) {
	if problems := documentAll(); len(problems) > 0 {
		t.Fatalf("READMEs and configs disagree:\n%s", strings.Join(problems, "\n"))
	}
	for _, d := range plugin.All() {
		for _, f := range plugin.Fields(d.Schema) {
			if f.Description == "" {
				t.Errorf("%s: %s has no description", d.Name, f.Path)
			}
		}
	}
}

// The schema's defaults are the config's own: what Default fills, as the
// config would be decoded.
func TestSchemaDefaults(t *testing.T) {
	for _, tc := range []struct{ plugin, field, want string }{
		{"mirror", "timeout", "5s"},
		{"mirror", "queueSize", "1000"},
		{"mirror", "markHeader", "X-Pylon-Mirror"},
		{"mirror", "service", ""},
	} {
		d, _ := plugin.Lookup(tc.plugin)
		var got *plugin.Field
		for _, f := range plugin.Fields(d.Schema) {
			if f.Path == tc.field {
				got = &f
			}
		}
		if got == nil || got.Default != tc.want {
			t.Errorf("%s %s: default %+v, want %q", tc.plugin, tc.field, got, tc.want)
		}
	}
}
