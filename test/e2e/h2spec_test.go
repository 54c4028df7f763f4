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
// reason outside this test; each is reported in the log on every run. All but
// the last fail identically against a bare Go 1.26 net/http HTTP/2 server
// (httptest with EnableHTTP2), whose HTTP/2 implementation Pylon's listeners
// use. Remove an entry when the cause is fixed.
var knownH2SpecFailures = map[string]string{
	"Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE": "Go net/http closes the connection",
	// Go answers these malformed requests with 400 instead of the stream
	// error RFC 9113 8.2.2 asks for; the request is still refused.
	"Sends a HEADERS frame that contains the connection-specific header field":                     "Go net/http answers 400, not RST_STREAM",
	`Sends a HEADERS frame that contains the TE header field with any value other than "trailers"`: "Go net/http answers 400, not RST_STREAM",
	// An h2c listener also serves HTTP/1.1 on the same port, so a connection
	// that does not start with the exact preface is HTTP/1.1 (answered 400).
	"Sends invalid connection preface": "h2c listener: not a preface means HTTP/1.1",
}

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
