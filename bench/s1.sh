#!/usr/bin/env bash
# S1: throughput of a proxy pinned to one core.
#
# Usage: bench/s1.sh [PEER...]     (default: nginx haproxy caddy pylon fasthttp-min)
#
# For each peer, wrk (-t1 -c$CONNS) drives $DURATION of keep-alive GETs for
# a 0-byte and a 1 KB body through the peer to an nginx backend. Pylon also
# runs with $MANY_ROUTES extra routes on other hosts. A row "direct" shows
# wrk against the backend with no proxy. Prints a markdown report on stdout.
#
# Environment: DURATION (10s), CONNS (64), WARMUP (2s), RUNS (1; the median
# is reported), MANY_ROUTES (10000).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-1}
MANY_ROUTES=${MANY_ROUTES:-10000}
PEERS=(nginx haproxy caddy pylon fasthttp-min)
[ $# -eq 0 ] || PEERS=("$@")

bench_mode=
for p in "${PEERS[@]}"; do [ "$p" != caddy ] || bench_mode=bench; done
load_tools $bench_mode

ROWS=()      # "peer|body|routes|rps"
NGINX_RPS=() # by body: "0=N" "1k=N"

# measure LABEL ROUTES PORT runs wrk for both bodies against PORT.
measure() {
	local label=$1 routes=$2 port=$3 body size rps runs
	for body in 0 1k; do
		size=$([ $body = 0 ] && echo 0 || echo 1024)
		log "$label, $body body, $routes route(s): warmup $WARMUP, then ${RUNS}x $DURATION"
		run_wrk "$WORK/warmup.txt" "http://127.0.0.1:$port/$body" -t1 -c"$CONNS" -d"$WARMUP"
		runs=()
		for _ in $(seq "$RUNS"); do
			run_wrk "$WORK/wrk.txt" "http://127.0.0.1:$port/$body" -t1 -c"$CONNS" -d"$DURATION"
			runs+=("$(wrk_rps "$WORK/wrk.txt")")
		done
		rps=$(median "${runs[@]}")
		log "  $rps rps (runs: ${runs[*]})"
		ROWS+=("$label|$size B|$routes|$rps")
		[ "$label" != nginx ] || NGINX_RPS+=("$body=$rps")
	done
}

start_backend
measure direct - "$BACKEND_PORT"
for peer in "${PEERS[@]}"; do
	variants=(1)
	[ "$peer" != pylon ] || [ "$MANY_ROUTES" = 0 ] || variants+=($((MANY_ROUTES + 1)))
	for routes in "${variants[@]}"; do
		rc=0
		start_peer "$peer" $((routes - 1)) || rc=$?
		[ $rc = 0 ] || { [ $rc = 2 ] && continue; exit $rc; }
		measure "$peer" "$routes" "$PROXY_PORT"
		stop "$PEER_PID"
	done
done

nginx_rps() { local kv; for kv in "${NGINX_RPS[@]}"; do [ "${kv%%=*}" != "$1" ] || echo "${kv#*=}"; done; }

echo "## S1: proxy throughput, one core"
echo
echo "Command: \`bench/s1.sh ${PEERS[*]}\` (DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP RUNS=$RUNS MANY_ROUTES=$MANY_ROUTES);"
echo "load: \`wrk -t1 -c$CONNS -d$DURATION -H 'Host: $HOST_HEADER'\` on CPU $LOAD_CPU."
echo
machine_report
echo
echo "| peer | body | routes | requests/s | vs nginx |"
echo "|---|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
	IFS='|' read -r peer size routes rps <<<"$row"
	base=$(nginx_rps "$([ "$size" = "0 B" ] && echo 0 || echo 1k)")
	ratio=—
	[ "$peer" = direct ] || [ -z "$base" ] || ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
	[ "$peer" != direct ] || peer="direct (no proxy)"
	echo "| $peer | $size | $routes | $rps | $ratio |"
done
