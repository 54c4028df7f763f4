#!/usr/bin/env bash
# ewma.sh: latency with one slow endpoint among five. Four echo backends
# answer at once, one after SLOW (20ms); the proxy balances over all five
# and wrk (closed loop, for each of CONNS: 4 connections, where the proxy
# has time to spare, and 16, where its core is saturated) reports p50/p99.
# Pylon with
# roundRobin, leastRequest and ewma, HAProxy with roundrobin and leastconn,
# nginx with least_conn, each for ROUNDS (3) interleaved rounds of DURATION
# (10s). The proxy runs alone on CPU $PROXY_CPU (GOMAXPROCS=1, one
# thread/worker); the backends and wrk on CPU $LOAD_CPU.
#
# Usage: [SLOW=20ms] [ROUNDS=3] [DURATION=10s] [CONNS="4 16"] [VARIANTS="..."] bench/ewma.sh
# Prints a markdown table for docs/benchmarks.md.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

SLOW=${SLOW:-20ms}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
read -r -a CONNS <<<"${CONNS:-4 16}"
read -r -a VARIANTS <<<"${VARIANTS:-pylon-roundRobin pylon-leastRequest pylon-ewma haproxy-roundrobin haproxy-leastconn nginx-least_conn}"

load_tools "" curl taskset procps wrk nginx haproxy
build_pylon || die "./cmd/pylon does not build"
(cd "$REPO" && go build -o "$WORK/echoserver" ./test/testenv/echoserver) || die "the echo backend does not build"

# The five backends: s1..s4 fast, s5 slow.
PORTS=()
for i in 1 2 3 4 5; do
	port=$(free_port)
	delay=0s
	[ "$i" = 5 ] && delay=$SLOW
	start_on "$LOAD_CPU" "s$i" "$WORK/echoserver" -listen "127.0.0.1:$port" -name "s$i" -delay "$delay"
	wait_port "$LAST_PID" "$port" "s$i"
	PORTS+=("$port")
done

# start_variant NAME starts the proxy of one variant on PROXY_PORT and sets
# PROXY_PID.
start_variant() {
	local v=$1 policy=${1#*-} p
	PROXY_PORT=$(free_port)
	case $v in
	pylon-*)
		{
			printf 'listeners:\n  - name: web\n    address: 127.0.0.1:%s\n    protocol: http\n' "$PROXY_PORT"
			printf 'services:\n  - name: echo\n    loadBalancer: %s\n    endpoints: [' "$policy"
			for p in "${PORTS[@]}"; do printf '"127.0.0.1:%s", ' "$p"; done
			printf ']\nroutes:\n  - name: echo\n    hosts: ["%s"]\n    backends: [{ service: echo }]\n' "$HOST_HEADER"
		} >"$WORK/pylon-ewma.yaml"
		start_on "$PROXY_CPU" pylon env GOMAXPROCS=1 "$PYLON" run --config "$WORK/pylon-ewma.yaml" \
			--metrics-address "127.0.0.1:$(free_port)" --admin-address off --data-dir "$WORK/pylon-data" --access-log=false --log-level warn
		;;
	haproxy-*)
		{
			printf 'global\n    nbthread 1\n    maxconn 4096\ndefaults\n    mode http\n    option http-keep-alive\n'
			printf '    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout http-keep-alive 300s\n'
			printf 'frontend bench\n    bind 127.0.0.1:%s\n    default_backend echo\nbackend echo\n    balance %s\n    http-reuse always\n' "$PROXY_PORT" "$policy"
			for i in "${!PORTS[@]}"; do printf '    server s%d 127.0.0.1:%s maxconn 1024\n' "$((i + 1))" "${PORTS[$i]}"; done
		} >"$WORK/haproxy-ewma.cfg"
		start_on "$PROXY_CPU" haproxy "$HAPROXY" -db -f "$WORK/haproxy-ewma.cfg"
		;;
	nginx-*)
		{
			printf 'worker_processes 1;\npid %s/nginx-ewma.pid;\nerror_log %s/nginx-ewma-error.log;\nevents { worker_connections 4096; }\n' "$WORK" "$WORK"
			printf 'http {\n  access_log off;\n  upstream echo {\n    %s;\n    keepalive 64;\n' "$policy"
			for p in "${PORTS[@]}"; do printf '    server 127.0.0.1:%s;\n' "$p"; done
			printf '  }\n  server {\n    listen 127.0.0.1:%s;\n    location / {\n      proxy_pass http://echo;\n' "$PROXY_PORT"
			printf '      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n    }\n  }\n}\n'
		} >"$WORK/nginx-ewma.conf"
		start_on "$PROXY_CPU" nginx "$NGINX" -p "$WORK" -e "$WORK/nginx-ewma-error.log" -c "$WORK/nginx-ewma.conf" -g 'daemon off;'
		;;
	esac
	PROXY_PID=$LAST_PID
	wait_port "$PROXY_PID" "$PROXY_PORT" "$v"
	local got
	got=$("$CURL" -s -o /dev/null --max-time 5 -H "Host: $HOST_HEADER" -w '%{http_code}' "http://127.0.0.1:$PROXY_PORT/" || true)
	[ "$got" = 200 ] || die "$v answered '$got', want 200"
}

declare -A P50 P99 RPS
for round in $(seq "$ROUNDS"); do
	for v in "${VARIANTS[@]}"; do
		start_variant "$v"
		for c in "${CONNS[@]}"; do
			log "round $round: $v, $c connections: warmup $WARMUP, then $DURATION"
			run_wrk "$WORK/warmup.txt" "http://127.0.0.1:$PROXY_PORT/" -t1 -c"$c" -d"$WARMUP"
			run_wrk "$WORK/wrk.txt" "http://127.0.0.1:$PROXY_PORT/" -t1 -c"$c" -d"$DURATION" --latency
			P50[$v/$c]+=" $(wrk_percentile "$WORK/wrk.txt" 50)"
			P99[$v/$c]+=" $(wrk_percentile "$WORK/wrk.txt" 99)"
			RPS[$v/$c]+=" $(wrk_rps "$WORK/wrk.txt")"
			log "  p50 $(wrk_percentile "$WORK/wrk.txt" 50) µs, p99 $(wrk_percentile "$WORK/wrk.txt" 99) µs, $(wrk_rps "$WORK/wrk.txt") rps"
		done
		stop "$PROXY_PID"
	done
done

echo "### One slow endpoint among five (\`bench/ewma.sh\`)"
echo
REPORT_LAYOUT="proxy on CPU $PROXY_CPU; five Go echo backends (one answering after $SLOW) and wrk (-t1, closed loop) on CPU $LOAD_CPU; 127.0.0.1 only" machine_report
echo "- Load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| proxy, policy | connections | p50 (µs, median of $ROUNDS) | p99 (µs, median) | p99 per round | requests/s (median) |"
echo "|---|---:|---:|---:|---|---:|"
for c in "${CONNS[@]}"; do
	for v in "${VARIANTS[@]}"; do
		# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
		echo "| $v | $c | $(median ${P50[$v/$c]}) | $(median ${P99[$v/$c]}) |${P99[$v/$c]} | $(median ${RPS[$v/$c]}) |"
	done
done
