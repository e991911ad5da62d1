#!/usr/bin/env bash
# Full-device mode: a client whose peer has AllowedIPs = 0.0.0.0/0, ::/0 sends everything
# through the tunnel -- to a host beyond the server, for IPv4, IPv6 and DNS -- while the
# tunnel's own datagrams keep the real route; ferry down, SIGTERM and a start after
# SIGKILL leave rules, routes (every table, both families), nftables and resolv.conf
# exactly as they were. With only 0.0.0.0/0, IPv6 is blocked, not leaked. Packets from
# the WAN addressed to the tunnel's address are dropped; with KillSwitch = on not even a
# socket bound to the WAN interface gets out, also while the server is down.
#
# The server forwards between its WAN and its LAN, so a packet that leaked around the
# tunnel would arrive too -- from the client's own WAN address. Through the tunnel it
# arrives from the server's LAN address (ferry's egress opens the connection), which is
# what the checks look for.
#
# Usage: fulldevice.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: fulldevice.sh FERRY-BINARY}

netns_init
netns_require socat dig dnsmasq ethtool nft python3

TUN_DIRECT=1 tunnel_wire
tunnel_configs
d=$tun_dir
LAN_S4=192.0.2.1 LAN_S6=2001:db8:5::1

# the plain routes a machine has: the client's default goes to the server, which forwards.
# The client's addresses are host addresses, so that only the default route reaches the
# server: were the server on-link, the main table's subnet route would carry the tunnel's
# datagrams whatever ferry did, and a loop could not show.
C ip addr del "$WAN_C4/24" dev c0
C ip addr add "$WAN_C4/32" dev c0
C ip -6 addr del "$WAN_C6/64" dev c0
C ip -6 addr add "$WAN_C6/128" dev c0 nodad
C ip route add default via "$WAN_S4" dev c0 onlink
C ip -6 route add default via "$WAN_S6" dev c0 onlink
S sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
L ip route add default via "$LAN_S4"
L ip -6 route add default via "$LAN_S6"

own_resolv_conf "$c"

full_config() { # full_config ALLOWEDIPS [KILLSWITCH]: the client's file
	(
		umask 077
		cat >"$d/tc0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$d/c.key")
			Address = $TUN_C4/24, $TUN_C6/64
			DNS = $LAN4, ferry.test
			KillSwitch = ${2:-off}

			[Peer]
			PublicKey = $(cat "$d/s.pub")
			Endpoint = $WAN_S4:$TUN_PORT
			AllowedIPs = $1
		EOF
	)
}

state() { routing_state "$c"; }

who_asks_up
asker4() { C socat -T 3 - TCP4:"$LAN4":9000 </dev/null 2>/dev/null | seen; }
asker6() { C socat -T 3 - TCP6:"[$LAN6]":9000 </dev/null 2>/dev/null | seen; }

# ---- before: the wire alone reaches the LAN host, from the client's own address ----------
check "without ferry the LAN host sees the client's WAN address (a leak would show)" \
	test "$(asker4)" = "$WAN_C4"
check "... and over IPv6 too" test "$(asker6)" = "$WAN_C6"
# the link-local address finishes its duplicate detection in the background: wait for it,
# or the comparisons below would see it arrive
wait_until 5 ll_settled "$c"
state >"$d/before"

# ---- up, everything through the tunnel ----------------------------------------------------
full_config "0.0.0.0/0, ::/0"
ferry_start s
ferry_start c
check "the tunnel comes up in full-device mode (a ping crosses)" \
	wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "ferry's rules: main without its default, then everything unmarked to table 52820" \
	sh -c "ip netns exec '$c' ip rule show | grep -q '^32764:.*lookup main suppress_prefixlength 0 proto 77' &&
		ip netns exec '$c' ip rule show | grep -q '^32765:.*not from all fwmark 0xce54 lookup 52820 proto 77' &&
		ip netns exec '$c' ip -6 rule show | grep -q '^32765:.*not from all fwmark 0xce54 lookup 52820 proto 77'"
check "table 52820 sends both families into tc0" \
	sh -c "ip -n '$c' route show table 52820 | grep -q '^default dev tc0' &&
		ip -n '$c' -6 route show table 52820 | grep -q '^default dev tc0'"
check "a host beyond the server is reached through the tunnel (it sees the server's LAN address)" \
	test "$(asker4)" = "$LAN_S4"
check "... over IPv6 too" test "$(asker6)" = "$LAN_S6"
check "the tunnel's own datagrams keep the real route (marked: c0, unmarked: tc0)" \
	sh -c "ip -n '$c' route get $WAN_S4 mark 0xce54 | grep -q 'dev c0' &&
		ip -n '$c' route get $WAN_S4 | grep -q 'dev tc0'"
check "the link's socket carries the mark" \
	sh -c "ip netns exec '$c' ss -Huanpe | grep 'ferry' | grep -q 'fwmark:0xce54'"
check "resolv.conf holds the configuration's server and search domain while up" \
	sh -c "ip netns exec '$c' cat /etc/resolv.conf | grep -qx 'nameserver $LAN4' &&
		ip netns exec '$c' cat /etc/resolv.conf | grep -qx 'search ferry.test'"
check "a name resolves through the tunnel (the DNS server sees the server's address)" \
	sh -c "test \"\$(ip netns exec '$c' dig +short +tries=2 +timeout=2 www.ferry.test)\" = '$LAN4' &&
		grep -q 'query\\[A\\] www.ferry.test from $LAN_S4' '$d/dns.log'"
check "src_valid_mark is on while up" test "$(C sysctl -n net.ipv4.conf.all.src_valid_mark)" = 1
check "without the kill switch, a socket bound to the WAN interface still gets out" \
	C ping -c 1 -W 2 -I c0 "$WAN_S4"

# a packet from the WAN addressed to the tunnel's address: dropped before routing
# (the server routes the client's tunnel address into its own TUN: a rule of the test's
# sends its pings over the WAN instead, for the moment)
S ip route add "$TUN_C4/32" via "$WAN_C4" dev s0 table 100
S ip rule add to "$TUN_C4" table 100 priority 100
S ping -c 3 -i 0.2 -W 1 "$TUN_C4" >/dev/null 2>&1 || true
S ip rule del to "$TUN_C4" table 100 priority 100
S ip route del "$TUN_C4/32" via "$WAN_C4" dev s0 table 100
check "packets from the WAN to the tunnel's address are dropped (3 counted in the raw chain)" \
	sh -c "ip netns exec '$c' nft list table inet ferry-tc0 |
		grep -q 'iifname != \"tc0\" ip daddr $TUN_C4 fib saddr type != local counter packets 3 '"
check "... for IPv6 too (the rule is there)" \
	sh -c "ip netns exec '$c' nft list table inet ferry-tc0 | grep -q 'ip6 daddr $TUN_C6 fib saddr type != local'"

# ---- down: exactly as before ---------------------------------------------------------------
C "$ferry" down tc0 >/dev/null
wait "$ferry_c_pid" 2>/dev/null || true
state >"$d/after-down"
check "after ferry down: rules, routes, nftables, resolv.conf and sysctl exactly as before" \
	diff -u "$d/before" "$d/after-down"
diff -u "$d/before" "$d/after-down" || true
check "... and the LAN host sees the client's WAN address again" test "$(asker4)" = "$WAN_C4"

# ---- SIGKILL leaves rules and resolv.conf; the next start puts them right ------------------
ferry_start c
wait_until 10 C ping -c 1 -W 1 "$TUN_S4" || true
ferry_stop c KILL
check "a killed ferry leaves its rules behind (the kernel cannot know)" \
	sh -c "ip netns exec '$c' ip rule show | grep -q 'proto 77'"
ferry_start c
check "the next start takes them over: tunnel up again" wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "... it said what it removed" grep -q "removed 4 rules left by a ferry that was killed" "$d/c.log"
check "... it put resolv.conf back before writing its own" \
	grep -q "put back /etc/resolv.conf as it was" "$d/c.log"
check "... and it has exactly its own two rules per family" \
	test "$(C ip rule show | grep -c 'proto 77')" = 2
ferry_stop c TERM
state >"$d/after-kill"
check "after SIGKILL, restart and SIGTERM: exactly as before" diff -u "$d/before" "$d/after-kill"
diff -u "$d/before" "$d/after-kill" || true

# ---- only 0.0.0.0/0: IPv6 is blocked, never leaked -------------------------------------------
full_config "0.0.0.0/0"
ferry_start c
check "IPv4-only full-device: IPv4 goes through the tunnel" \
	wait_until 10 sh -c "ip netns exec '$c' socat -T 3 - TCP4:$LAN4:9000 </dev/null | grep -qx '$LAN_S4'"
check "... IPv6 is refused by ferry, not sent around the tunnel" \
	sh -c "! ip netns exec '$c' socat -T 3 - TCP6:[$LAN6]:9000 </dev/null"
ferry_stop c TERM
state >"$d/after-v4"
check "... and afterwards exactly as before" diff -u "$d/before" "$d/after-v4"

# ---- the kill switch: nothing but the tunnel, also while the server is down ---------------
full_config "0.0.0.0/0, ::/0" on
ferry_stop s TERM
ferry_start c
check "kill switch: with the server down, a socket bound to the WAN interface is refused" \
	sh -c "! ip netns exec '$c' ping -c 1 -W 2 -I c0 $WAN_S4"
check "... and so is IPv6 bound to it" sh -c "! ip netns exec '$c' ping -6 -c 1 -W 2 -I c0 $WAN_S6"
check "... the reject rule counted them" \
	sh -c "ip netns exec '$c' nft list chain inet ferry-tc0 output | grep -q 'counter packets [1-9]'"
ferry_start s
check "... ferry's own datagrams pass: the tunnel comes up once the server is back" \
	wait_until 20 C ping -c 1 -W 1 "$TUN_S4"
check "... and carries traffic" test "$(asker4)" = "$LAN_S4"
check "... while the bound socket is still refused" \
	sh -c "! ip netns exec '$c' ping -c 1 -W 2 -I c0 $WAN_S4"
ferry_stop c TERM
state >"$d/after-ks"
check "after the kill switch: exactly as before" diff -u "$d/before" "$d/after-ks"
diff -u "$d/before" "$d/after-ks" || true

# ---- a failure half-way rolls back what was done -----------------------------------------
# resolv.conf read-only (in a mount namespace of ferry's own): the routes, rules, nftables
# table and sysctl are in place when writing it fails, and must all go again
set +e
C unshare -m sh -c 'mount --bind /etc/resolv.conf /etc/resolv.conf &&
	mount -o remount,bind,ro /etc/resolv.conf && exec "$@"' - \
	"$ferry" up "$d/tc0.conf" 2>"$d/rollback.log"
st_rollback=$?
set -e
state >"$d/after-rollback"
check "a failure half-way (read-only resolv.conf): ferry up fails and says why" \
	sh -c "test $st_rollback = 1 && grep -q 'DNS: writing /etc/resolv.conf: Read-only file system' '$d/rollback.log'"
check "... and leaves everything exactly as before" diff -u "$d/before" "$d/after-rollback"
diff -u "$d/before" "$d/after-rollback" || true

# ---- a second full-device ferry on the same table is refused, the first untouched ---------
full_config "0.0.0.0/0, ::/0"
ferry_start c
wait_until 10 C ping -c 1 -W 1 "$TUN_S4" || true
# (a key of its own: with tc0's, its handshake would move the server's session to it)
(
	umask 077
	sed -e 's/^Address = .*/Address = 10.98.0.2\/24/' \
		-e "s|^PrivateKey = .*|PrivateKey = $("$ferry" genkey)|" "$d/tc0.conf" >"$d/tc1.conf"
)
check "a second full-device ferry is refused while the first runs" \
	sh -c "! timeout 10 ip netns exec '$c' '$ferry' up '$d/tc1.conf' 2>'$d/c1.log'"
check "... saying why" grep -q "table 52820 is in use by another ferry" "$d/c1.log"
seen_now=$(asker4)
check "... and the first still carries traffic (seen: ${seen_now:-nothing})" test "$seen_now" = "$LAN_S4"
ferry_stop c TERM
ferry_stop s TERM
state >"$d/after-all"
check "at the end: exactly as before" diff -u "$d/before" "$d/after-all"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
