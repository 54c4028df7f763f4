#!/usr/bin/env bash
# S1: throughput and CPU cost per request of a proxy pinned to one core.
#
# Usage: bench/s1.sh [PEER...]     (default: nginx haproxy caddy pylon fasthttp-min)
#
# For each peer, wrk (-t1 -c$CONNS) drives $DURATION of keep-alive GETs for
# a 0-byte and a 1 KB body through the peer to an nginx backend. Pylon also
# runs with $MANY_ROUTES extra routes on other hosts. A row "direct" shows
# wrk against the backend with no proxy. Prints a markdown report on stdout.
#
# Beside requests/s the report gives the proxy's CPU time per request: the
# utime + stime of every process of the peer (nginx's master and worker, the
# one process of the others) over the measured run, from /proc/PID/stat,
# divided by the requests wrk counted. wrk and the backend share CPU 1 and
# saturate it, so requests/s alone hides what the proxy itself costs; CPU per
# request does not, and it suffers less from other load on the machine.
#
# Comparing two Pylon binaries: with PYLON_BEFORE set, every round measures
# that binary ("pylon before") beside the current one ("pylon after", built
# from ./cmd/pylon or PYLON_BIN), in ABBA order, and the whole list of peers
# runs ROUNDS times (3) so that a machine's drift spreads over both.
#
# Environment: DURATION (10s), CONNS (64), WARMUP (2s), RUNS (1 per round),
# ROUNDS (1, or 3 with PYLON_BEFORE; medians over all rounds and runs are
# reported), MANY_ROUTES (10000; 0 turns the variant off), PYLON_BIN and
# PYLON_REV (a Pylon binary to measure instead of building one, and what the
# report calls it), PYLON_BEFORE and PYLON_BEFORE_REV (the same for the
# "before" binary).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-1}
MANY_ROUTES=${MANY_ROUTES:-10000}
PYLON_BEFORE=${PYLON_BEFORE:-}
ROUNDS=${ROUNDS:-$([ -z "$PYLON_BEFORE" ] && echo 1 || echo 3)}
PEERS=(nginx haproxy caddy pylon fasthttp-min)
[ $# -eq 0 ] || PEERS=("$@")

has_peer() { local p; for p in "${PEERS[@]}"; do [ "$p" != "$1" ] || return 0; done; return 1; }
if [ -n "$PYLON_BEFORE" ]; then
	has_peer pylon || die "PYLON_BEFORE is set but pylon is not among the peers (${PEERS[*]})"
	[ -x "$PYLON_BEFORE" ] || die "PYLON_BEFORE=$PYLON_BEFORE is not an executable file"
fi

tools=(curl taskset procps wrk nginx haproxy)
has_peer caddy && tools+=(caddy)
load_tools "" "${tools[@]}"
CLK_TCK=$(getconf CLK_TCK)
UPTIME_BEFORE=$(uptime)

# SAMPLES holds one line per measured run:
# "round|label|size|routes|requests/s|requests|cpu ticks|wall ns".
SAMPLES=()
ROUND_LOADS=() # "round=load average" when each round began

# measure ROUND LABEL ROUTES PORT [PGID] runs wrk for both bodies against
# PORT, recording the CPU time of process group PGID over each run.
measure() {
	local round=$1 label=$2 routes=$3 port=$4 pgid=${5:-} body size c0 c1 t0 t1 rps
	for body in 0 1k; do
		size=$([ $body = 0 ] && echo 0 || echo 1024)
		log "round $round: $label, $body body, $routes route(s): warmup $WARMUP, then ${RUNS}x $DURATION"
		run_wrk "$WORK/warmup.txt" "http://127.0.0.1:$port/$body" -t1 -c"$CONNS" -d"$WARMUP"
		for _ in $(seq "$RUNS"); do
			c0=0 c1=0
			[ -z "$pgid" ] || c0=$(group_cpu_ticks "$pgid")
			t0=$(date +%s%N)
			run_wrk "$WORK/wrk.txt" "http://127.0.0.1:$port/$body" -t1 -c"$CONNS" -d"$DURATION"
			t1=$(date +%s%N)
			[ -z "$pgid" ] || c1=$(group_cpu_ticks "$pgid")
			rps=$(wrk_rps "$WORK/wrk.txt")
			SAMPLES+=("$round|$label|$size B|$routes|$rps|$(wrk_requests "$WORK/wrk.txt")|$((c1 - c0))|$((t1 - t0))")
			log "  $rps rps, proxy CPU $(((c1 - c0) * 1000 / CLK_TCK)) ms"
		done
	done
}

# measure_peer ROUND PEER [LABEL] starts PEER (with each variant of routes),
# measures it and stops it. A "pylon before" label runs $PYLON_BEFORE.
measure_peer() {
	local round=$1 peer=$2 label=${3:-$2} routes rc variants=(1) after=${PYLON:-}
	[ "$peer" != pylon ] || [ "$MANY_ROUTES" = 0 ] || variants+=($((MANY_ROUTES + 1)))
	for routes in "${variants[@]}"; do
		[ "$label" != "pylon before" ] || PYLON=$PYLON_BEFORE
		rc=0
		start_peer "$peer" $((routes - 1)) || rc=$?
		PYLON=$after
		[ $rc = 0 ] || { [ $rc = 2 ] && continue; exit $rc; }
		measure "$round" "$label" "$routes" "$PROXY_PORT" "$PEER_PID"
		stop "$PEER_PID"
	done
}

if has_peer pylon; then
	build_pylon || [ -z "$PYLON_BEFORE" ] || die "PYLON_BEFORE needs a current Pylon to compare with"
fi
start_backend
for round in $(seq "$ROUNDS"); do
	ROUND_LOADS+=("$round=$(cut -d' ' -f1-3 /proc/loadavg)")
	[ "$round" != 1 ] || measure 1 direct - "$BACKEND_PORT"
	for peer in "${PEERS[@]}"; do
		if [ "$peer" = pylon ] && [ -n "$PYLON_BEFORE" ]; then
			# ABBA: the binary measured first alternates from round to round.
			if [ $((round % 2)) = 1 ]; then
				measure_peer "$round" pylon "pylon before"
				measure_peer "$round" pylon "pylon after"
			else
				measure_peer "$round" pylon "pylon after"
				measure_peer "$round" pylon "pylon before"
			fi
		else
			measure_peer "$round" "$peer"
		fi
	done
done
UPTIME_AFTER=$(uptime)

echo "## S1: proxy throughput and CPU per request, one core"
echo
echo "Command: \`${PYLON_BIN:+PYLON_BIN=<${PYLON_REV:-$(basename "$PYLON_BIN")}> }${PYLON_BEFORE:+PYLON_BEFORE=<${PYLON_BEFORE_REV:-$(basename "$PYLON_BEFORE")}> }bench/s1.sh ${PEERS[*]}\` (DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP RUNS=$RUNS ROUNDS=$ROUNDS MANY_ROUTES=$MANY_ROUTES);"
echo "load: \`wrk -t1 -c$CONNS -d$DURATION -H 'Host: $HOST_HEADER'\` on CPU $LOAD_CPU."
echo
machine_report
[ -z "$PYLON_BEFORE" ] || echo "- Pylon before: ${PYLON_BEFORE_REV:-$(basename "$PYLON_BEFORE") (PYLON_BEFORE; revision not given)}, GOMAXPROCS=1, --access-log=false"
echo "- \`uptime\` before: ${UPTIME_BEFORE#*load average: }; after: ${UPTIME_AFTER#*load average: }"
echo "- CPU per request: utime + stime of the proxy's processes over the run ÷ requests wrk counted (clock tick $((1000 / CLK_TCK)) ms); busy: that CPU time ÷ the run's wall time"
echo
printf '%s\n' "${SAMPLES[@]}" | awk -F'|' -v clk="$CLK_TCK" -v rounds="$ROUNDS" -v loads="${ROUND_LOADS[*]}" '
function median(list, n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
{
	key = $2 "|" $3 "|" $4
	if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
	add(rps, key, $5)
	if ($2 != "direct") {
		cpu = $7 / clk * 1e6 / $6
		add(us, key, cpu); add(busy, key, $7 / clk / ($8 / 1e9) * 100)
		add(round_list, $1 "|" key, cpu)
	}
	nsamples++; sample[nsamples] = $0
}
END {
	for (k in seen) if (k in us) med_us[k] = median(us[k])
	for (k in round_list) round_us[k] = median(round_list[k])
	print "| peer | body | routes | requests/s | vs nginx | proxy CPU µs/request | busy | nginx CPU ÷ this |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= nkeys; i++) {
		k = order[i]; split(k, f, "|")
		nk = "nginx|" f[2] "|1"
		r = median(rps[k]); vs = "—"; cpu = "—"; b = "—"; ratio = "—"
		if (f[1] != "direct" && (nk in rps)) vs = sprintf("%.2f", r / median(rps[nk]))
		if (k in med_us) { cpu = sprintf("%.2f", med_us[k]); b = sprintf("%.0f%%", median(busy[k])) }
		if ((k in med_us) && (nk in med_us) && med_us[k] > 0) ratio = sprintf("%.2f", med_us[nk] / med_us[k])
		name = (f[1] == "direct") ? "direct (no proxy)" : f[1]
		printf "| %s | %s | %s | %.0f | %s | %s | %s | %s |\n", name, f[2], f[3], r, vs, cpu, b, ratio
	}
	# The ratio the pipeline work is judged by, per round as well as over the
	# medians: on a drifting machine, nginx and Pylon of one round ran under
	# the same conditions.
	print ""
	for (i = 1; i <= nkeys; i++) {
		k = order[i]; split(k, f, "|")
		if (f[1] !~ /^pylon/ || f[3] != 1) continue
		nk = "nginx|" f[2] "|1"
		if (!(nk in med_us) || !(k in med_us)) continue
		per = ""
		for (r = 1; r <= rounds; r++)
			if ((r "|" k) in round_us && (r "|" nk) in round_us) per = per sprintf("%s%.2f", per == "" ? "" : ", ", round_us[r "|" nk] / round_us[r "|" k])
		printf "- nginx CPU ÷ %s CPU per request, %s body: **%.2f**%s\n", f[1], f[2], med_us[nk] / med_us[k], (rounds > 1 ? " (rounds: " per ")" : "")
	}
	if (rounds > 1) {
		print ""
		print "Every run (load average when its round began: " loads "):"
		print ""
		print "| round | peer | body | routes | requests/s | proxy CPU µs/request |"
		print "|---:|---|---:|---:|---:|---:|"
		for (i = 1; i <= nsamples; i++) {
			split(sample[i], f, "|")
			printf "| %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4], f[5], (f[2] == "direct" ? "—" : sprintf("%.2f", f[7] / clk * 1e6 / f[6]))
		}
	}
}'
