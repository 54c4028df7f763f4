# shellcheck shell=bash disable=SC2153 # tool variables (WRK, NGINX, ...) come from load_tools
# lib.sh: shared parts of the benchmark scripts (sourced, not run).
#
# Layout of every run: the backend (nginx, one worker) and the load
# generator (wrk) share CPU 1; the proxy under test runs alone on CPU 0.
# Everything listens on 127.0.0.1 on ports picked at run time, and every
# process is killed when the script exits.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
HOST_HEADER=bench.local

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Tools

# load_tools [MODE [COMPONENT...]] runs hack/testenv.sh (with --bench when
# MODE is "bench"; for the COMPONENTs named only, when there are any, so a
# benchmark does not wait for tools it never runs) and sets a shell variable
# per NAME=PATH line it prints.
load_tools() {
	local out name path
	out=$("$REPO/hack/testenv.sh" ${1:+--$1} "${@:2}") || die "hack/testenv.sh failed"
	while IFS='=' read -r name path; do
		[ -n "$name" ] && printf -v "$name" '%s' "$path"
	done <<<"$out"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (proxy on CPU $PROXY_CPU, load and backend on CPU $LOAD_CPU)"
}

# ---------------------------------------------------------------------------
# Processes

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pylon-bench.XXXXXX")
PIDS=()

# cleanup stops every process started with start_on (each runs in its own
# process group), waits up to 5 s, then kills what is left.
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
	PIDS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# start_on CPU NAME CMD... starts CMD pinned to CPU, in its own process group,
# logging to $WORK/NAME.log, and sets LAST_PID.
start_on() {
	local cpu=$1 name=$2
	shift 2
	setsid "$TASKSET" -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# stop PID stops one process group started with start_on.
stop() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local kept=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
	PIDS=("${kept[@]}")
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	while :; do
		# Below the kernel's ephemeral range (32768-60999): a port there can be
		# the local end of a load generator's connection, and bind fails.
		port=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
}

# wait_port PID PORT NAME waits up to $STARTUP_TIMEOUT seconds (15) for PORT
# to accept connections, failing early if PID exits.
wait_port() {
	local pid=$1 port=$2 name=$3
	for _ in $(seq $((${STARTUP_TIMEOUT:-15} * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited before listening on $port"; }
		sleep 0.1
	done
	tail -20 "$WORK/$name.log" >&2
	die "$name did not listen on $port within ${STARTUP_TIMEOUT:-15} s"
}

# render TEMPLATE OUT replaces @DIR@, @PROXY_PORT@, @BACKEND_PORT@ and
# @BODY_1K@ in a peer's config.
render() {
	local body
	body=$(printf 'x%.0s' $(seq 1024))
	sed -e "s|@DIR@|$WORK|g" -e "s|@PROXY_PORT@|${PROXY_PORT:-0}|g" \
		-e "s|@BACKEND_PORT@|$BACKEND_PORT|g" -e "s|@BODY_1K@|$body|g" "$1" >"$2"
}

# ---------------------------------------------------------------------------
# The backend

# start_backend starts the nginx backend on CPU $LOAD_CPU and sets
# BACKEND_PORT.
start_backend() {
	BACKEND_PORT=$(free_port)
	render "$BENCH_DIR/peers/nginx-backend.conf" "$WORK/backend.conf"
	start_on "$LOAD_CPU" backend "$NGINX" -p "$WORK" -e "$WORK/backend-error.log" -c "$WORK/backend.conf"
	wait_port "$LAST_PID" "$BACKEND_PORT" backend
	check_url "http://127.0.0.1:$BACKEND_PORT/1k" 1024
}

# check_url URL SIZE fails unless URL answers 200 with SIZE bytes.
check_url() {
	local got
	got=$("$CURL" -s -o /dev/null --max-time 5 -H "Host: $HOST_HEADER" -w '%{http_code} %{size_download}' "$1" || true)
	[ "$got" = "200 $2" ] || die "$1 answered '$got', want '200 $2'"
}

# ---------------------------------------------------------------------------
# Proxies under test. start_peer NAME [ROUTES] starts one on CPU $PROXY_CPU,
# sets PROXY_PORT and PEER_PID, and waits until it proxies. ROUTES (pylon
# only) is the number of extra routes on other hosts. It returns 2 when the
# peer cannot run here (the reason is logged).

start_peer() {
	local peer=$1 routes=${2:-0}
	PROXY_PORT=$(free_port)
	case $peer in
	nginx)
		render "$BENCH_DIR/peers/nginx-proxy.conf" "$WORK/nginx-proxy.conf"
		start_on "$PROXY_CPU" "$peer" "$NGINX" -p "$WORK" -e "$WORK/nginx-proxy-error.log" -c "$WORK/nginx-proxy.conf"
		;;
	haproxy)
		render "$BENCH_DIR/peers/haproxy.cfg" "$WORK/haproxy.cfg"
		start_on "$PROXY_CPU" "$peer" "$HAPROXY" -db -f "$WORK/haproxy.cfg"
		;;
	caddy)
		[ -n "${CADDY:-}" ] || { log "caddy: not installed (hack/testenv.sh --bench); skipped"; return 2; }
		render "$BENCH_DIR/peers/Caddyfile" "$WORK/Caddyfile"
		mkdir -p "$WORK/caddy-home"
		start_on "$PROXY_CPU" "$peer" env GOMAXPROCS=1 HOME="$WORK/caddy-home" \
			XDG_DATA_HOME="$WORK/caddy-home" XDG_CONFIG_HOME="$WORK/caddy-home" \
			"$CADDY" run --adapter caddyfile --config "$WORK/Caddyfile"
		;;
	pylon | pylon-plugins)
		build_pylon || return 2
		render "$BENCH_DIR/peers/$peer.yaml" "$WORK/pylon.yaml"
		extra_routes "$routes" >>"$WORK/pylon.yaml"
		start_on "$PROXY_CPU" "$peer" env GOMAXPROCS=1 "$PYLON" run --config "$WORK/pylon.yaml" \
			--metrics-address "127.0.0.1:$(free_port)" --access-log=false --admin-address off
		;;
	fasthttp-min)
		(cd "$REPO" && go build -o "$WORK/fasthttp-min" ./bench/peers/fasthttp-min) || return 2
		start_on "$PROXY_CPU" "$peer" env GOMAXPROCS=1 "$WORK/fasthttp-min" \
			-listen "127.0.0.1:$PROXY_PORT" -upstream "127.0.0.1:$BACKEND_PORT"
		;;
	*) die "unknown peer $peer" ;;
	esac
	PEER_PID=$LAST_PID
	wait_port "$PEER_PID" "$PROXY_PORT" "$peer"
	check_url "http://127.0.0.1:$PROXY_PORT/1k" 1024
}

# extra_routes N prints N more routes, each on a host of its own, to append
# to the routes list of peers/pylon.yaml.
extra_routes() {
	local n=$1
	[ "$n" -gt 0 ] || return 0
	awk -v n="$n" 'BEGIN {
		for (i = 1; i <= n; i++) {
			printf "  - name: extra-%05d\n    hosts: [\"h%05d.extra.local\"]\n", i, i
			printf "    match: { path: { prefix: /r%d/ } }\n", i
			printf "    backends: [{ service: backend, weight: 100 }]\n"
		}
	}'
}

PYLON_BUILT=
# build_pylon sets PYLON, the binary start_peer runs, and PYLON_REV, what the
# report says it is. It builds ./bin/pylon once per run, or, when PYLON_BIN
# names a binary, runs that one (described by PYLON_REV if set). Without
# cmd/pylon it logs why and returns 1.
build_pylon() {
	[ -z "$PYLON_BUILT" ] || return "$PYLON_BUILT"
	if [ -n "${PYLON_BIN:-}" ]; then
		[ -x "$PYLON_BIN" ] || die "PYLON_BIN=$PYLON_BIN is not an executable file"
		PYLON=$PYLON_BIN
		PYLON_REV=${PYLON_REV:-"$(basename "$PYLON_BIN") (PYLON_BIN; revision not given)"}
		PYLON_BUILT=0
		return 0
	fi
	PYLON="$REPO/bin/pylon"
	PYLON_REV=$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown revision)
	log "pylon: go build -o bin/pylon ./cmd/pylon ($PYLON_REV)"
	if (cd "$REPO" && go build -o bin/pylon ./cmd/pylon) >"$WORK/pylon-build.log" 2>&1; then
		PYLON_BUILT=0
	else
		tail -20 "$WORK/pylon-build.log" >&2
		log "pylon: ./cmd/pylon does not build yet; skipped"
		PYLON_BUILT=1
	fi
	return "$PYLON_BUILT"
}

# ---------------------------------------------------------------------------
# Load

# seconds prints a wrk duration (10, 10s, 2m, 1h) in seconds.
seconds() {
	case $1 in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# run_wrk OUT URL WRK-ARGS... runs wrk pinned to CPU $LOAD_CPU and writes its
# output to OUT. wrk is killed 30 s after the duration given with -dN (the
# last such argument). It fails when wrk saw errors.
run_wrk() {
	local out=$1 url=$2 a bound=10
	shift 2
	for a in "$@"; do
		case $a in -d*) bound=$(seconds "${a#-d}") ;; esac
	done
	timeout --kill-after=5 $((bound + 30)) "$TASKSET" -c "$LOAD_CPU" "$WRK" --timeout 2s -H "Host: $HOST_HEADER" "$@" "$url" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk against $url failed"; }
	if grep -Eq 'Non-2xx|Socket errors' "$out"; then
		cat "$out" >&2
		die "wrk against $url saw errors"
	fi
}

# wrk_rps FILE prints the requests per second of a wrk output, rounded.
wrk_rps() { awk '/^Requests\/sec:/ { printf "%d\n", $2 + 0.5 }' "$1"; }

# wrk_requests FILE prints the number of requests a wrk output counts.
wrk_requests() { awk '$2 == "requests" && $3 == "in" { print $1 }' "$1"; }

# group_cpu_ticks PGID prints the CPU time, in clock ticks, that every
# process of process group PGID has used so far (utime + stime, fields 14
# and 15 of /proc/PID/stat; the command name before them may hold spaces).
group_cpu_ticks() {
	local pid
	for pid in $("$PGREP" -g "$1"); do cat "/proc/$pid/stat" 2>/dev/null || true; done |
		awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%d\n", t }'
}

# wrk_percentile FILE P prints the latency percentile P (50, 99...) of a
# `wrk --latency` output in microseconds.
wrk_percentile() {
	awk -v p="$2%" '$1 == p {
		v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
		f = (unit == "us") ? 1 : (unit == "ms") ? 1000 : (unit == "s") ? 1000000 : -1
		printf "%d\n", v * f + 0.5
	}' "$1"
}

# median prints the median of its numeric arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# ---------------------------------------------------------------------------
# Report

# machine_report prints the date, machine and peer versions as markdown.
# A script whose layout differs from the throughput benchmarks' says so in
# REPORT_LAYOUT and REPORT_PYLON.
machine_report() {
	local cpu load=$LOAD_BEFORE
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r), load average before the run: $load"
	echo "- Layout: ${REPORT_LAYOUT:-proxy on CPU $PROXY_CPU; nginx backend (1 worker) and wrk on CPU $LOAD_CPU; 127.0.0.1 only}"
	echo "- Peers: $("$NGINX" -v 2>&1 | sed 's/.*: //'), $("$HAPROXY" -v 2>&1 | awk 'NR == 1 { print "HAProxy " $3 }')${CADDY:+, Caddy $CADDY_VERSION}, $(go version | awk '{ print $3 }')"
	if [ "$PYLON_BUILT" = 0 ]; then
		echo "- Pylon: $PYLON_REV, ${REPORT_PYLON:-GOMAXPROCS=1, --access-log=false}"
	fi
	if awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		echo "- **Warning:** the machine was busy (load $load); numbers are not trustworthy."
	fi
}

# caddy_version prints the Caddy version testenv.sh pins.
CADDY_VERSION=$(awk -F= '/^CADDY_VERSION=/ { print $2 }' "$REPO/hack/testenv.sh")
