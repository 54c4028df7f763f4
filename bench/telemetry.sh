#!/usr/bin/env bash
# telemetry.sh: what tracing and the access log sinks cost. The proxy CPU
# time per request (utime + stime ÷ requests) of Pylon pinned to one core,
# 64 keep-alive connections, 0 B answers, with:
#
#   off        tracing off, access log off
#   trace-1%   tracing on, 1% of new traces sampled (OTLP gRPC to Jaeger)
#   trace-100% tracing on, every request sampled
#   log-file   access log to a file, tracing off
#   log-kafka  access log to Kafka (franz-go's kfake cluster), tracing off
#
# and nginx as the peer of the same run. Jaeger, kfake, the nginx backend
# and wrk share CPU 1; each variant gets a fresh Jaeger or kfake. Variants run in ROUNDS rounds (default 3), the order
# reversed every other round; medians are reported.
#
# Usage: bench/telemetry.sh   (DURATION=10s WARMUP=2s ROUNDS=3 CONNS=64)
#        VARIANTS="off trace-1%" ROUNDS=7 bench/telemetry.sh   (some variants, more rounds)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
read -ra VARIANTS <<<"${VARIANTS:-off trace-1% trace-100% log-file log-kafka}"
for v in "${VARIANTS[@]}"; do
	case $v in off | trace-1% | trace-100% | log-file | log-kafka) ;; *) die "unknown variant $v (off trace-1% trace-100% log-file log-kafka)" ;; esac
done

load_tools "" curl taskset procps wrk nginx haproxy jaeger
CLK_TCK=$(getconf CLK_TCK)
UPTIME_BEFORE=$(uptime)

build_pylon || die "./cmd/pylon does not build"
(cd "$REPO" && go build -o "$WORK/kfake" ./bench/peers/kfake) || die "bench/peers/kfake does not build"
start_backend

# Jaeger (v2, in memory) and kfake on the load CPU.
OTLP_PORT=$(free_port) QUERY_PORT=$(free_port) QUERY_GRPC=$(free_port) OTLP_HTTP=$(free_port) KAFKA_PORT=$(free_port)
cat >"$WORK/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [jaeger_storage_exporter] }
  telemetry: { logs: { level: warn }, metrics: { level: none }, traces: { level: none } }
receivers:
  otlp:
    protocols: { grpc: { endpoint: "127.0.0.1:$OTLP_PORT" }, http: { endpoint: "127.0.0.1:$OTLP_HTTP" } }
extensions:
  jaeger_storage: { backends: { mem: { memory: { max_traces: 20000 } } } }
  jaeger_query: { storage: { traces: mem }, grpc: { endpoint: "127.0.0.1:$QUERY_GRPC" }, http: { endpoint: "127.0.0.1:$QUERY_PORT" } }
exporters:
  jaeger_storage_exporter: { trace_storage: mem }
YAML
# start_sink VARIANT starts what the variant sends to (Jaeger or kfake) and
# sets SINK_PID; each variant gets a fresh one, so no variant pays for the
# spans or lines an earlier one left behind.
start_sink() {
	SINK_PID=
	case $1 in
	trace-*)
		start_on "$LOAD_CPU" jaeger "$JAEGER" --config "$WORK/jaeger.yaml"
		SINK_PID=$LAST_PID
		wait_port "$SINK_PID" "$OTLP_PORT" jaeger
		;;
	log-kafka)
		start_on "$LOAD_CPU" kfake "$WORK/kfake" -port "$KAFKA_PORT" -topic pylon-access
		SINK_PID=$LAST_PID
		wait_port "$SINK_PID" "$KAFKA_PORT" kfake
		;;
	esac
}

telemetry_block() {
	case $1 in
	off) printf 'telemetry:\n  accessLog: { enabled: false }\n' ;;
	trace-1%) printf 'telemetry:\n  tracing: { exporter: otlp-grpc, endpoint: "127.0.0.1:%s", sampleRatio: 0.01 }\n  accessLog: { enabled: false }\n' "$OTLP_PORT" ;;
	trace-100%) printf 'telemetry:\n  tracing: { exporter: otlp-grpc, endpoint: "127.0.0.1:%s", sampleRatio: 1 }\n  accessLog: { enabled: false }\n' "$OTLP_PORT" ;;
	log-file) printf 'telemetry:\n  accessLog: { sinks: [{ file: { path: "%s/access.log" } }] }\n' "$WORK" ;;
	log-kafka) printf 'telemetry:\n  accessLog: { sinks: [{ kafka: { brokers: ["127.0.0.1:%s"], topic: pylon-access, key: host } }] }\n' "$KAFKA_PORT" ;;
	esac
}

SAMPLES=()
SINK_COUNTS=()
measure() { # measure ROUND LABEL PORT PGID
	local c0 c1
	run_wrk "$WORK/warmup.txt" "http://127.0.0.1:$3/0" -t1 -c"$CONNS" -d"$WARMUP"
	c0=$(group_cpu_ticks "$4")
	run_wrk "$WORK/wrk.txt" "http://127.0.0.1:$3/0" -t1 -c"$CONNS" -d"$DURATION"
	c1=$(group_cpu_ticks "$4")
	SAMPLES+=("$1|$2|$(wrk_rps "$WORK/wrk.txt")|$(wrk_requests "$WORK/wrk.txt")|$((c1 - c0))|$(seconds "$DURATION")")
	log "round $1: $2: $(wrk_rps "$WORK/wrk.txt") rps, proxy CPU $(((c1 - c0) * 1000 / CLK_TCK)) ms"
}

run_variant() { # run_variant ROUND VARIANT
	local round=$1 v=$2
	start_sink "$v"
	if [ "$v" = nginx ]; then
		start_peer nginx
	else
		PROXY_PORT=$(free_port)
		render "$BENCH_DIR/peers/pylon.yaml" "$WORK/pylon.yaml"
		telemetry_block "$v" >>"$WORK/pylon.yaml"
		METRICS_PORT=$(free_port)
		start_on "$PROXY_CPU" "pylon-$v" env GOMAXPROCS=1 "$PYLON" run --config "$WORK/pylon.yaml" \
			--metrics-address "127.0.0.1:$METRICS_PORT" --admin-address off
		PEER_PID=$LAST_PID
		wait_port "$PEER_PID" "$PROXY_PORT" "pylon-$v"
		check_url "http://127.0.0.1:$PROXY_PORT/1k" 1024
	fi
	measure "$round" "$v" "$PROXY_PORT" "$PEER_PID"
	if [ "$v" = log-kafka ]; then
		sleep 1 # the last batch leaves
		SINK_COUNTS+=("round $round: $("$CURL" -s "http://127.0.0.1:$METRICS_PORT/metrics" |
			awk '/^pylon_accesslog_kafka_lines_(sent|dropped|failed)_total/ { sub(/\{.*\}/, "", $1); printf "%s=%s ", $1, $2 }')")
	fi
	stop "$PEER_PID"
	[ -z "$SINK_PID" ] || stop "$SINK_PID"
}

ROUND_LOADS=()
for round in $(seq "$ROUNDS"); do
	ROUND_LOADS+=("$round=$(cut -d' ' -f1-3 /proc/loadavg)")
	order=(nginx "${VARIANTS[@]}")
	if [ $((round % 2)) = 0 ]; then
		order=()
		for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[i]}"); done
		order+=(nginx)
	fi
	for v in "${order[@]}"; do run_variant "$round" "$v"; done
done
UPTIME_AFTER=$(uptime)

echo "## Telemetry: proxy CPU per request with tracing and access log sinks"
echo
echo "Command: \`bench/telemetry.sh\` (DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS CONNS=$CONNS);"
echo "load: \`wrk -t1 -c$CONNS -d$DURATION\` on CPU $LOAD_CPU, 0 B answers from an nginx backend; Jaeger (v2, in memory) and kfake on CPU $LOAD_CPU."
echo
machine_report
echo "- Pylon: $PYLON_REV, GOMAXPROCS=1, on CPU $PROXY_CPU; the telemetry block of each variant is in the table's first column"
echo "- \`uptime\` before: ${UPTIME_BEFORE#*load average: }; after: ${UPTIME_AFTER#*load average: }; per round: ${ROUND_LOADS[*]}"
echo
printf '%s\n' "${SAMPLES[@]}" | awk -F'|' -v clk="$CLK_TCK" '
function median(list, n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
	rps[$2] = rps[$2] " " $3
	us[$2] = us[$2] " " ($5 / clk * 1e6 / $4)
	per[$2] = per[$2] sprintf("%s%.2f", per[$2] == "" ? "" : ", ", $5 / clk * 1e6 / $4)
	busy[$2] = busy[$2] " " ($5 / clk / $6 * 100)
}
END {
	off = median(us["off"])
	print "| variant | requests/s | proxy CPU µs/request (rounds) | busy | vs off |"
	print "|---|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		k = order[i]; m = median(us[k])
		printf "| %s | %.0f | %.2f (%s) | %.0f%% | %s |\n", k, median(rps[k]), m, per[k], median(busy[k]), k == "nginx" ? "—" : sprintf("%+.1f%%", (m / off - 1) * 100)
	}
}'
echo
echo "Kafka sink counters at the end of each log-kafka run (lines sent, dropped, failed):"
for c in "${SINK_COUNTS[@]}"; do echo "- $c"; done
