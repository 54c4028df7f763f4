#!/usr/bin/env bash
# mirror.sh: the latency a mirror adds to the requests it copies, when its
# target never answers in time (it holds every copy for 10 s; queue 50, 2
# workers). Runs test/e2e's TestMirror with PYLON_MIRROR_LATENCY=1: requests
# to a route with the mirror and to one without are interleaved, pooled over
# rounds of 3,000 pairs, and the p99 with the mirror must come within 5% of
# the p99 without (at most 8 rounds or 30 s). Prints a markdown report.
#
# Usage: bench/mirror.sh
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

load_tools ""
out="$WORK/mirror.txt"
status=0
(cd "$REPO" && PYLON_MIRROR_LATENCY=1 go test -count=1 -run '^TestMirror$' -v ./test/e2e/) >"$out" 2>&1 || status=$?

echo "## Mirror latency: p99 with a mirror whose target never answers"
echo
echo "Command: \`bench/mirror.sh\` (TestMirror with PYLON_MIRROR_LATENCY=1; pylon as the suite builds it)."
echo
REPORT_LAYOUT="pylon, its backends and the client unpinned; 127.0.0.1 only"
machine_report
echo
echo '```'
grep -E 'requests each|p99 with the mirror|--- (PASS|FAIL)' "$out" | sed 's/^ *//'
echo '```'
[ "$status" = 0 ] || { cat "$out" >&2; die "TestMirror failed (exit $status)"; }
