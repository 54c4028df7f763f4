#!/usr/bin/env bash
# api.sh: the admin API and cluster benchmarks.
#
#   1. admin API writes/s: PUTs of routes, one writer and 8, on the embedded
#      bbolt store and on etcd;
#   2. bulk load: ROUTES routes (default 100,000) written through node A of a
#      3-node etcd cluster in batches of 100, until every node serves the
#      last one; RSS of each node then;
#   3. propagation: CHANGES single-route changes written on node A, timed
#      until every node serves them (p50/p99), and node B's compile +
#      publish time per change (from /debug/config).
#
# Usage: bench/api.sh   (ROUTES=100000 CHANGES=200)
# Only 127.0.0.1; every process is stopped on exit.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ROUTES=${ROUTES:-100000}
CHANGES=${CHANGES:-200}
KEY=bench-admin-key-6f1d0c93 # the admin API takes keys of 16 bytes or more
load_tools ""
start_backend
build_pylon || die "cmd/pylon does not build"
(cd "$REPO" && go build -o "$WORK/apibench" ./bench/apibench) || die "bench/apibench does not build"
printf '%s\n' "$KEY" >"$WORK/key"

# start_etcd starts etcd on free ports (fsync on: durability is what is measured).
start_etcd() {
	ETCD_PORT=$(free_port)
	local peer
	peer=$(free_port)
	start_on "0-1" etcd "$ETCD" --data-dir "$WORK/etcd" --name default \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "default=http://127.0.0.1:$peer" --log-level error
	wait_port "$LAST_PID" "$ETCD_PORT" etcd
}

# start_node NAME STORE-ARGS... starts a pylon node with its own listener
# and the backend service in a file; sets NODE_PROXY, NODE_ADMIN, NODE_METRICS, NODE_PID.
start_node() {
	local name=$1
	shift
	NODE_PROXY=127.0.0.1:$(free_port)
	NODE_ADMIN=127.0.0.1:$(free_port)
	NODE_METRICS=127.0.0.1:$(free_port)
	mkdir -p "$WORK/$name"
	cat >"$WORK/$name/base.yaml" <<YAML
listeners:
  - name: web
    address: $NODE_PROXY
    protocol: http
services:
  - name: backend
    endpoints: ["127.0.0.1:$BACKEND_PORT"]
YAML
	start_on "0-1" "$name" "$PYLON" run --config "$WORK/$name/base.yaml" --data-dir "$WORK/$name/data" \
		--admin-address "$NODE_ADMIN" --admin-key-file "$WORK/key" --metrics-address "$NODE_METRICS" \
		--node-name "$name" --access-log=false "$@"
	NODE_PID=$LAST_PID
	wait_port "$NODE_PID" "${NODE_PROXY##*:}" "$name"
	wait_port "$NODE_PID" "${NODE_ADMIN##*:}" "$name admin"
}

rss_mib() { # rss_mib PID: RSS of the pylon process under env/taskset
	local p
	p=$(pgrep -P "$1" -f "pylon run" || echo "$1")
	awk '$1 == "VmRSS:" { printf "%d\n", $2 / 1024 }' "/proc/$p/status"
}

bench() { PYLON_ADMIN_KEY=$KEY timeout 900 "$WORK/apibench" "$@"; }

log "writes/s, embedded store"
start_node solo
W_BOLT1=$(bench -mode writes -admin "$NODE_ADMIN" -writes 500 -workers 1)
W_BOLT8=$(bench -mode writes -admin "$NODE_ADMIN" -writes 1000 -workers 8)
stop "$NODE_PID"

start_etcd
start_node a --store "etcd://127.0.0.1:$ETCD_PORT"
A_PROXY=$NODE_PROXY A_ADMIN=$NODE_ADMIN A_PID=$NODE_PID
start_node b --store "etcd://127.0.0.1:$ETCD_PORT"
B_PROXY=$NODE_PROXY B_METRICS=$NODE_METRICS B_PID=$NODE_PID
start_node c --store "etcd://127.0.0.1:$ETCD_PORT"
C_PROXY=$NODE_PROXY C_PID=$NODE_PID
log "writes/s, etcd"
W_ETCD1=$(bench -mode writes -admin "$A_ADMIN" -writes 1000 -workers 1)
W_ETCD8=$(bench -mode writes -admin "$A_ADMIN" -writes 2000 -workers 8)

log "propagation: $CHANGES changes written on a, served by a, b and c"
PROP=$(bench -mode propagate -admin "$A_ADMIN" -proxies "$A_PROXY,$B_PROXY,$C_PROXY" -changes "$CHANGES")
# Node B's compile + publish time over every change it applied so far (the writes above and the
# propagation changes), from its pylon_config_compile_seconds histogram.
COMPILE=$(curl -s "http://$B_METRICS/metrics" | awk '/^pylon_config_compile_seconds_(sum|count)/ { v[$1] = $2 } END { printf "%.3f", 1000 * v["pylon_config_compile_seconds_sum"] / v["pylon_config_compile_seconds_count"] }')
P99C=$(curl -s "http://$B_METRICS/metrics" | awk '
	/^pylon_config_compile_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[++k] = $2; b[k] = le }
	/^pylon_config_compile_seconds_count/ { total = $2 }
	END { for (i = 1; i <= k; i++) if (n[i] >= 0.99 * total) { print b[i] * 1000 " ms"; exit } }')
log "$PROP"

log "bulk: $ROUTES routes through a"
BULK=$(bench -mode bulk -admin "$A_ADMIN" -proxies "$A_PROXY,$B_PROXY,$C_PROXY" -routes "$ROUTES" -batch 100)
log "$BULK"
RSS="a $(rss_mib "$A_PID") MiB, b $(rss_mib "$B_PID") MiB, c $(rss_mib "$C_PID") MiB"

echo "## Admin API and cluster"
echo
echo "Command: \`bench/api.sh\` (ROUTES=$ROUTES CHANGES=$CHANGES); nodes and etcd unpinned on both CPUs, etcd with fsync."
echo
machine_report | grep -v -e '^- Layout' -e '^- Pylon'
echo "- Pylon: $(cd "$REPO" && git describe --always --dirty 2>/dev/null), 3 nodes + etcd + nginx backend, unpinned"
echo "- etcd: $("$ETCD" --version | head -1)"
echo
echo "| measure | result |"
echo "|---|---|"
echo "| admin API writes, embedded bbolt, 1 / 8 writers | ${W_BOLT1##*: } / ${W_BOLT8##*: } |"
echo "| admin API writes, etcd, 1 / 8 writers | ${W_ETCD1##*: } / ${W_ETCD8##*: } |"
echo "| one change written on node a → served by a, b and c | ${PROP#*changes: } |"
echo "| node b compile + publish per change: mean / p99 bucket | $COMPILE ms / ≤ $P99C |"
echo "| $ROUTES routes in batches of 100 (etcd's default --max-txn-ops is 128) through node a | $(tail -1 <<<"$BULK") |"
echo "| RSS after the bulk load | $RSS |"
echo
head -n -1 <<<"$BULK" | while read -r line; do echo "- $line"; done
