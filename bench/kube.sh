#!/usr/bin/env bash
# kube.sh: Pylon as a Kubernetes ingress controller at scale, against a real
# kube-apiserver and etcd. For each count N (default 20000 100000):
#
#   - creates N Ingresses (one host each; the first $TLS, default 20,000,
#     with a TLS Secret each) over 100 Services whose EndpointSlices point
#     at an echo backend in a network namespace, with parallel client calls
#     (creation time is reported, not the measure);
#   - starts `pylon run --kubernetes` and measures the time from process
#     start to ready (every Ingress applied) and to every host verified
#     serving (HTTPS with SNI for the TLS hosts), and the RSS;
#   - creates $SAMPLES (100) more Ingresses one at a time and times each
#     from the apiserver write to its first 200 through Pylon (p50/p99),
#     with the compile+publish part from /debug/config;
#   - updates $CHURN_RATE (50) Ingresses a second for $CHURN_SECONDS (60) s
#     while a bounded load generator sends $LOAD_RPS (500) requests a second
#     to 127.0.0.1, and counts failed requests (must be zero).
#
# With SPLIT=1 the pylon under test is a gateway node fed through etcd by a
# controller started with --kubernetes-publish (the split deployment); the
# latencies are then apiserver write to first 200 on the node.
#
# Usage: [SPLIT=1] bench/kube.sh [N...]
# Needs root (network namespace). The benchmark is the Go test
# bench/kube.TestKubeScale, which reuses the test helpers that start the
# components; lines starting with RESULT are the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(20000 100000)
hack/testenv.sh etcd kube-apiserver >/dev/null
# PYLON_BIN: a pylon binary to measure (default: built from this tree).
if [ -z "${PYLON_BIN:-}" ]; then
	mkdir -p bin
	go build -o bin/pylon ./cmd/pylon
	PYLON_BIN=$PWD/bin/pylon
fi
export PYLON_BIN
echo "# ${SPLIT:+SPLIT=1 }bench/kube.sh ${counts[*]} — $(date -u +%Y-%m-%dT%H:%MZ), pylon $(git rev-parse --short HEAD), $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3)"
for n in "${counts[@]}"; do
	echo "## $n Ingresses"
	PYLON_BENCH_KUBE=1 INGRESSES=$n go test -count=1 -timeout 90m -run '^TestKubeScale$' -v ./bench/kube/ 2>&1 |
		tee "${TMPDIR:-/tmp}/pylon-kube-bench-$n.log" | grep -E '^RESULT|^(--- |FAIL|ok )' | sed 's/^RESULT /  /' || true
done
