#!/usr/bin/env bash
# The soak's load without ferry (not a CTest test; its figures go to docs/soak.md): the
# same FLOWS workers and flows as soak.sh, over the same emulated path, carried by the
# kernel's own TCP, routed by the server's namespace. What the load alone makes of the
# path: how long a flow lives when FLOWS of them share it, whether any times out, and
# whether every byte arrives. soak.sh's figures for ferry read against these.
#
#   ns c: soak.py client --> c0 ══ ferry-wanem (ns w) ══ s0 --(routed)--> ns l: soak.py server
#
# The same as soak.sh: the emulator and its arguments, soak.py's client and server and their
# options, the ports, the ramp and the drain. Not the same: no tunnel, so the MTU is the
# veth's 1500 (the tunnel's is smaller) and each flow has the kernel's TCP end to end (its
# loss recovery, its congestion control: the namespaces' default, or SOAK_CC's, printed).
#
# Asserted: the load generator ran to its end without an error of its own. The flow
# verdicts (completed, timed out, bytes equal) are printed, not asserted: this is the
# reference, not ferry.
#
# Usage: netns-tests/soak/baseline.sh [FLOWS [MINUTES]]  (as root; default 10000 flows, 10)
# Environment: FERRY_WANEM (default build/netns-tests/ferry-wanem), SOAK_WANEM (default
# "--rate 100M --delay 10 --loss 1 --seed 14", as soak.sh), SOAK_CC (a congestion control
# for the client's and the LAN host's TCP: one the host lists in
# net.ipv4.tcp_allowed_congestion_control, as a namespace may pick no other), SOAK_KEEP (a
# directory to copy the load's statistics into).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
export FERRY_WANEM=${FERRY_WANEM:-$top/build/netns-tests/ferry-wanem}
# shellcheck source=netns-tests/soak/common.sh
. "$here/soak/common.sh"

netns_init
netns_require python3 ethtool

soak_nofile baseline

echo "baseline: $flows flows for $minutes min ($seconds s, ramp $ramp s) over kernel TCP," \
	"wanem ${wanem_args[*]}"
tunnel_wire
check "the emulator runs with ${wanem_args[*]}" wanem_up "${wanem_args[@]}"
d=$tun_dir
# the server's namespace routes between the path and the LAN
S sysctl -qw net.ipv4.ip_forward=1
C ip route add 192.0.2.0/24 via "$WAN_S4"
L ip route add default via 192.0.2.1
C sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
L sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
if [ -n "${SOAK_CC:-}" ]; then
	C sysctl -qw net.ipv4.tcp_congestion_control="$SOAK_CC"
	L sysctl -qw net.ipv4.tcp_congestion_control="$SOAK_CC"
fi
echo "     congestion control: client $(C sysctl -n net.ipv4.tcp_congestion_control)," \
	"LAN host $(L sysctl -n net.ipv4.tcp_congestion_control)"
check "the LAN host answers across the path" wait_until 10 C ping -c 1 -W 1 "$LAN4"

netns_bg "$l" python3 "$soak" server --host "$LAN4" --ports "$ports" --stats "$d/server.json"
wait_filled "$d/server.json" 10
check "the load's server listens on $ports" \
	wait_until 10 L sh -c "ss -Hltn 'sport = :9115' | grep -q ."

netns_bg "$c" timeout -k 10 $((seconds + drain + 60)) python3 "$soak" client --host "$LAN4" \
	--ports "$ports" --flows "$flows" --seconds "$seconds" --ramp "$ramp" --drain "$drain" \
	--stats "$d/client.json"
client_pid=${NETNS_PIDS[-1]}
figures() {
	python3 - "$d/client.json" <<-'EOF' || true
		import json, sys
		c = json.load(open(sys.argv[1]))
		print("     %5.0f s %-5s open %5d, completed %7d, failed %5d %s, down %6.0f MB checked"
		      % (c["t"], c["phase"], c["open"], c["completed"], c["failed_total"],
		         c["failed"] or "", c["down_checked"] / 1e6))
		if c["phase"] in ("done", "interrupted"):
		    dur = c.get("duration_s")
		    if dur:
		        print("     a completed flow's life (last 20,000): p50 %(p50)s s, p99 %(p99)s s,"
		              " max %(max)s s" % dur)
		    print("     flows started %d, at most %d open; up bytes confirmed %d; flows with"
		          " a mismatch: down %d, up %d"
		          % (c["started"], c["max_open"], c["up_confirmed"], c["down_mismatches"],
		             c["up_mismatches"]))
	EOF
}
soak_wait_client "$client_pid" figures
rm -f "$d/wanem.stats"
kill -USR1 "$wanem_pid"
wait_filled "$d/wanem.stats" 5 && sed 's/^/     wanem: /' "$d/wanem.stats"
if [ -n "${SOAK_KEEP:-}" ]; then
	mkdir -p "$SOAK_KEEP"
	cp "$d"/client.json "$d"/server.json "$SOAK_KEEP"/
fi
netns_finish
