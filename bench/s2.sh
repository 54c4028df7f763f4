#!/usr/bin/env bash
# S2: latency a proxy adds, at one connection.
#
# Usage: bench/s2.sh [PEER...]     (default: nginx haproxy caddy pylon fasthttp-min)
#
# wrk -t1 -c1 --latency sends one request at a time for $DURATION, first
# straight to the nginx backend, then through each peer (0-byte body). The
# report gives p50 and p99 and what each peer adds to the direct numbers.
#
# Environment: DURATION (10s), WARMUP (2s), RUNS (1; the median of each
# percentile is reported).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-1}
PEERS=(nginx haproxy caddy pylon fasthttp-min)
[ $# -eq 0 ] || PEERS=("$@")

bench_mode=
for p in "${PEERS[@]}"; do [ "$p" != caddy ] || bench_mode=bench; done
load_tools $bench_mode

ROWS=() # "peer|p50|p99" in microseconds

# measure LABEL PORT
measure() {
	local label=$1 port=$2 p50s=() p99s=()
	local url="http://127.0.0.1:$port/0"
	log "$label: warmup $WARMUP, then ${RUNS}x $DURATION at one connection"
	run_wrk "$WORK/warmup.txt" "$url" -t1 -c1 -d"$WARMUP"
	for _ in $(seq "$RUNS"); do
		run_wrk "$WORK/wrk.txt" "$url" -t1 -c1 -d"$DURATION" --latency
		p50s+=("$(wrk_percentile "$WORK/wrk.txt" 50)")
		p99s+=("$(wrk_percentile "$WORK/wrk.txt" 99)")
	done
	ROWS+=("$label|$(median "${p50s[@]}")|$(median "${p99s[@]}")")
	log "  p50 ${p50s[*]} us, p99 ${p99s[*]} us"
}

start_backend
measure direct "$BACKEND_PORT"
for peer in "${PEERS[@]}"; do
	rc=0
	start_peer "$peer" || rc=$?
	[ $rc = 0 ] || { [ $rc = 2 ] && continue; exit $rc; }
	measure "$peer" "$PROXY_PORT"
	stop "$PEER_PID"
done

IFS='|' read -r _ d50 d99 <<<"${ROWS[0]}"
echo "## S2: latency added at one connection"
echo
echo "Command: \`bench/s2.sh ${PEERS[*]}\` (DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS);"
echo "load: \`wrk -t1 -c1 -d$DURATION --latency -H 'Host: $HOST_HEADER'\` on CPU $LOAD_CPU, 0-byte body."
echo
machine_report
echo
echo "| path | p50 (µs) | p99 (µs) | added p50 (µs) | added p99 (µs) |"
echo "|---|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
	IFS='|' read -r peer p50 p99 <<<"$row"
	if [ "$peer" = direct ]; then
		echo "| direct (no proxy) | $p50 | $p99 | — | — |"
	else
		echo "| $peer | $p50 | $p99 | $((p50 - d50)) | $((p99 - d99)) |"
	fi
done
