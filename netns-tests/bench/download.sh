#!/usr/bin/env bash
# The download direction's cost at the client (not a test: its figures go to
# docs/benchmarks.md). One TCP stream from an iperf3 server on the LAN behind the server's
# ferry to the client (iperf3 -R), for SECONDS, through two ferries. What arrives at the
# client went through ferry's own TCP stack: the figures are what that stack wrote into
# the client's TUN (the interface's received packets and bytes: packets, and bytes per
# packet, toward the application) and the client ferry's CPU time per megabyte carried.
# ROUNDS runs on each path, one after the other; with FERRY_B set, each round runs that
# binary as well, right after $FERRY, so that two builds compare under the same load.
#
# Usage: netns-tests/bench/download.sh [SECONDS]     (as root, after the build; default 10)
# ROUNDS (default 2); FERRY, FERRY_B: the binaries; BENCH_ONLY=REGEX: only matching paths.
# The topology is the namespace suite's (netns-tests/lib.sh, tunnel_up).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry_a=${FERRY:-$top/build/cli/ferry}
export FERRY_WANEM=${FERRY_WANEM:-$top/build/netns-tests/ferry-wanem}
seconds=${1:-10}
rounds=${ROUNDS:-2}
netns_init
netns_require iperf3 python3

# tun_rx: packets and bytes the client's TUN received, i.e. that its ferry wrote
tun_rx() {
	ip -n "$c" -s -j link show tc0 | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["stats64"]["rx"]
print(s["packets"], s["bytes"])'
}

# cpu_ms PID: the process's user + system time so far, in ms
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

# one LABEL BINARY WANEM-ARGS...: one download through a fresh tunnel; prints its row
one() {
	local label=$1 p0 b0 p1 b1 t0 t1 mbit bytes
	ferry=$2
	shift 2
	TUN_DIRECT=0
	if [ "${1:-}" = --direct ]; then # one veth from client to server, no emulator
		TUN_DIRECT=1
		shift
	fi
	netns_cleanup
	tunnel_up "$@" || { echo "$label: the tunnel did not come up" >&2; return 1; }
	netns_bg "$l" iperf3 -s >/dev/null 2>&1
	wait_until 5 L sh -c "ss -Hltn 'sport = :5201' | grep -q ."
	read -r p0 b0 < <(tun_rx)
	# shellcheck disable=SC2154 # ferry_c_pid: set by tunnel_up (lib.sh)
	t0=$(cpu_ms "$ferry_c_pid")
	read -r mbit bytes < <(C iperf3 -c "$LAN4" -R -t "$seconds" -J 2>/dev/null | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]["sum_received"]
print("%.1f %d" % (e["bits_per_second"] / 1e6, e["bytes"]))' || echo "- 0")
	t1=$(cpu_ms "$ferry_c_pid")
	read -r p1 b1 < <(tun_rx)
	awk -v n="$label" -v g="$mbit" -v p=$((p1 - p0)) -v b=$((b1 - b0)) -v t=$((t1 - t0)) \
		-v d="$bytes" 'BEGIN {
		printf "%-44s %8s %10d %8.0f %10.2f\n", n, g, p, p ? b / p : 0,
			d ? t / (d / 1e6) : 0 }'
}

# path NAME WANEM-ARGS...: ROUNDS rounds on one path
path() {
	local name=$1 r
	shift
	[[ -z ${BENCH_ONLY:-} || $name =~ $BENCH_ONLY ]] || return 0
	for ((r = 1; r <= rounds; r++)); do
		one "$name" "$ferry_a" "$@"
		[ -n "${FERRY_B:-}" ] && one "$name (FERRY_B)" "$FERRY_B" "$@"
	done
	return 0
}

echo "One download (iperf3 -R) for $seconds s through two ferries, $rounds round(s) a path."
echo "Goodput at the client in Mbit/s; what the client's ferry wrote into its TUN; its CPU"
echo "time per MB delivered."
printf '%-44s %8s %10s %8s %10s\n' path Mbit/s packets B/packet "CPU ms/MB"
path "clean veth, no emulator" --direct
path "100 Mbit/s, 20 ms RTT, 1% loss" --delay 10 --rate 100M --loss 1 --seed 1
netns_cleanup
