#!/usr/bin/env bash
# Site-to-site: two gateways, each with a LAN behind it, joined by ferry over the emulated
# WAN (four namespaces and the emulator's). Hosts on either LAN reach the other LAN, both
# ways, over TCP, UDP, ping and IPv6; with EgressTransparent the far host sees the near
# host's own address, without it the far gateway's. A protocol ferry does not carry is
# refused with ICMP protocol unreachable. Forward = on turns forwarding on while ferry
# runs; afterwards both gateways' rules, routes, nftables and sysctls are as before.
#
#   ns h (host A)            ns c (gateway A)   ns w   ns s (gateway B)     ns l (host B)
#   192.168.1.10  -- lan --  192.168.1.1        WAN    192.0.2.1  -- lan --  192.0.2.10
#   fd01::10                 fd01::1                   2001:db8:5::1         2001:db8:5::10
#
# Usage: site.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: site.sh FERRY-BINARY}

netns_init
netns_require socat ethtool nft python3

HOST_A4=192.168.1.10 HOST_A6=fd01::10 GW_A4=192.168.1.1 GW_A6=fd01::1 LAN_S4=192.0.2.1
H() { ip netns exec "$h" "$@"; }

tunnel_wire
netns_add h h
ip link add lan0 netns "$c" type veth peer name eth0 netns "$h"
C ip addr add "$GW_A4/24" dev lan0
C ip addr add "$GW_A6/64" dev lan0 nodad
H ip addr add "$HOST_A4/24" dev eth0
H ip addr add "$HOST_A6/64" dev eth0 nodad
C ip link set lan0 up
H ip link set eth0 up
H ip route add default via "$GW_A4"
H ip -6 route add default via "$GW_A6"
L ip route add default via "$LAN_S4"
L ip -6 route add default via 2001:db8:5::1
wanem_up --delay 10
tunnel_configs
d=$tun_dir

site_configs() { # site_configs TRANSPARENT: both gateways' files
	(
		umask 077
		cat >"$d/tc0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$d/c.key")
			Address = $TUN_C4/24, $TUN_C6/64
			Forward = on
			EgressTransparent = $1

			[Peer]
			PublicKey = $(cat "$d/s.pub")
			Endpoint = $WAN_S4:$TUN_PORT
			AllowedIPs = $TUN_S4/32, $TUN_S6/128, 192.0.2.0/24, 2001:db8:5::/64
		EOF
		cat >"$d/ts0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$d/s.key")
			ListenPort = $TUN_PORT
			Address = $TUN_S4/24, $TUN_S6/64
			Forward = on
			EgressTransparent = $1

			[Peer]
			PublicKey = $(cat "$d/c.pub")
			AllowedIPs = $TUN_C4/32, $TUN_C6/128, 192.168.1.0/24, fd01::/64
		EOF
	)
}

state() { # a gateway's state, forwarding included
	routing_state "$1"
	ip netns exec "$1" sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}

# who is asking, on both hosts: TCP and UDP port 9000/9001 answer with the peer's address
for side in h l; do
	ns=${!side}
	[ "$side" = h ] && a4=$HOST_A4 a6=$HOST_A6 || a4=$LAN4 a6=$LAN6
	netns_bg "$ns" socat TCP4-LISTEN:9000,bind="$a4",reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR'
	netns_bg "$ns" socat TCP6-LISTEN:9000,bind="[$a6]",reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR'
	netns_bg "$ns" socat UDP4-RECVFROM:9001,bind="$a4",fork SYSTEM:'read -r _; echo $SOCAT_PEERADDR'
done
for ns in "$h" "$l"; do
	wait_until 5 ip netns exec "$ns" sh -c "ss -Hltn 'sport = :9000' | grep -c . | grep -qx 2"
	wait_until 5 ip netns exec "$ns" sh -c "ss -Hlun 'sport = :9001' | grep -q ."
done
tcp_from() { ip netns exec "$1" socat -T 3 - "TCP$2:$3:9000" </dev/null 2>/dev/null | seen; }
udp_from() { echo x | ip netns exec "$1" socat -T 3 - "UDP4:$2:9001" 2>/dev/null | seen; }

for ns in "$c" "$s"; do
	wait_until 5 ll_settled "$ns"
done
state "$c" >"$d/before-a"
state "$s" >"$d/before-b"
check "without ferry, host A does not reach host B" sh -c "! ip netns exec '$h' ping -c 1 -W 1 $LAN4"

# ---- the source-preserving gateways ----------------------------------------------------------
site_configs on
ferry_start s
ferry_start c
check "the tunnel comes up between the gateways" wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "Forward = on: forwarding is on while up" \
	test "$(C sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding | tr '\n' ' ')" = "1 1 "
check "host A -> host B over TCP; B sees A's own address" test "$(tcp_from "$h" 4 "$LAN4")" = "$HOST_A4"
check "host B -> host A over TCP; A sees B's own address" test "$(tcp_from "$l" 4 "$HOST_A4")" = "$LAN4"
check "... over IPv6, A -> B" test "$(tcp_from "$h" 6 "[$LAN6]")" = "$HOST_A6"
check "... over IPv6, B -> A" test "$(tcp_from "$l" 6 "[$HOST_A6]")" = "$LAN6"
check "host A -> host B over UDP, from A's own address" test "$(udp_from "$h" "$LAN4")" = "$HOST_A4"
check "host B -> host A over UDP, from B's own address" test "$(udp_from "$l" "$HOST_A4")" = "$LAN4"
check "ping host A -> host B" H ping -c 2 -i 0.2 -W 2 "$LAN4"
check "ping host B -> host A" L ping -c 2 -i 0.2 -W 2 "$HOST_A4"
check "the replies' path: ferry's rule and local table on gateway B" \
	sh -c "ip netns exec '$s' ip rule show | grep -q '^32763:.*fwmark 0xce55 lookup 52821 proto 77' &&
		ip -n '$s' route show table 52821 | grep -q '^local default dev ts0'"

# a protocol ferry does not carry: GRE from host A to host B is refused aloud
cat >"$d/gre.py" <<-'EOF'
	import socket, sys
	icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
	icmp.settimeout(3)
	gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
	gre.sendto(b"\0\0\x08\0" + b"x" * 20, (sys.argv[1], 0))
	while True:
	    data, src = icmp.recvfrom(2048)
	    hl = (data[0] & 15) * 4
	    if data[hl] == 3 and data[hl + 1] == 2 and data[hl + 8 + 9] == 47:
	        print("protocol unreachable from", src[0])
	        break
EOF
check "GRE to the other site: ICMP protocol unreachable, from the destination's address" \
	sh -c "ip netns exec '$h' python3 '$d/gre.py' $LAN4 | grep -qx 'protocol unreachable from $LAN4'"
check "... counted in ferry status" \
	sh -c "ip netns exec '$c' '$ferry' status tc0 | grep -q ' 1 of other protocols than TCP, UDP and ICMP refused'"

ferry_stop c
ferry_stop s
state "$c" >"$d/after-a"
state "$s" >"$d/after-b"
check "after both stopped: gateway A exactly as before (forwarding off again)" diff -u "$d/before-a" "$d/after-a"
check "... and gateway B" diff -u "$d/before-b" "$d/after-b"
diff -u "$d/before-b" "$d/after-b" || true

# ---- without EgressTransparent: the far gateway's address --------------------------------
site_configs off
ferry_start s
ferry_start c
check "without EgressTransparent the tunnel still comes up" wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "host A -> host B: B sees gateway B's LAN address" test "$(tcp_from "$h" 4 "$LAN4")" = "$LAN_S4"
check "host B -> host A: A sees gateway A's LAN address" test "$(tcp_from "$l" 4 "$HOST_A4")" = "$GW_A4"

# ---- a killed gateway: the next start puts it right --------------------------------------
ferry_stop s
site_configs on
ferry_start s
ferry_stop s KILL
check "a killed gateway leaves its rule and forwarding on" \
	sh -c "ip netns exec '$s' ip rule show | grep -q 'proto 77' && test \"\$(ip netns exec '$s' sysctl -n net.ipv4.ip_forward)\" = 1"
ferry_start s
check "the next start removes what it left and comes up" \
	sh -c "grep -q 'removed 2 rules left by a ferry that was killed' '$d/s.log' &&
		grep -q 'put back 2 sysctls changed by a ferry of this name that was killed' '$d/s.log'"
check "... and carries traffic again, source preserved" \
	wait_until 10 sh -c "ip netns exec '$h' socat -T 3 - TCP4:$LAN4:9000 </dev/null 2>/dev/null | grep -qx '$HOST_A4'"
ferry_stop c
ferry_stop s
state "$s" >"$d/after-kill"
check "after the kill and a clean stop: gateway B exactly as before" diff -u "$d/before-b" "$d/after-kill"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
