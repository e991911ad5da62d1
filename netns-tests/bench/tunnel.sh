#!/usr/bin/env bash
# The tunnel's benchmark (not a test: its figures go to docs/benchmarks.md). One TCP
# stream (iperf3) for SECONDS through two ferries, beside plain kernel TCP with cubic and
# with bbr over the same path in the same run, on: a clean veth (no emulator); the
# emulator at 100 Mbit/s and 50 ms RTT with 0%, 1% and 5% random loss each way; and at
# 20 Mbit/s, 200 ms RTT, 2% loss. For ferry also the wire bytes it sent per payload byte
# delivered, and for every run the packets the emulator's queue dropped.
#
# A second table: the latency of a 64-byte request/response (tools.py rr, TCP_NODELAY, to
# an rr-server on the server), through the tunnel and by kernel TCP straight over the
# emulator, idle and loaded. Requests go one at a time, each 20 ms after the previous
# reply; at most 500 of them and none after SECONDS-3 s, so a run holds 500 at most (fewer
# on long RTTs: the n column, the fewest of a row's four runs; under 100, p99 is the max).
# Idle: before any bulk run. Loaded: during the bulk run of the first table on the same
# route (the cubic run for kernel TCP, the ferry run for the tunnel), from 2 s into it, so
# that both run at once; its few bytes are inside that run's goodput and wire figures.
# The path's base RTT is ping's minimum over the WAN (no tunnel), idle; each p99 is also
# shown as a multiple of the emulated RTT (twice --delay). Goal at 5% loss for the
# tunnel: p99 <= 1.3 x RTT idle, <= 1.5 x RTT loaded.
#
# Usage: netns-tests/bench/tunnel.sh [SECONDS]     (as root, after the build; default 20)
# BENCH_ONLY=REGEX runs only the paths whose name matches (e.g. BENCH_ONLY='5% loss').
# The topology is the namespace suite's (netns-tests/lib.sh, tunnel_up).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${FERRY:-$top/build/cli/ferry}
export FERRY_WANEM=${FERRY_WANEM:-$top/build/netns-tests/ferry-wanem}
seconds=${1:-20}
rr_seconds=$((seconds > 5 ? seconds - 3 : 2))
latency=()
netns_init
netns_require iperf3 python3 ethtool

# qdrops: the emulator's queue drops so far, both directions (its stats file, on SIGUSR1)
qdrops() {
	[ -n "${wanem_pid:-}" ] && [ "${TUN_DIRECT:-0}" != 1 ] || { echo 0; return; }
	rm -f "$tun_dir/wanem.stats"
	kill -USR1 "$wanem_pid"
	wait_for "$tun_dir/wanem.stats" 2 || true
	awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^qdrop=/) s += substr($i, 7) } END { print s + 0 }' \
		"$tun_dir/wanem.stats"
}

# run DEST [CC]: one iperf3 stream from the client; prints the receiver's Mbit/s and bytes
run() {
	local cc=()
	[ -n "${2:-}" ] && cc=(-C "$2")
	C iperf3 -c "$1" -t "$seconds" -J "${cc[@]}" 2>/dev/null | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]["sum_received"]
print("%.1f %d" % (e["bits_per_second"] / 1e6, e["bytes"]))' || echo "- 0"
}

# rr_start DEST NAME [DELAY]: in the background, after DELAY seconds (default 0), the
# request/response run to DEST, its result line into $tun_dir/rr-NAME; its PID in rr_pid.
rr_start() {
	# shellcheck disable=SC2016 # expanded by that bash, from its arguments
	netns_bg "$c" bash -c 'sleep "$1"; shift; exec timeout "$@"' rr "${3:-0}" \
		$((seconds + 30)) python3 "$here/tools.py" rr "$1" 5300 500 "$tun_dir/rr-$2" 20 \
		"$rr_seconds" >/dev/null 2>&1
	rr_pid=${NETNS_PIDS[-1]}
}

# rr_field NAME KEY: KEY's value in rr run NAME's result ("-" if it gave none)
rr_field() {
	sed -n "s/.*\<$2=\([0-9.]*\).*/\1/p" "$tun_dir/rr-$1" 2>/dev/null | grep . || echo -
}

# rr_cells NAME...: appends to cells, per rr run, "p50/p99" and p99 as a multiple of the
# emulated RTT (- without one)
rr_cells() {
	local r p99
	for r in "$@"; do
		p99=$(rr_field "$r" p99)
		cells+=("$(rr_field "$r" p50)/$p99"
			"$(awk -v p="$p99" -v r="$rtt" 'BEGIN { if (r > 0 && p != "-") printf "%.2f", p / r; else print "-" }')")
	done
}

# base_rtt: ping's minimum over the WAN, in ms
base_rtt() {
	{ C ping -q -n -c 40 -i 0.05 -W 2 "$WAN_S4" 2>/dev/null || true; } |
		awk -F'[/ ]' '/^rtt|^round-trip/ { printf "%.2f", $7; found = 1 } END { if (!found) print "-" }'
}

peer_tx() {
	fc status --json tc0 | python3 -c 'import json, sys; print(json.load(sys.stdin)["peers"][0]["tx_bytes"])'
}

scenario() {
	local name=$1 q0 q1 q2 q3 tx0 tx1 cubic bbr fy base n a i r
	shift
	[[ -z ${BENCH_ONLY:-} || $name =~ $BENCH_ONLY ]] || return 0
	# the emulated RTT: twice the one-way --delay (0: no emulator, no ratio)
	rtt=0
	a=("$@")
	for ((i = 0; i + 1 < ${#a[@]}; i++)); do
		[ "${a[i]}" = --delay ] && rtt=$((2 * ${a[i + 1]}))
	done
	netns_cleanup
	tunnel_up "$@" || { echo "$name: the tunnel did not come up" >&2; return 1; }
	netns_bg "$s" iperf3 -s >/dev/null 2>&1
	netns_bg "$s" python3 "$here/tools.py" rr-server 0.0.0.0 5300 >/dev/null 2>&1
	wait_until 5 S sh -c "ss -Hltn 'sport = :5201' | grep -q ."
	wait_until 5 S sh -c "ss -Hltn 'sport = :5300' | grep -q ."
	base=$(base_rtt)
	rr_start "$TUN_S4" ferry-idle
	wait "$rr_pid" || true
	rr_start "$WAN_S4" tcp-idle
	wait "$rr_pid" || true
	q0=$(qdrops)
	rr_start "$WAN_S4" tcp-loaded 2
	read -r cubic _ < <(run "$WAN_S4" cubic)
	wait "$rr_pid" || true
	q1=$(qdrops)
	read -r bbr _ < <(run "$WAN_S4" bbr)
	q2=$(qdrops)
	tx0=$(peer_tx)
	rr_start "$TUN_S4" ferry-loaded 2
	read -r fy bytes < <(run "$TUN_S4")
	wait "$rr_pid" || true
	tx1=$(peer_tx)
	q3=$(qdrops)
	printf '%-34s %8s %8s %8s %10s %9s %9s %9s\n' "$name" "$cubic" "$bbr" "$fy" \
		"$(awk -v w=$((tx1 - tx0)) -v b="$bytes" 'BEGIN { if (b > 0) printf "%.2f", w / b; else print "-" }')" \
		$((q1 - q0)) $((q2 - q1)) $((q3 - q2))
	n=$(for r in ferry-idle ferry-loaded tcp-idle tcp-loaded; do rr_field "$r" n; done |
		awk '$1 == "-" { m = "-" } m != "-" && (m == "" || $1 < m) { m = $1 } END { print m }')
	cells=()
	rr_cells ferry-idle ferry-loaded tcp-idle tcp-loaded
	latency+=("$(printf '%-34s %7s %7s %4s | %13s %5s %13s %5s | %13s %5s %13s %5s' \
		"$name" "$base" "$([ "$rtt" -gt 0 ] && echo "$rtt" || echo -)" "$n" "${cells[@]}")")
}

echo "One TCP stream for $seconds s; goodput in Mbit/s at the receiver (iperf3); ferry's wire"
echo "bytes (its UDP payload sent, headers, FEC and retransmissions included) per payload byte;"
echo "packets the emulator's queue dropped during each run."
printf '%-34s %8s %8s %8s %10s %9s %9s %9s\n' "path" "cubic" "bbr" "ferry" "ferry w/p" \
	"qdrop c" "qdrop b" "qdrop f"
TUN_DIRECT=1 scenario "clean veth, no emulator"
TUN_DIRECT=0
scenario "100 Mbit/s, 50 ms RTT, 0% loss" --delay 25 --rate 100M --seed 1
scenario "100 Mbit/s, 50 ms RTT, 1% loss" --delay 25 --rate 100M --loss 1 --seed 1
scenario "100 Mbit/s, 50 ms RTT, 5% loss" --delay 25 --rate 100M --loss 5 --seed 1
scenario "20 Mbit/s, 200 ms RTT, 2% loss" --delay 100 --rate 20M --loss 2 --seed 1
netns_cleanup
echo
echo "64-byte request/response, one at a time, 20 ms apart: p50/p99 in ms, and p99 as a"
echo "multiple of the emulated RTT (x RTT); idle, and loaded (beside the bulk run above);"
echo "base: ping's minimum over the WAN; n: the fewest requests answered in the row's runs."
printf '%-34s %7s %7s %4s | %13s %5s %13s %5s | %13s %5s %13s %5s\n' "path" "base ms" \
	"RTT ms" "n" "ferry idle" "x RTT" "ferry loaded" "x RTT" "TCP idle" "x RTT" \
	"TCP+cubic load" "x RTT"
printf '%s\n' "${latency[@]}"
