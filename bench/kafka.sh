#!/usr/bin/env bash
# kafka.sh: requests while the Kafka access log sink's broker is down for
# 30 s. Runs test/e2e's TestKafkaBrokerDown with PYLON_KAFKA_LATENCY=1:
# requests to a route whose lines go to the dead broker and to one that
# writes no line are interleaved, and the p99 of the first must come within
# 5% of the second's; drops are counted, RSS stays bounded, and the queued
# lines reach the broker once it is up (franz-go's kfake). Prints a
# markdown report.
#
# Usage: bench/kafka.sh
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

load_tools ""
out="$WORK/kafka.txt"
status=0
(cd "$REPO" && PYLON_KAFKA_LATENCY=1 go test -count=1 -run '^TestKafkaBrokerDown$' -v ./test/e2e/) >"$out" 2>&1 || status=$?

echo "## Kafka sink: requests with the broker down for 30 s"
echo
echo "Command: \`bench/kafka.sh\` (TestKafkaBrokerDown with PYLON_KAFKA_LATENCY=1; pylon built without -race)."
echo
REPORT_LAYOUT="pylon, its backend, the client and kfake unpinned; 127.0.0.1 only"
machine_report
echo
echo '```'
grep -E 'broker down 30 s|--- (PASS|FAIL)' "$out" | sed 's/^ *//'
echo '```'
[ "$status" = 0 ] || { cat "$out" >&2; die "TestKafkaBrokerDown failed (exit $status)"; }
