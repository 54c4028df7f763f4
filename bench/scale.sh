#!/usr/bin/env bash
# scale.sh: config at scale. Loads N routes (default 100,000, each on a host
# of its own, all to one nginx backend) from a config file, and measures:
#
#   - time from process start to every route serving (the last route's host
#     answers through the proxy), and the RSS then and at its peak;
#   - CHANGES edits of one route each, by rewriting a small second file in
#     the watched directory: compile + publish time of each change (from
#     /debug/config lastCompileMs) and file event to live (lastPropagateMs),
#     as p50 and p99.
#
# Usage: bench/scale.sh      (ROUTES=100000 FILES=1 CHANGES=200 ONE_CORE=0)
# FILES=100 writes the routes into 100 files of ROUTES/100 routes each, the
# layout of users with one file per tenant. With ONE_CORE=1 Pylon is pinned to
# CPU 0 with GOMAXPROCS=1, as in the throughput benchmarks; by default it has
# both cores (parsing is parallel). Besides wall time, the CPU time Pylon used
# until every route served is reported (utime+stime from /proc): on a machine
# shared with other work it says more than the wall time.
# Only 127.0.0.1; every process is stopped on exit.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ROUTES=${ROUTES:-100000}
FILES=${FILES:-1}
CHANGES=${CHANGES:-200}
ONE_CORE=${ONE_CORE:-0}
load_tools ""
start_backend
build_pylon || die "cmd/pylon does not build"

mkdir -p "$WORK/conf"
PROXY_PORT=$(free_port)
METRICS_PORT=$(free_port)
cat >"$WORK/conf/base.yaml" <<YAML
listeners:
  - name: web
    address: 127.0.0.1:$PROXY_PORT
    protocol: http
services:
  - name: backend
    endpoints: ["127.0.0.1:$BACKEND_PORT"]
YAML
if [ "$FILES" -lt 1 ] || [ "$FILES" -gt "$ROUTES" ]; then die "FILES must be between 1 and ROUTES"; fi
# Route i goes to file i*FILES/ROUTES: routes.yaml alone, or routes-000.yaml...
awk -v n="$ROUTES" -v files="$FILES" -v dir="$WORK/conf" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = files == 1 ? dir "/routes.yaml" : sprintf("%s/routes-%03d.yaml", dir, int(i * files / n))
		if (f != last) {
			if (last != "") close(last)
			print "routes:" >f
			last = f
		}
		printf "  - name: r%06d\n    hosts: [\"h%06d.scale.local\"]\n    match: { path: { prefix: / } }\n    backends: [{ service: backend }]\n", i, i >f
	}
}'
change_file() { # change_file I: one route on a host of its own, edited each time
	printf 'routes:\n  - name: changing\n    hosts: ["changing.scale.local"]\n    match: { path: { prefix: /v%d/ } }\n    backends: [{ service: backend }]\n' "$1" >"$WORK/conf/change.yaml.tmp"
	mv "$WORK/conf/change.yaml.tmp" "$WORK/conf/change.yaml"
}
change_file 0
log "config: $ROUTES routes in $FILES file(s), $(du -ch "$WORK"/conf/routes*.yaml | tail -1 | cut -f1) of YAML"

last=$(printf 'h%06d.scale.local' $((ROUTES - 1)))
start_ns=$(date +%s%N)
if [ "$ONE_CORE" = 1 ]; then
	cpus=$PROXY_CPU
	limit=(GOMAXPROCS=1)
else
	cpus=0-$(($(nproc) - 1))
	limit=()
fi
start_on "$cpus" pylon env "${limit[@]}" ${GOGC:+GOGC=$GOGC} "$PYLON" run --config "$WORK/conf" \
	--metrics-address "127.0.0.1:$METRICS_PORT" --access-log=false --admin-address off
PID=$LAST_PID
# The wait must not take the CPU it measures: a curl every 20 ms (a fork and
# an exec each) cost Pylon about a second of its two cores. Until the
# listener accepts, probe it with bash's own /dev/tcp (a fork, no exec); the
# listener comes up with the routes of the first load, so curl then checks
# the last route, normally once.
serving=
for _ in $(seq 3000); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $last" "http://127.0.0.1:$PROXY_PORT/0" || true)
		if [ "$code" = 200 ]; then serving=$(date +%s%N); break; fi
	fi
	kill -0 "$PID" 2>/dev/null || die "pylon exited: $(tail -5 "$WORK/pylon.log")"
	sleep 0.01
done
[ -n "$serving" ] || die "the last route never served"
rss_kb() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }
# cpu_ms PID prints the CPU time (user + system) a process has used.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
# The pinned process is env's child; find the pylon process itself.
PPID_PYLON=$(pgrep -P "$PID" -f "pylon run" || echo "$PID")
load_cpu_ms=$(cpu_ms "$PPID_PYLON")
load_ms=$(((serving - start_ns) / 1000000))
rss=$(rss_kb "$PPID_PYLON" VmRSS)
hwm=$(rss_kb "$PPID_PYLON" VmHWM)
first=$(printf 'h%06d.scale.local' 0)
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $first" "http://127.0.0.1:$PROXY_PORT/0")" = 200 ] || die "the first route does not serve"
log "all $ROUTES routes serving after ${load_ms} ms (${load_cpu_ms} ms of CPU); RSS $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB)"

debug() { curl -s "http://127.0.0.1:$METRICS_PORT/debug/config"; }
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" | head -1; }
compile=() propagate=()
version=$(debug | field version)
for i in $(seq "$CHANGES"); do
	change_file "$i"
	for _ in $(seq 500); do
		body=$(debug)
		v=$(field version <<<"$body")
		[ "$v" -gt "$version" ] && break
		sleep 0.002
	done
	version=$v
	compile+=("$(field lastCompileMs <<<"$body")")
	propagate+=("$(field lastPropagateMs <<<"$body")")
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: changing.scale.local' "http://127.0.0.1:$PROXY_PORT/v$i/0")" = 200 ] ||
		die "change $i not live"
done
rss_after=$(rss_kb "$PPID_PYLON" VmRSS)
pct() { # pct P VALUES...: the P-th percentile
	local p=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.3f\n", a[i] }'
}

echo "## Config at scale: $ROUTES routes from $FILES file(s)"
echo
echo "Command: \`bench/scale.sh\` (ROUTES=$ROUTES FILES=$FILES CHANGES=$CHANGES ONE_CORE=$ONE_CORE); Pylon on CPUs $cpus${limit[*]:+, ${limit[*]}}."
echo
REPORT_LAYOUT="Pylon on CPUs $cpus; nginx backend (1 worker) on CPU $LOAD_CPU; 127.0.0.1 only"
REPORT_PYLON="${limit[*]:-GOMAXPROCS unset (every CPU)}, --access-log=false"
machine_report
echo
echo "| measure | value |"
echo "|---|---:|"
echo "| process start → all $ROUTES routes serving | $load_ms ms |"
echo "| CPU time (user + system) until then | $load_cpu_ms ms |"
echo "| RSS when serving (peak) | $((rss / 1024)) MiB ($((hwm / 1024)) MiB) |"
echo "| RSS after the changes below | $((rss_after / 1024)) MiB |"
echo "| one route change, compile + publish p50 / p99 | $(pct 50 "${compile[@]}") / $(pct 99 "${compile[@]}") ms |"
echo "| one route change, file event → live p50 / p99 | $(pct 50 "${propagate[@]}") / $(pct 99 "${propagate[@]}") ms |"
