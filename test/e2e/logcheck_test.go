package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/test/testenv"
)

// checkLogAtStop stops the pylon process p when the test ends and fails the
// test if p printed anything but JSON log records: each line on stdout and
// stderr must be one JSON object that repeats no key (see
// testenv.JSONLogProblems), because that is what log pipelines read.
//
// One exception is deliberate: when `pylon run` ends on an error, its last
// line is the command line's message for the person at the terminal,
// "pylon: <error>", as for every other command. It is accepted as the last
// line of a process that exited with an error, and nowhere else. (A
// generated admin key is shown on the terminal itself, never on stdout or
// stderr, so it is no exception.)
func checkLogAtStop(t *testing.T, p *testenv.Process) {
	t.Helper()
	t.Cleanup(func() {
		exitErr := p.Stop()
		log := p.Log()
		if strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race (%s):\n%s", filepath.Base(p.Name), p.LogPath, log)
			return
		}
		problems := testenv.JSONLogProblems(log)
		if n := len(problems); n > 0 && exitErr != nil {
			last := problems[n-1]
			if last.Line == strings.Count(strings.TrimSuffix(log, "\n"), "\n")+1 && strings.HasPrefix(last.Text, "pylon: ") {
				problems = problems[:n-1]
			}
		}
		if len(problems) == 0 {
			return
		}
		var b strings.Builder
		for i, pr := range problems {
			if i == 10 {
				fmt.Fprintf(&b, "... and %d more\n", len(problems)-i)
				break
			}
			fmt.Fprintf(&b, "%v\n", pr)
		}
		t.Errorf("%s printed %d line(s) that are not clean JSON log records (%s):\n%s", filepath.Base(p.Name), len(problems), p.LogPath, b.String())
	})
}
