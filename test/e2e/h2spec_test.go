package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/testenv"
)

// knownH2SpecFailures are h2spec cases that fail against Pylon for a known
// reason, each reported in the log on every run. There are none: the
// listeners' HTTP/2 guard mends what Go's HTTP/2 server answers against the
// RFC (repeated SETTINGS, malformed request headers), and an h2c listener
// ends a connection that is neither an HTTP/2 preface nor an HTTP/1.x
// request as a failed preface. Add an entry only with its reason.
var knownH2SpecFailures = map[string]string{}

var h2specFailure = regexp.MustCompile(`(?m)^\s*× \d+: (.*)$`)

// TestH2Spec runs h2spec's HTTP/2 conformance suite against the TLS
// listener and the h2c listener.
func TestH2Spec(t *testing.T) {
	t.Parallel()
	h2spec := testenv.Tool(t, "h2spec")
	env := startTLSEnv(t)
	for name, args := range map[string][]string{
		"tls": {"-h", "127.0.0.1", "-p", port(env.https), "-t", "-k", "-o", "5"},
		"h2c": {"-h", "127.0.0.1", "-p", port(env.h2c), "-o", "5"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, h2spec, args...).CombinedOutput()
			s := string(out)
			total := regexp.MustCompile(`\d+ tests, \d+ passed, \d+ skipped, \d+ failed`).FindString(s)
			if total == "" {
				t.Fatalf("h2spec %s: %v; no summary:\n%s", strings.Join(args, " "), err, s)
			}
			summary := s
			if i := strings.LastIndex(s, "Failures:"); i >= 0 {
				summary = s[i:]
			}
			var unexpected []string
			for _, m := range h2specFailure.FindAllStringSubmatch(summary, -1) {
				if why, ok := knownH2SpecFailures[m[1]]; ok {
					t.Logf("KNOWN h2spec failure: %s (%s)", m[1], why)
					continue
				}
				unexpected = append(unexpected, m[1])
			}
			if len(unexpected) > 0 {
				t.Fatalf("h2spec %s: %s; unexpected failures %q\n%s", strings.Join(args, " "), total, unexpected, summary)
			}
			t.Logf("h2spec %s: %s", name, total)
		})
	}
}
