#!/usr/bin/env bash
# The tunnel over a clean wire, with Debian's own programs at both ends: ping, 200 MB each
# way with equal sha256, backpressure from a slow reader, 200 concurrent HTTP downloads,
# refused and unreachable destinations, who may reach what (AllowedIPs, Egress, the
# server's own addresses), flows opened by the server, UDP echo, DNS, IPv6 inside, ferry
# status, and nothing of ferry's left after ferry down, SIGTERM or SIGKILL. The topology is
# lib.sh's tunnel_up.
#
# Usage: tunnel.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: tunnel.sh FERRY-BINARY}

netns_init
netns_require socat curl dig dnsmasq ethtool python3

check "the tunnel comes up (ferry up at both ends, a ping crosses)" tunnel_up
d=$tun_dir

# ---- services on the LAN host behind the server ------------------------------------------------
mkdir -p "$d/www"
for i in $(seq 1 200); do
	head -c $((16384 + i * 997)) /dev/urandom >"$d/www/f$i"
done
# (tools.py's server: busybox httpd's listen backlog of 9 overflows when 200 connections
# open at once, and the downloads then measure the kernel's SYN-ACK retries, not ferry)
netns_bg "$l" python3 "$here/tools.py" http-server "$LAN4" 80 "$d/www"
netns_bg "$l" python3 "$here/tools.py" http-server "$LAN6" 80 "$d/www"
netns_bg "$l" socat -T 10 UDP-RECVFROM:7,bind="$LAN4",fork PIPE
netns_bg "$l" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
	--listen-address="$LAN4" --user=root --pid-file="$d/dnsmasq.pid" \
	--address=/ferry.test/"$LAN4" --log-facility=/dev/null
head -c 200M /dev/urandom >"$d/big"
big_sha=$(sha_of "$d/big")
wait_until 5 L sh -c "[ \$(ss -Hltn 'sport = :80' | wc -l) = 2 ]"
wait_until 5 L sh -c "ss -Hlun 'sport = :53' | grep -q ."

# ---- ICMP ------------------------------------------------------------------------------
check "ping the server's tunnel address" C ping -c 3 -i 0.2 -W 2 "$TUN_S4"
check "ping a host on the server's LAN" C ping -c 3 -i 0.2 -W 2 "$LAN4"
check "ping6 a host on the server's LAN" C ping -6 -c 3 -i 0.2 -W 2 "$LAN6"

# ---- 200 MB each way, every byte ---------------------------------------------------------
netns_bg "$l" bash -c "socat -u TCP-LISTEN:5001,bind=$LAN4,reuseaddr STDOUT | sha256sum >'$d/up.sha'"
netns_bg "$l" socat -u FILE:"$d/big" TCP-LISTEN:5002,bind="$LAN4",reuseaddr
wait_until 5 L sh -c "ss -Hltn 'sport = :5002' | grep -q ."
t0=$(date +%s.%N)
C socat -u FILE:"$d/big" TCP:"$LAN4":5001
wait_filled "$d/up.sha" 20 || true
t1=$(date +%s.%N)
check "200 MB client -> server, sha256 equal" test "$(cut -d' ' -f1 "$d/up.sha")" = "$big_sha"
C socat -u TCP:"$LAN4":5002 STDOUT | sha256sum >"$d/down.sha"
t2=$(date +%s.%N)
check "200 MB server -> client, sha256 equal" test "$(cut -d' ' -f1 "$d/down.sha")" = "$big_sha"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "     200 MB up in %.1f s (%.0f Mbit/s), down in %.1f s (%.0f Mbit/s)\n",
		b - a, 1677.7216 / (b - a), c - b, 1677.7216 / (c - b) }'

# ---- backpressure: a slow reader holds the sender back, ferry's memory stays bounded -------
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
netns_bg "$l" python3 "$here/tools.py" slow-recv "$LAN4" 5004 8000000 6 "$d/slow.sha"
wait_until 5 L sh -c "ss -Hltn 'sport = :5004' | grep -q ."
netns_bg "$c" socat -u FILE:"$d/big" TCP:"$LAN4":5004
sleep 5
acked=$(C ss -Htin dst "$LAN4:5004" | sed -n 's/.*bytes_acked:\([0-9]*\).*/\1/p')
rss_c=$(rss_kib "$ferry_c_pid") rss_s=$(rss_kib "$ferry_s_pid")
echo "     after 5 s of a reader taking 1 MB/s: ${acked:-?} bytes left the sender;" \
	"ferry RSS client ${rss_c} KiB, server ${rss_s} KiB"
# 5 MB read, plus what the windows and buffers on the way hold (bounded, docs/operations.md)
check "a slow reader throttles the sender: under 40 MB sent in 5 s, not 200" \
	test "${acked:-999999999}" -lt 40000000
check "ferry's memory stays bounded under it (RSS under 100 MiB at both ends)" \
	test "$rss_c" -lt 102400 -a "$rss_s" -lt 102400
wait_filled "$d/slow.sha" 60 || true
check "... and every byte arrives once the reader speeds up" \
	test "$(cut -d' ' -f1 "$d/slow.sha")" = "$big_sha"

# ---- 200 connections at once -----------------------------------------------------------
: >"$d/curl.cfg"
for i in $(seq 1 200); do
	printf 'url = "http://%s/f%d"\noutput = "%s/got/f%d"\n' "$LAN4" "$i" "$d" "$i" >>"$d/curl.cfg"
done
mkdir -p "$d/got"
C curl -s -S --no-progress-meter --fail --parallel --parallel-immediate --parallel-max 200 --max-time 60 \
	-K "$d/curl.cfg" || true
check "200 concurrent downloads, every byte equal" diff -r "$d/www" "$d/got"

# ---- refused, unreachable ---------------------------------------------------------------
# socat says what connect() returned: the application sees the far side's answer
connect_error() {
	local start
	start=$(date +%s%N)
	C socat -T 3 - "TCP:$1,connect-timeout=10" </dev/null >"$d/connect" 2>&1 || true
	connect_ms=$((($(date +%s%N) - start) / 1000000))
	grep -q "$2" "$d/connect"
}
check "a closed port: Connection refused" connect_error "$LAN4:81" "Connection refused"
unreach=no
connect_error "$NOROUTE4:80" "Network is unreachable" && unreach=yes
check "a destination the server has no route to: unreachable at once ($connect_ms ms)" \
	test "$unreach" = yes -a "$connect_ms" -lt 3000
# 10.99.0.77 is routed into the device (the Address's subnet) but no peer holds it
check "a destination of no peer: ICMP unreachable, not silence" \
	bash -c "ip netns exec '$c' ping -c 1 -W 3 10.99.0.77 | grep -q Unreachable"
# ---- who may reach what ------------------------------------------------------------------
netns_bg "$l" socat TCP-LISTEN:8081,bind="$LAN4",reuseaddr,fork PIPE
netns_bg "$s" socat TCP-LISTEN:9000,bind=192.0.2.1,reuseaddr,fork PIPE
netns_bg "$s" socat TCP-LISTEN:9001,bind="$TUN_S4",reuseaddr,fork PIPE
wait_until 5 S sh -c "ss -Hltn 'sport = :9001' | grep -q ."
wait_until 5 L sh -c "ss -Hltn 'sport = :8081' | grep -q ."
echo_through() { [ "$(echo "$2" | C socat -T 3 - "TCP:$1" 2>/dev/null)" = "$2" ]; }
check "the server's tunnel address is reachable (a service on 10.99.0.1)" \
	echo_through "$TUN_S4:9001" tunnel-address
check "the server's other addresses are not: 192.0.2.1 is denied at once" \
	connect_error 192.0.2.1:9000 "No route to host"
check "a destination the server's Egress rules deny is denied at once" \
	connect_error "$LAN4:8081" "No route to host"
C ip addr add 10.99.0.50/32 dev tc0
check "a source outside the client's AllowedIPs at the server is refused" \
	bash -c "ip netns exec '$c' socat -T 3 - TCP:$LAN4:80,bind=10.99.0.50,connect-timeout=10 </dev/null 2>&1 | grep -q 'No route to host'"
check "the server counted the denials" python3 -c "
import json, subprocess
i = json.loads(subprocess.check_output(['ip', 'netns', 'exec', '$s', '$ferry', 'status', '--json', 'ts0']))['interface']
assert i['egress']['denied'] >= 2, i['egress']"

# ---- the server end opens flows too, while the client's run -------------------------------
head -c 20M /dev/urandom >"$d/mid"
netns_bg "$c" bash -c "socat -u TCP-LISTEN:7000,bind=$TUN_C4,reuseaddr STDOUT | sha256sum >'$d/to-client.sha'"
wait_until 5 C sh -c "ss -Hltn 'sport = :7000' | grep -q ."
netns_bg "$l" socat -u FILE:"$d/mid" TCP-LISTEN:5003,bind="$LAN4",reuseaddr
wait_until 5 L sh -c "ss -Hltn 'sport = :5003' | grep -q ."
netns_bg "$s" socat -u FILE:"$d/mid" TCP:"$TUN_C4":7000
C socat -u TCP:"$LAN4":5003 STDOUT | sha256sum >"$d/from-lan.sha"
wait_filled "$d/to-client.sha" 20 || true
check "server -> client (opened by the server) and client -> LAN at once, both intact" \
	bash -c "[ \"\$(cut -d' ' -f1 '$d/to-client.sha')\" = '$(sha_of "$d/mid")' ] &&
		[ \"\$(cut -d' ' -f1 '$d/from-lan.sha')\" = '$(sha_of "$d/mid")' ]"

# ---- UDP and DNS ------------------------------------------------------------------------
check "UDP echo through the tunnel" \
	bash -c "echo ferry-udp-echo | ip netns exec '$c' socat -T 3 - UDP:$LAN4:7 | grep -qx ferry-udp-echo"
check "a DNS lookup through the tunnel (UDP)" \
	bash -c "[ \"\$(ip netns exec '$c' dig +short +time=2 +tries=2 @$LAN4 ferry.test)\" = $LAN4 ]"
check "a DNS lookup through the tunnel (TCP)" \
	bash -c "[ \"\$(ip netns exec '$c' dig +tcp +short +time=2 +tries=2 @$LAN4 ferry.test)\" = $LAN4 ]"

# ---- IPv6 inside the tunnel --------------------------------------------------------------
check "HTTP over IPv6 inside the tunnel, bytes equal" \
	bash -c "ip netns exec '$c' curl -sS --fail -g --max-time 10 'http://[$LAN6]/f7' | cmp - '$d/www/f7'"
check "the server's tunnel address over IPv6 (ping6)" C ping -6 -c 2 -i 0.2 -W 2 "$TUN_S6"

# ---- status ------------------------------------------------------------------------------
fc status tc0 >"$d/status.txt"
check "each namespace's ferry status shows its own tunnel only" \
	bash -c "[ \"\$(ip netns exec '$c' '$ferry' status | grep -c '^interface:')\" = 1 ] &&
		ip netns exec '$s' '$ferry' status | grep -q '^interface: ts0' &&
		! ip netns exec '$s' '$ferry' status | grep -q '^interface: tc0'"
check "ferry status: the peer is up, with its endpoint" \
	grep -q "endpoint: $WAN_S4:$TUN_PORT" "$d/status.txt"
check "ferry status: state up" grep -q "state: up" "$d/status.txt"
fc status --json >"$d/status.json"
check "ferry status --json: valid JSON, schema version 1, bytes counted, no conversation given up" python3 -c "
import json, sys
v = json.load(open('$d/status.json'))
p = v[0]['peers'][0]
assert v[0]['version'] == 1 and v[0]['interface']['name'] == 'tc0'
assert p['state'] == 'up' and p['tx_bytes'] > 200e6 and p['rx_bytes'] > 200e6
t = v[0]['interface']['tunnel']  # no conversation reset for silence, idleness or linger
assert t['dead'] == 0 and t['idle'] == 0 and t['lingered'] == 0, t
"
kill -USR1 "$ferry_c_pid"
check "SIGUSR1 writes the counters to the log" wait_until 3 grep -q "peer: " "$d/c.log"

# ---- nothing left behind ------------------------------------------------------------------
check "ferry down tc0" fc down tc0
wait "$ferry_c_pid" 2>/dev/null || true
check "after ferry down: no device, address, route or socket of ferry's" \
	test -z "$(ferry_leftovers "$c" tc0)"
ferry_stop s TERM
check "after SIGTERM: nothing left" test -z "$(ferry_leftovers "$s" ts0)"
ferry_start s
ferry_stop s KILL
check "after SIGKILL the kernel takes the device, routes and addresses" \
	test -z "$(ip -n "$s" link show ts0 2>/dev/null)"
# a fresh namespace's ping_group_range ("1 0") keeps egress from pinging: said and counted
S sysctl -qw net.ipv4.ping_group_range="1 0"
check "the next start takes over the stale control socket" ferry_start s
check "a server whose pings are not permitted says so at start, with the fix" \
	grep -q 'ping_group_range (now "1 0") to include group 0' "$d/s.log"
ferry_start c
C ping -c 3 -i 0.3 -W 1 "$LAN4" >/dev/null 2>&1 || true
check "... and counts the pings it could not send" \
	bash -c "ip netns exec '$s' '$ferry' status --json ts0 | grep -q '\"pings_not_permitted\":[1-9]'"
fc down tc0 || true
wait "$ferry_c_pid" 2>/dev/null || true
check "ferry down ts0.conf (a config path, as wg-quick)" fs down "$d/ts0.conf"
wait "$ferry_s_pid" 2>/dev/null || true
check "nothing left at the end" test -z "$(ferry_leftovers "$s" ts0)"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
