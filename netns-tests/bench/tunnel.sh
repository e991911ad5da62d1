#!/usr/bin/env bash
# The tunnel's benchmark (not a test: its figures go to docs/benchmarks.md). One TCP
# stream (iperf3) for SECONDS through two ferries, beside plain kernel TCP with cubic and
# with bbr over the same path in the same run, on: a clean veth (no emulator); the
# emulator at 100 Mbit/s and 50 ms RTT with 0%, 1% and 5% random loss each way; and at
# 20 Mbit/s, 200 ms RTT, 2% loss. For ferry also the wire bytes it sent per payload byte
# delivered, and for every run the packets the emulator's queue dropped.
#
# Usage: netns-tests/bench/tunnel.sh [SECONDS]     (as root, after the build; default 20)
# The topology is the namespace suite's (netns-tests/lib.sh, tunnel_up).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${FERRY:-$top/build/cli/ferry}
export FERRY_WANEM=${FERRY_WANEM:-$top/build/netns-tests/ferry-wanem}
seconds=${1:-20}
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

peer_tx() {
	fc status --json tc0 | python3 -c 'import json, sys; print(json.load(sys.stdin)["peers"][0]["tx_bytes"])'
}

scenario() {
	local name=$1 q0 q1 q2 q3 tx0 tx1 cubic bbr fy
	shift
	netns_cleanup
	tunnel_up "$@" || { echo "$name: the tunnel did not come up" >&2; return 1; }
	netns_bg "$s" iperf3 -s >/dev/null 2>&1
	wait_until 5 S sh -c "ss -Hltn 'sport = :5201' | grep -q ."
	q0=$(qdrops)
	read -r cubic _ < <(run "$WAN_S4" cubic)
	q1=$(qdrops)
	read -r bbr _ < <(run "$WAN_S4" bbr)
	q2=$(qdrops)
	tx0=$(peer_tx)
	read -r fy bytes < <(run "$TUN_S4")
	tx1=$(peer_tx)
	q3=$(qdrops)
	printf '%-34s %8s %8s %8s %10s %9s %9s %9s\n' "$name" "$cubic" "$bbr" "$fy" \
		"$(awk -v w=$((tx1 - tx0)) -v b="$bytes" 'BEGIN { if (b > 0) printf "%.2f", w / b; else print "-" }')" \
		$((q1 - q0)) $((q2 - q1)) $((q3 - q2))
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
