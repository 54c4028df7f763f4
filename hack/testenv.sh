#!/usr/bin/env bash
# testenv.sh installs or builds every real component that Pylon's tests and
# benchmarks run against, and prints one NAME=PATH line per component on
# stdout. Progress and errors go to stderr.
#
# Usage: hack/testenv.sh [--bench] [NAME...]
#
#   --bench   also provide the benchmark-only components (Caddy, benchstat).
#             PYLON_TESTENV_BENCH=1 does the same.
#   NAME...   provide only these components (lower case, e.g. h2spec caddy),
#             whether or not they are benchmark-only.
#
# Built components are cached under
# ${PYLON_TESTENV_CACHE:-$HOME/.cache/pylon-testenv}/<name>-<version>/, so a
# second run takes seconds; runs that start at once on a cold cache build
# each component once (a lock file per component in the cache), the others
# waiting for it. Debian packages are installed with apt-get, and
# `apt-get update` runs only when something is missing.
#
# Adding a component: write a function `component_<name>` that makes the
# component available and calls `emit NAME PATH`, list <name> in
# TEST_COMPONENTS or BENCH_COMPONENTS, and, if it comes from Debian, add its
# package to apt_package_for. Every component is run once after installation
# to prove it works; a component that cannot be provided fails the script.
set -euo pipefail

CACHE=${PYLON_TESTENV_CACHE:-$HOME/.cache/pylon-testenv}
BENCH=${PYLON_TESTENV_BENCH:-0}

# Components every test run needs.
TEST_COMPONENTS=(curl taskset procps wrk h2load nginx haproxy hyperfine shellcheck h2spec etcd redis dnsmasq zookeeper consul kube-apiserver kube-controller-manager promtool jaeger)
# Components only the benchmarks need (slow to build).
BENCH_COMPONENTS=(caddy benchstat)

# Pinned versions of Go-built components: the cache is keyed by version, and
# a pinned version makes CI reproducible. Bump them here.
H2SPEC_VERSION=v2.2.1+incompatible
CADDY_VERSION=v2.11.9
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
ETCD_VERSION=v3.7.3
PROMTOOL_VERSION=v0.316.0 # github.com/prometheus/prometheus's Go module tag of Prometheus 3.x
KUBE_VERSION=v1.36.3
JAEGER_VERSION=v1.75.0 # the newest approved release the Go module proxy serves (v1.76.0 is served but not approved)
# Consul after v1.16 is under the BSL, and so are the v1.16 patch releases
# from v1.16.4 on: v1.16.3 is the last one under the MPL. Never bump this past it.
CONSUL_VERSION=v1.16.3

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }
emit() { printf '%s=%s\n' "$1" "$2"; }

# ---------------------------------------------------------------------------
# Debian packages

# apt_package_for prints the Debian package and the binary it provides for a
# component, or nothing when the component does not come from Debian.
apt_package_for() {
	case $1 in
	curl) echo "curl /usr/bin/curl" ;;
	taskset) echo "util-linux /usr/bin/taskset" ;;
	procps) echo "procps /usr/bin/pgrep" ;;
	wrk) echo "wrk /usr/bin/wrk" ;;
	h2load) echo "nghttp2-client /usr/bin/h2load" ;;
	nginx) echo "nginx /usr/sbin/nginx" ;;
	haproxy) echo "haproxy /usr/sbin/haproxy" ;;
	hyperfine) echo "hyperfine /usr/bin/hyperfine" ;;
	shellcheck) echo "shellcheck /usr/bin/shellcheck" ;;
	redis) echo "redis-server /usr/bin/redis-server" ;;
	dnsmasq) echo "dnsmasq /usr/sbin/dnsmasq" ;;
	zookeeper) echo "zookeeper /usr/share/zookeeper/bin/zkServer.sh" ;;
	esac
}

APT_UPDATED=0

# apt_install installs the Debian packages given, running apt-get update
# first (once per run).
apt_install() {
	[ $# -gt 0 ] || return 0
	command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: $*"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	local out
	out=$(mktemp)
	if [ "$APT_UPDATED" = 0 ]; then
		log "apt-get update"
		$sudo apt-get update >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; die "apt-get update failed"; }
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@" >"$out" 2>&1 ||
		{ tail -40 "$out" >&2; rm -f "$out"; die "apt-get install $* failed"; }
	rm -f "$out"
}

# apt_prefetch installs, in one apt-get call, every missing Debian package
# among the components given, so that a fresh machine pays for one update
# and one install.
apt_prefetch() {
	local missing=() c spec pkg bin
	for c in "$@"; do
		spec=$(apt_package_for "$c")
		[ -n "$spec" ] || continue
		read -r pkg bin <<<"$spec"
		[ -x "$bin" ] || missing+=("$pkg")
	done
	apt_install "${missing[@]}"
}

# apt_tool makes sure the Debian package of component $1 is installed and
# prints the path of its binary.
apt_tool() {
	local spec pkg bin
	spec=$(apt_package_for "$1")
	read -r pkg bin <<<"$spec"
	[ -x "$bin" ] || apt_install "$pkg"
	[ -x "$bin" ] || die "$1: package $pkg installed but $bin is missing"
	echo "$bin"
}

# check runs a component's binary with arguments and fails unless its output
# matches the pattern. Exit codes are not trusted: several tools print their
# version or usage and exit non-zero.
check() {
	local name=$1 pattern=$2 out
	shift 2
	out=$("$@" 2>&1 </dev/null || true)
	if ! grep -Eq -- "$pattern" <<<"$out"; then
		log "$name: '$*' printed:"
		printf '%s\n' "$out" | head -20 >&2
		die "$name: '$*' does not work (expected output matching /$pattern/)"
	fi
}

# ---------------------------------------------------------------------------
# Go tools

# build_lock NAME takes the lock on NAME's cold build, waiting while another
# process holds it: test packages that start at once on a cold cache then
# build each tool once, and the others find it built. The lock is a file in
# the cache, released by build_unlock or when the process exits (a failed
# build's die too).
LOCK_FD=
build_lock() {
	mkdir -p "$CACHE"
	exec {LOCK_FD}>"$CACHE/.lock-$1"
	flock "$LOCK_FD"
}

build_unlock() {
	if [ -n "$LOCK_FD" ]; then
		exec {LOCK_FD}>&-
		LOCK_FD=
	fi
}

# go_tool builds a Go command into $CACHE/<name>-<version>/<binary> unless it
# is already there, and prints the binary's path. $1 is the component name,
# $2 the version, $3 the package path (without @version).
go_tool() {
	local name=$1 version=$2 pkg=$3
	local dir="$CACHE/$name-${version#v}" bin
	bin="$dir/$(basename "$pkg")"
	if [ ! -x "$bin" ]; then
		build_lock "$name"
	fi
	if [ ! -x "$bin" ]; then
		command -v go >/dev/null || die "$name: go is not on PATH"
		log "$name: go install $pkg@$version (cold build)"
		local tmp
		tmp=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
		# Build outside any module so the repository's go.mod cannot interfere.
		(cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS="" GO111MODULE=on go install "$pkg@$version") >"$tmp/build.log" 2>&1 ||
			{ grep -v '^go: downloading' "$tmp/build.log" | tail -40 >&2; rm -rf "$tmp"; die "$name: go install $pkg@$version failed"; }
		rm -rf "$dir"
		mkdir -p "$dir"
		mv "$tmp/bin/$(basename "$pkg")" "$bin"
		rm -rf "$tmp"
	fi
	build_unlock
	echo "$bin"
}

# go_module_tool builds a Go command that `go install pkg@version` refuses
# (its module's go.mod has `replace` lines, as etcd's server has) from a
# throwaway module generated in the cache dir, which requires the modules
# given; their own replace lines point into their source trees and are
# ignored for a dependency. It prints the binary's path. $1 is the component
# name (and the binary's), $2 the version, $3 the package path, and the rest
# are module@version pairs to require.
go_module_tool() {
	local name=$1 version=$2 pkg=$3
	shift 3
	local dir="$CACHE/$name-${version#v}" bin
	bin="$dir/$name"
	if [ ! -x "$bin" ]; then
		build_lock "$name"
	fi
	if [ ! -x "$bin" ]; then
		command -v go >/dev/null || die "$name: go is not on PATH"
		log "$name: go build $pkg in a throwaway module (cold build)"
		local tmp mod
		tmp=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
		{
			printf 'module pylon.io/testenv/%s\n\ngo 1.26\n\n' "$name"
			for mod in "$@"; do printf 'require %s %s\n' "${mod%@*}" "${mod#*@}"; done
		} >"$tmp/go.mod"
		printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$tmp/tools.go"
		(cd "$tmp" && export GOFLAGS="" GO111MODULE=on GOWORK=off &&
			go mod tidy && go build -o "$tmp/bin/$name" "$pkg") >"$tmp/build.log" 2>&1 ||
			{ grep -v '^go: downloading' "$tmp/build.log" | tail -40 >&2; rm -rf "$tmp"; die "$name: go build $pkg failed"; }
		rm -rf "$dir"
		mkdir -p "$dir"
		mv "$tmp/bin/$name" "$bin"
		rm -rf "$tmp"
	fi
	build_unlock
	echo "$bin"
}

# ---------------------------------------------------------------------------
# Components: one function each.

component_curl() {
	local b; b=$(apt_tool curl)
	check curl '^curl [0-9]' "$b" --version
	emit CURL "$b"
}

component_taskset() {
	local b; b=$(apt_tool taskset)
	check taskset 'taskset from util-linux' "$b" --version
	emit TASKSET "$b"
}

component_procps() {
	local b; b=$(apt_tool procps)
	check procps 'procps' "$b" --version
	emit PGREP "$b"
}

component_wrk() {
	local b; b=$(apt_tool wrk)
	check wrk '^wrk .*Copyright' "$b" --version
	emit WRK "$b"
}

component_h2load() {
	local b; b=$(apt_tool h2load)
	check h2load 'nghttp2/[0-9]' "$b" --version
	emit H2LOAD "$b"
}

component_nginx() {
	local b; b=$(apt_tool nginx)
	check nginx 'nginx version: nginx/[0-9]' "$b" -v
	emit NGINX "$b"
}

component_haproxy() {
	local b; b=$(apt_tool haproxy)
	check haproxy 'HAProxy version [0-9]' "$b" -v
	emit HAPROXY "$b"
}

component_hyperfine() {
	local b; b=$(apt_tool hyperfine)
	check hyperfine '^hyperfine [0-9]' "$b" --version
	emit HYPERFINE "$b"
}

component_shellcheck() {
	local b; b=$(apt_tool shellcheck)
	check shellcheck '^ShellCheck' "$b" --version
	emit SHELLCHECK "$b"
}

component_redis() {
	local b; b=$(apt_tool redis)
	check redis-server '^Redis server v=[0-9]' "$b" --version
	emit REDIS "$b"
}

component_dnsmasq() {
	local b; b=$(apt_tool dnsmasq)
	check dnsmasq '^Dnsmasq version [0-9]' "$b" --version
	emit DNSMASQ "$b"
}

# ZooKeeper is a Java server. The component is its jar (whose manifest names
# its dependencies), which tests run with
# `java -cp JAR org.apache.zookeeper.server.ZooKeeperServerMain CFG`: Debian's
# zkServer.sh reads the system-wide config and cannot be pointed elsewhere.
component_zookeeper() {
	apt_tool zookeeper >/dev/null
	local b=/usr/share/java/zookeeper.jar
	[ -f "$b" ] || die "zookeeper: package zookeeper installed but $b is missing"
	command -v java >/dev/null || die "zookeeper: java is not on PATH"
	check zookeeper '^Apache ZooKeeper, version 3\.' java -cp "$b" org.apache.zookeeper.version.VersionInfoMain
	emit ZOOKEEPER "$b"
}

component_h2spec() {
	local b; b=$(go_tool h2spec "$H2SPEC_VERSION" github.com/summerwind/h2spec/cmd/h2spec)
	check h2spec '^Version: ' "$b" --version
	emit H2SPEC "$b"
}

component_promtool() {
	local b; b=$(go_tool promtool "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool)
	check promtool '^promtool, version' "$b" --version
	emit PROMTOOL "$b"
}

component_jaeger() {
	local b
	b=$(go_module_tool jaeger "$JAEGER_VERSION" github.com/jaegertracing/jaeger/cmd/jaeger \
		"github.com/jaegertracing/jaeger@$JAEGER_VERSION")
	check jaeger '"gitVersion"' "$b" version
	emit JAEGER "$b"
}

component_etcd() {
	local b
	b=$(go_module_tool etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 \
		"go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION")
	check etcd '^etcd Version: 3\.' "$b" --version
	emit ETCD "$b"
}

# consul_tool builds the Consul agent of $CONSUL_VERSION into
# $CACHE/consul-<version>/consul and prints its path. Consul's go.mod points
# its api, sdk, ... submodules at its own tree and excludes two go-msgpack
# versions; the throwaway module takes the submodules at the versions Consul
# requires and copies the exclude lines.
consul_tool() {
	local v=${CONSUL_VERSION#v}
	local dir="$CACHE/consul-$v" bin
	bin="$dir/consul"
	if [ ! -x "$bin" ]; then
		build_lock "consul"
	fi
	if [ ! -x "$bin" ]; then
		command -v go >/dev/null || die "consul: go is not on PATH"
		log "consul: go build github.com/hashicorp/consul@$CONSUL_VERSION in a throwaway module (cold build, ~5 min)"
		local tmp
		tmp=$(mktemp -d "$CACHE/.build-consul.XXXXXX")
		printf 'module pylon.io/testenv/consul\n\ngo 1.26\n\nrequire github.com/hashicorp/consul %s\n\nexclude (\n\tgithub.com/hashicorp/go-msgpack v1.1.5\n\tgithub.com/hashicorp/go-msgpack v1.1.6\n)\n' \
			"$CONSUL_VERSION" >"$tmp/go.mod"
		printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/hashicorp/consul"\n' >"$tmp/tools.go"
		(cd "$tmp" && GOFLAGS="" GO111MODULE=on GOWORK=off go mod tidy &&
			GOFLAGS="" GO111MODULE=on GOWORK=off go build -ldflags "-s -w" -o "$tmp/bin/consul" github.com/hashicorp/consul) >"$tmp/build.log" 2>&1 ||
			{ grep -v '^go: downloading' "$tmp/build.log" | tail -40 >&2; rm -rf "$tmp"; die "consul: go build failed"; }
		rm -rf "$dir"
		mkdir -p "$dir"
		mv "$tmp/bin/consul" "$bin"
		rm -rf "$tmp"
	fi
	build_unlock
	echo "$bin"
}

component_consul() {
	local b; b=$(consul_tool)
	check consul "^Consul ${CONSUL_VERSION//./\\.}\$" "$b" version
	emit CONSUL "$b"
}

# kube_tool builds a Kubernetes command ($1, e.g. kube-apiserver) of
# $KUBE_VERSION into $CACHE/<name>-<version>/<name> and prints its path.
# k8s.io/kubernetes points its staging modules (k8s.io/api, client-go, ...)
# at its own source tree with replace lines, so the throwaway module, shared
# by all Kubernetes commands and kept in the cache, copies that replace block
# with the staging modules' matching v0.x tags.
kube_tool() {
	local name=$1 v=${KUBE_VERSION#v}
	local dir="$CACHE/$name-$v" bin mod="$CACHE/kube-module-$v"
	bin="$dir/$name"
	if [ ! -x "$bin" ]; then
		build_lock "kubernetes"
	fi
	if [ ! -x "$bin" ]; then
		command -v go >/dev/null || die "$name: go is not on PATH"
		if [ ! -f "$mod/.tidy" ]; then
			log "kubernetes $KUBE_VERSION: generating the build module (cold)"
			rm -rf "$mod"
			mkdir -p "$mod"
			printf 'module pylon.io/testenv/kubernetes\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n' "$KUBE_VERSION" >"$mod/go.mod"
			printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n)\n' >"$mod/tools.go"
			local gomod staging
			gomod=$(cd "$mod" && GOFLAGS="" GOWORK=off go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
				sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
			[ -f "$gomod" ] || die "kubernetes: go.mod of k8s.io/kubernetes@$KUBE_VERSION not found"
			# The staging modules are the replace targets under ./staging/;
			# sample-cli-plugin has no tag of this version and is not needed.
			staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod" | grep -v '^k8s.io/sample-cli-plugin$')
			[ -n "$staging" ] || die "kubernetes: no staging modules in $gomod"
			local m
			for m in $staging; do printf 'replace %s => %s v0.%s\n' "$m" "$m" "${v#1.}"; done >>"$mod/go.mod"
			(cd "$mod" && GOFLAGS="" GO111MODULE=on GOWORK=off go mod tidy) >"$mod/tidy.log" 2>&1 ||
				{ grep -v '^go: downloading' "$mod/tidy.log" | tail -40 >&2; die "kubernetes: go mod tidy failed"; }
			touch "$mod/.tidy"
		fi
		log "$name: go build k8s.io/kubernetes/cmd/$name (cold build)"
		local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
		ldflags+=" -X k8s.io/component-base/version.gitMajor=${v%%.*}"
		local minor=${v#*.}
		ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
		mkdir -p "$dir"
		(cd "$mod" && GOFLAGS="" GO111MODULE=on GOWORK=off go build -tags tools -ldflags "$ldflags" -o "$bin.tmp.$$" "k8s.io/kubernetes/cmd/$name") >"$dir/build.log.$$" 2>&1 ||
			{ grep -v '^go: downloading' "$dir/build.log.$$" | tail -40 >&2; rm -f "$bin.tmp.$$"; die "$name: go build failed"; }
		mv "$bin.tmp.$$" "$bin"
		rm -f "$dir/build.log.$$"
	fi
	build_unlock
	echo "$bin"
}

component_kube-apiserver() {
	local b; b=$(kube_tool kube-apiserver)
	check kube-apiserver "^Kubernetes ${KUBE_VERSION//./\\.}\$" "$b" --version
	emit KUBE_APISERVER "$b"
}

component_kube-controller-manager() {
	local b; b=$(kube_tool kube-controller-manager)
	check kube-controller-manager "^Kubernetes ${KUBE_VERSION//./\\.}\$" "$b" --version
	emit KUBE_CONTROLLER_MANAGER "$b"
}

component_caddy() {
	local b; b=$(go_tool caddy "$CADDY_VERSION" github.com/caddyserver/caddy/v2/cmd/caddy)
	# A `go install`ed Caddy reports its version as "unknown", so prove it
	# runs by listing the module the benchmarks use.
	check caddy '^http\.handlers\.reverse_proxy$' "$b" list-modules
	emit CADDY "$b"
}

component_benchstat() {
	local b; b=$(go_tool benchstat "$BENCHSTAT_VERSION" golang.org/x/perf/cmd/benchstat)
	check benchstat '^Usage: benchstat' "$b" -h
	emit BENCHSTAT "$b"
}

# ---------------------------------------------------------------------------

main() {
	local wanted=()
	while [ $# -gt 0 ]; do
		case $1 in
		--bench) BENCH=1 ;;
		-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
		-*) die "unknown flag $1" ;;
		*) wanted+=("$1") ;;
		esac
		shift
	done
	if [ ${#wanted[@]} -eq 0 ]; then
		wanted=("${TEST_COMPONENTS[@]}")
		[ "$BENCH" != 1 ] || wanted+=("${BENCH_COMPONENTS[@]}")
	fi
	local c
	for c in "${wanted[@]}"; do
		declare -F "component_$c" >/dev/null || die "unknown component $c"
	done
	mkdir -p "$CACHE"
	apt_prefetch "${wanted[@]}"
	for c in "${wanted[@]}"; do
		"component_$c"
	done
}

main "$@"
