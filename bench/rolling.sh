#!/usr/bin/env bash
# rolling.sh: a rolling update of a 2,000-endpoint Service under load,
# against a real kube-apiserver and etcd: pylon --kubernetes serves one
# Ingress to it while LOAD_RPS (2000) requests a second arrive; every
# endpoint is replaced at the pace of all of them over ROLL_SECONDS (60),
# two EndpointSlice writes per endpoint, in CHUNKS (4) parts that alternate
# with steady phases (2 × STEADY_SECONDS (30) in all), so that the machine's
# drift falls on both alike. Reports pylon's CPU per second and per request
# over the update and over steady state, the increase, every phase's CPU,
# failed requests (must be zero) and p50/p99.
#
# pylon runs alone on CPU $PROXY_CPU (0) with GOMAXPROCS=1; the apiserver,
# etcd, the load generator and the backend on CPU $LOAD_CPU (1).
#
# Usage: [ENDPOINTS=2000] [LOAD_RPS=2000] bench/rolling.sh
# Needs root (network namespace). The benchmark is the Go test
# bench/kube.TestRollingUpdate2000; lines starting with RESULT are the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
hack/testenv.sh etcd kube-apiserver >/dev/null
if [ -z "${PYLON_BIN:-}" ]; then
	mkdir -p bin
	go build -o bin/pylon ./cmd/pylon
	PYLON_BIN=$PWD/bin/pylon
fi
export PYLON_BIN PROXY_CPU
echo "# bench/rolling.sh — $(date -u +%Y-%m-%dT%H:%MZ), pylon $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o bin/kube-bench.test ./bench/kube/
PYLON_BENCH_KUBE=1 taskset -c "$LOAD_CPU" bin/kube-bench.test -test.count=1 -test.timeout 30m -test.run '^TestRollingUpdate2000$' -test.v 2>&1 |
	tee "${TMPDIR:-/tmp}/pylon-rolling-bench.log" | grep -E '^RESULT|^(--- |FAIL|ok |PASS)' | sed 's/^RESULT /  /' || true
