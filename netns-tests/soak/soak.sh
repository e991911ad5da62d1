#!/usr/bin/env bash
# The soak (not a CTest test: it runs for minutes; its figures go to docs/soak.md). FLOWS
# concurrent TCP flows for MINUTES through the tunnel over a lossy emulated path, opened
# and closed all the time: each worker of the load generator (soak.py client, asyncio, in
# the client's namespace) opens a flow to one of 16 ports of an asyncio server on the LAN
# host, sends 1..8 chunks of up to 8 KiB with pauses of up to 200 ms, half-closes, reads up
# to 64 KiB back and the server's verdict on what it received, closes, and opens the next.
# Every byte is checked both ways against a pattern of its flow and offset (soak.py).
#
#   ns c: soak.py client -> tc0 -> ferry ══ ferry-wanem (ns w) ══ ferry -> egress sockets
#                                                                  (ns s) -> ns l: soak.py server
#   the topology is lib.sh's tunnel_up; this host samples both ferries from /proc.
#
# Asserted at the end: the load generator ran to its end, without an error of its own; no
# byte differed; every flow completed (none refused, reset, timed out); each ferry's RSS
# after the warm-up (the first fifth of the run) within +-5% of its median and its last
# sample within 5% of its first; its open descriptors bounded and not trending (the last
# minute's maximum no more than the first minute's after the warm-up, plus 2% or 16);
# every flow ended in both ferries once the load stopped, and the descriptors went back to
# their idle count; no error in either ferry's log.
#
# ferry's limits: the end that opens the flows (the server here) holds at most 16,384
# egress flows, TCP and UDP together (stack/egress.c's default), and one descriptor for
# each, so RLIMIT_NOFILE must exceed the flows; this script raises it for everything it
# starts.
#
# Usage: netns-tests/soak/soak.sh [FLOWS [MINUTES]]     (as root; default 10000 flows, 10)
# Environment: FERRY (default build/cli/ferry), FERRY_WANEM (build/netns-tests/ferry-wanem),
# SOAK_WANEM (the emulator's arguments, default "--rate 100M --delay 10 --loss 1 --seed 14"),
# SOAK_INTERVAL (seconds between samples, default 5), SOAK_KEEP (a directory to copy the
# samples, stats, status and logs into).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${FERRY:-$top/build/cli/ferry}
export FERRY_WANEM=${FERRY_WANEM:-$top/build/netns-tests/ferry-wanem}
# shellcheck source=netns-tests/soak/common.sh
. "$here/soak/common.sh"
interval=${SOAK_INTERVAL:-5}

netns_init
netns_require python3 ethtool

# ferry and both Python processes inherit the raised limit
soak_nofile soak

echo "soak: $flows flows for $minutes min ($seconds s, ramp $ramp s), wanem ${wanem_args[*]}"
echo "     ferry: $ferry, built $(date -u -r "$ferry" '+%F %T UTC'), sha256 $(sha_of "$ferry" | cut -c1-16)"
check "the tunnel comes up over ${wanem_args[*]}" tunnel_up "${wanem_args[@]}"
d=$tun_dir

# many short flows to one destination: ephemeral ports for the TIME_WAITs of a minute (the
# client's sockets and the server's egress sockets close first), and a deep accept queue
C sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
S sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
L sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192

lim_c=$(awk '/^Max open files/ { print $4 }' "/proc/${ferry_c_pid:?}/limits")
lim_s=$(awk '/^Max open files/ { print $4 }' "/proc/${ferry_s_pid:?}/limits")
echo "     RLIMIT_NOFILE: ferry client $lim_c, ferry server $lim_s, load generator $nofile"
check "the server ferry may open a descriptor per egress flow (limit $lim_s > $flows + 64)" \
	test "$lim_s" -gt $((flows + 64))

netns_bg "$l" python3 "$soak" server --host "$LAN4" --ports "$ports" --stats "$d/server.json"
wait_filled "$d/server.json" 10
check "the load's server listens on $ports" \
	wait_until 10 L sh -c "ss -Hltn 'sport = :9115' | grep -q ."

python3 "$soak" monitor --pid "client=$ferry_c_pid" --pid "server=$ferry_s_pid" \
	--interval "$interval" --out "$d/samples.jsonl" --ferry "$ferry" \
	--status "client=$c:tc0" --status "server=$s:ts0" \
	--client-stats "$d/client.json" --server-stats "$d/server.json" 2>"$d/monitor.err" &
monitor_pid=$!
NETNS_PIDS+=("$monitor_pid")
wait_filled "$d/samples.jsonl" 10

netns_bg "$c" timeout -k 10 $((seconds + drain + 60)) python3 "$soak" client --host "$LAN4" \
	--ports "$ports" --flows "$flows" --seconds "$seconds" --ramp "$ramp" --drain "$drain" \
	--stats "$d/client.json"
client_pid=${NETNS_PIDS[-1]}
progress() {
	python3 - "$d/client.json" "$d/samples.jsonl" <<-'EOF' || true
		import json, sys
		c = json.load(open(sys.argv[1]))
		s = json.loads(open(sys.argv[2]).readlines()[-1])
		print("     %5.0f s %-5s open %5d, completed %7d, failed %5d, down %6.0f MB checked;"
		      " RSS client %.1f MiB, server %.1f MiB; fds %d, %d"
		      % (c["t"], c["phase"], c["open"], c["completed"], c["failed_total"],
		         c["down_checked"] / 1e6, s["client"]["rss_kib"] / 1024,
		         s["server"]["rss_kib"] / 1024, s["client"]["fds"], s["server"]["fds"]))
	EOF
}
soak_wait_client "$client_pid" progress

# every flow ended at both ends: no conversation left in the tunnel
no_conversations() {
	python3 - "$@" <<-'EOF'
		import json, subprocess, sys
		for ns, dev in ((sys.argv[1], "tc0"), (sys.argv[2], "ts0")):
		    out = subprocess.check_output(["ip", "netns", "exec", ns, sys.argv[3], "status",
		                                   "--json", dev], timeout=5)
		    i = json.loads(out)["interface"]
		    assert i["tunnel"]["conversations"] == 0 and i["stack"]["tcp_flows"] == 0, i
	EOF
}
# (a conversation whose application is gone lingers 60 s at most: stack/bridge.c)
check "every flow ended in both ferries once the load stopped" \
	wait_until 90 no_conversations "$c" "$s" "$ferry"
# the kernel's view of what is left: the client's sockets, egress's, the LAN server's
tcp_states() {
	ip netns exec "$1" ss -Htan | awk -v who="$2" '{ n[$1]++ }
		END { printf "     %s sockets:", who; for (s in n) printf " %s %d", s, n[s]; print "" }'
}
tcp_states "$c" "client namespace"
tcp_states "$s" "server namespace (egress)"
tcp_states "$l" "LAN host"
sleep "$interval" # an idle sample for the monitor
sleep 1
# where each ferry's resident memory is: its heap (malloc) and the rest
for side in c s; do
	var="ferry_${side}_pid"
	awk -v who="$side" '/^[0-9a-f]+-[0-9a-f]+ / { heap = ($NF == "[heap]") }
		/^Rss:/ { if (heap) h += $2; else o += $2 }
		END { printf "     ferry %s resident: heap %.1f MiB, other mappings %.1f MiB\n",
			who == "c" ? "client" : "server", h / 1024, o / 1024 }' "/proc/${!var}/smaps"
done
kill -TERM "$monitor_pid"
wait "$monitor_pid" || true
check "the sampler ran to the end (both ferries alive)" test ! -s "$d/monitor.err"

fc status --json tc0 >"$d/status-c.json"
fs status --json ts0 >"$d/status-s.json"
rm -f "$d/wanem.stats"
kill -USR1 "$wanem_pid"
wait_filled "$d/wanem.stats" 5 && sed 's/^/     wanem: /' "$d/wanem.stats"

python3 "$soak" report --samples "$d/samples.jsonl" --client "$d/client.json" \
	--server "$d/server.json" --status "client=$d/status-c.json" \
	--status "server=$d/status-s.json" --seconds "$seconds" --verdicts "$d/verdicts" |
	sed 's/^/     /' || true
while IFS=$'\t' read -r verdict what; do
	check "$what" test "$verdict" = ok
done <"$d/verdicts"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

if [ -n "${SOAK_KEEP:-}" ]; then
	mkdir -p "$SOAK_KEEP"
	cp "$d"/samples.jsonl "$d"/client.json "$d"/server.json "$d"/status-c.json \
		"$d"/status-s.json "$d"/verdicts "$d"/c.log "$d"/s.log "$SOAK_KEEP"/
	cp "$d"/wanem.stats "$SOAK_KEEP"/ 2>/dev/null || true
fi
netns_finish
