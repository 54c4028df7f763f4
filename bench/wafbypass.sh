#!/usr/bin/env bash
# wafbypass.sh: the latency waf-bypass adds with a healthy WAF (a Go HTTP
# server answering 200 on loopback). Runs test/e2e's TestWAFBypassLatency:
# requests to a route with waf-bypass and to one without are interleaved
# (PAIRS pairs, default 20000) and the p50 and p99 of each are printed,
# with the difference. Prints a markdown report.
#
# Usage: [PAIRS=N] bench/wafbypass.sh
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

load_tools ""
out="$WORK/wafbypass.txt"
status=0
(cd "$REPO" && PYLON_WAF_BYPASS_PAIRS="${PAIRS:-20000}" go test -count=1 -run '^TestWAFBypassLatency$' -v ./test/e2e/) >"$out" 2>&1 || status=$?

echo "## waf-bypass: added latency with a healthy WAF"
echo
echo "Command: \`PAIRS=${PAIRS:-20000} bench/wafbypass.sh\` (TestWAFBypassLatency; pylon as the suite builds it, without the race detector)."
echo
REPORT_LAYOUT="pylon, its backend, the WAF and the client unpinned; 127.0.0.1 only"
machine_report
echo
echo '```'
grep -E 'requests each|--- (PASS|FAIL)' "$out" | sed 's/^ *//'
echo '```'
[ "$status" = 0 ] || { cat "$out" >&2; die "TestWAFBypassLatency failed (exit $status)"; }
