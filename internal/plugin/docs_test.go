package plugin

import (
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
)

type docsConfig struct {
	Service string      `json:"service"`
	Timeout ir.Duration `json:"timeout,omitempty"`
	Mode    string      `json:"mode,omitempty"`
	Prefix  *struct {
		Match       string `json:"match"`
		Replacement string `json:"replacement"`
	} `json:"prefix,omitempty"`
	Rules []struct {
		Service string `json:"service"`
		Header  *struct {
			Name  string `json:"name"`
			Exact string `json:"exact,omitempty"`
		} `json:"header,omitempty"`
	} `json:"rules,omitempty"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers,omitempty"`
	Extra string `json:"extra,omitempty"`
}

func (c *docsConfig) Default() { c.Timeout = ir.Duration(24 * time.Hour) }

type docsPlugin struct{}

func (docsPlugin) Request(Ctx, *Slot) Action { return Continue }

func init() {
	RegisterTesting("docs-test", func(*docsConfig, *Env) (*docsPlugin, error) { return &docsPlugin{}, nil })
}

const docsREADME = "# docs-test\n\n" +
	"| field | type | default | meaning |\n" +
	"|---|---|---|---|\n" +
	"| `service` | string | required | the service that gets the requests |\n" +
	"| `timeout` | duration | `24h` | how long one try may take |\n" +
	"| `mode` | `fast` \\| `slow` | the request's | how to go |\n" +
	"| `prefix.match`, `prefix.replacement` | string | required with `prefix` | a leading part of the path, and its replacement |\n" +
	"| `rules[].service` | string | required | where a matching request goes |\n" +
	"| `rules[].header` | `{name, exact?}` | none | the header to match |\n" +
	"| `headers` | list of `{name, value}` | none | headers added |\n" +
	"| `gone` | string | none | a field that no longer exists |\n" +
	"\nAfter the table.\n"

// A README's field table becomes the schema's descriptions, the config's
// Default its defaults, and what does not fit is reported.
func TestDocument(t *testing.T) {
	problems := Document("docs-test", []byte(docsREADME))
	if got := strings.Join(problems, "\n"); !strings.Contains(got, `README row "gone" names no config field`) ||
		!strings.Contains(got, "config field extra has no row") || len(problems) != 2 {
		t.Errorf("problems:\n%s", got)
	}
	d, _ := Lookup("docs-test")
	fields := map[string]Field{}
	var order []string
	for _, f := range Fields(d.Schema) {
		fields[f.Path] = f
		order = append(order, f.Path)
	}
	if got := strings.Join(order, " "); got != "extra headers mode prefix.match prefix.replacement rules[].header rules[].service service timeout" {
		t.Errorf("fields listed: %s", got)
	}
	for _, want := range []Field{
		{Path: "service", Type: "string", Required: true, Description: "the service that gets the requests"},
		{Path: "timeout", Type: "duration", Default: "24h", Description: "how long one try may take"},
		{Path: "mode", Type: "string", Default: "the request's", Description: "how to go"},
		{Path: "prefix.replacement", Type: "string", Default: "required with prefix", Required: true, Description: "a leading part of the path, and its replacement"},
		{Path: "rules[].service", Type: "string", Required: true, Description: "where a matching request goes"},
		{Path: "rules[].header", Type: "{name, exact?}", Description: "the header to match"},
		{Path: "headers", Type: "list of {name, value}", Description: "headers added"},
	} {
		if got := fields[want.Path]; got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", want.Path, got, want)
		}
	}
}
