package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func runPlugins(t *testing.T, args ...string) string {
	t.Helper()
	cmd := pluginsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("pylon plugins %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// `pylon plugins NAME` says what each config field means: its type, its
// default and its description, nested fields by their path.
func TestPluginsDescribesFields(t *testing.T) {
	for _, tc := range []struct {
		plugin string
		rows   []string // field, type, default, the start of the meaning
	}{
		{"mirror", []string{
			"service", "string", "required", "the service that receives the copies",
			"timeout", "duration", "5s", "bound on one copy's exchange with the target",
			"queueSize", "integer", "1000", "copies waiting for a worker",
			"oversizedBody", "string", "skip", "a larger body: no copy",
		}},
		{"headers", []string{
			"request.set", `list of \{name, value\}`, "-", "replaces every value of the header",
			"response.remove", "list of string", "-", "removes the response headers with these names",
		}},
		{"rate-limit", []string{
			"rate", "integer", "required", "requests per period per key",
			"period", "duration", "1s", "the time rate is counted over",
			"redis.addresses", "list of string", "required in redis mode", "Redis servers",
		}},
		{"traffic-split", []string{
			"rules[].service", "string", "required", "the service matching requests go to",
		}},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			out := runPlugins(t, tc.plugin)
			if !regexp.MustCompile(`(?m)^  FIELD +TYPE +DEFAULT +MEANING$`).MatchString(out) {
				t.Errorf("no field table header:\n%s", out)
			}
			for i := 0; i < len(tc.rows); i += 4 {
				row := `(?m)^  ` + regexp.QuoteMeta(tc.rows[i]) + ` +` + tc.rows[i+1] + ` +` + regexp.QuoteMeta(tc.rows[i+2]) +
					` +` + regexp.QuoteMeta(tc.rows[i+3])
				if !regexp.MustCompile(row).MatchString(out) {
					t.Errorf("no row for %s (%s):\n%s", tc.rows[i], row, out)
				}
			}
		})
	}
}

// -o json carries the same descriptions and defaults in the schema.
func TestPluginsJSONSchemaDescribed(t *testing.T) {
	var got struct {
		Schema struct {
			Properties map[string]struct {
				Description string `json:"description"`
				Default     any    `json:"default"`
			} `json:"properties"`
		} `json:"schema"`
	}
	out := runPlugins(t, "mirror", "-o", "json")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	workers := got.Schema.Properties["workers"]
	if workers.Default != float64(8) || !strings.HasPrefix(workers.Description, "copies in flight at once") {
		t.Fatalf("workers: %+v", workers)
	}
}
