#!/usr/bin/env bash
# Plugins: whole-proxy throughput with a typical plugin chain (rate limit +
# headers + compression, bench/peers/pylon-plugins.yaml) against Pylon
# without plugins, pinned like S1 (proxy on one core, GOMAXPROCS=1).
#
# Usage: bench/plugins.sh
#
# Rows: 0-byte and 1 KB bodies without Accept-Encoding (the chain runs, the
# compressor declines), and the 1 KB body with Accept-Encoding: gzip (the
# chain compresses every response). Prints a markdown report on stdout.
#
# Environment: DURATION (10s), CONNS (64), WARMUP (2s), RUNS (5, alternating; median).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-5}
load_tools ""

ROWS=() # "peer|case|rps"

# The machine's speed drifts from one minute to the next, so both configs run
# at once (each pinned to the proxy CPU, only one under load at a time) and
# their runs alternate: drift then hits both alike.
start_backend
declare -A PORT
for peer in pylon pylon-plugins; do
	start_peer "$peer"
	PORT[$peer]=$PROXY_PORT
done
got=$("$CURL" -s -o /dev/null -H "Host: $HOST_HEADER" -H 'Accept-Encoding: gzip' -w '%{size_download}' "http://127.0.0.1:${PORT[pylon-plugins]}/1k")
[ "$got" -lt 1024 ] || die "the chain did not compress /1k ($got bytes)"

# measure CASE PATH [WRK-ARGS...]
measure() {
	local label=$1 path=$2 peer rps
	shift 2
	declare -A runs=()
	for peer in pylon pylon-plugins; do
		log "$peer, $label: warmup $WARMUP"
		run_wrk "$WORK/warmup.txt" "http://127.0.0.1:${PORT[$peer]}$path" -t1 -c"$CONNS" -d"$WARMUP" "$@"
	done
	for _ in $(seq "$RUNS"); do
		for peer in pylon pylon-plugins; do
			run_wrk "$WORK/wrk.txt" "http://127.0.0.1:${PORT[$peer]}$path" -t1 -c"$CONNS" -d"$DURATION" "$@"
			runs[$peer]+="$(wrk_rps "$WORK/wrk.txt") "
		done
	done
	for peer in pylon pylon-plugins; do
		# shellcheck disable=SC2086 # the runs are space-separated numbers
		rps=$(median ${runs[$peer]})
		log "  $peer, $label: $rps rps (runs: ${runs[$peer]})"
		ROWS+=("$peer|$label|$rps")
	done
}

measure "0 B" /0
measure "1 KB" /1k
measure "1 KB, gzip accepted" /1k -H 'Accept-Encoding: gzip'

base() { local r; for r in "${ROWS[@]}"; do IFS='|' read -r p c v <<<"$r"; [ "$p|$c" != "pylon|$1" ] || echo "$v"; done; }

echo "## Plugins: throughput with a typical chain, one core"
echo
echo "Command: \`bench/plugins.sh\` (DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP RUNS=$RUNS);"
echo "load: \`wrk -t1 -c$CONNS -d$DURATION -H 'Host: $HOST_HEADER'\` on CPU $LOAD_CPU. Chain: \`bench/peers/pylon-plugins.yaml\`"
echo "(rate-limit keyed by client address, headers on request and response, global compression)."
echo
machine_report
echo
echo "| config | case | requests/s | vs no plugins |"
echo "|---|---|---:|---:|"
for row in "${ROWS[@]}"; do
	IFS='|' read -r peer label rps <<<"$row"
	b=$(base "$label")
	echo "| $peer | $label | $rps | $(awk -v a="$rps" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
done
