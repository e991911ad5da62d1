#!/usr/bin/env bash
# Ten configurations written for wg-quick, as they are found in the wild, brought up by
# ferry in namespaces; each carries traffic and leaves nothing behind. They are in
# netns-tests/wgquick/NN-NAME/, one file per end (NS-IFACE.conf), with the keys filled in
# here: @C_KEY@ @C_PUB@ (the client, namespace c), @S_KEY@ @S_PUB@ (the server, s),
# @D_KEY@ @D_PUB@ (a second client, d), @PSK@, and @DIR@ (a directory for the hooks).
#
#   ┌── ns c ─────────────┐  veth   ┌── ns s ──────────────┐  veth  ┌── ns l ──────────┐
#   │ c0 198.51.100.1     ├─────────┤ s0   198.51.100.2    ├────────┤ eth0 192.0.2.10  │
#   │    2001:db8:77::1   │         │      2001:db8:77::2  │        └──────────────────┘
#   └─────────────────────┘         │ lan0 192.0.2.1       │
#   ┌── ns d ─────────────┐  veth   │ s1   198.51.101.2    │
#   │ d0 198.51.101.1     ├─────────┤ (02: a second client)│
#   └─────────────────────┘         └──────────────────────┘
#
# Usage: wgquick.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: wgquick.sh FERRY-BINARY}
netns_require socat

netns_init

# scenario_wire: the namespaces of the picture (d only joined by 02), each with a
# resolv.conf of its own for DNS to change; new keys.
scenario_wire() {
	TUN_DIRECT=1 tunnel_wire
	netns_add d d
	D sysctl -qw net.ipv4.ping_group_range="0 2147483647" # as tunnel_wire's c and s
	for ns in "$c" "$s" "$d"; do
		own_resolv_conf "$ns"
	done
	hooks_dir=$(mktemp -d)
	NETNS_DIRS+=("$hooks_dir")
	keys=$tun_dir
	(
		umask 077
		for who in c s d; do
			"$ferry" genkey >"$keys/$who.key"
			"$ferry" pubkey <"$keys/$who.key" >"$keys/$who.pub"
		done
		"$ferry" genpsk >"$keys/psk"
	)
}

D() { ip netns exec "$d" "$@"; }

# fill SCENARIO: the scenario's files with the keys in, in $tun_dir, mode 0600.
fill() {
	local f
	for f in "$here/wgquick/$1"/*.conf; do
		(
			umask 077
			sed -e "s|@C_KEY@|$(cat "$keys/c.key")|; s|@C_PUB@|$(cat "$keys/c.pub")|" \
				-e "s|@S_KEY@|$(cat "$keys/s.key")|; s|@S_PUB@|$(cat "$keys/s.pub")|" \
				-e "s|@D_KEY@|$(cat "$keys/d.key")|; s|@D_PUB@|$(cat "$keys/d.pub")|" \
				-e "s|@PSK@|$(cat "$keys/psk")|; s|@DIR@|$hooks_dir|g" \
				"$f" >"$tun_dir/$(basename "$f" | sed 's/^[a-z]-//')-$(basename "$f" | cut -c1)"
		)
	done
}

# up NS-LETTER: ferry up with that end's file (as wg-quick: the interface is wg0).
up() {
	local ns dir="$tun_dir/$1"
	case $1 in c) ns=$c ;; s) ns=$s ;; d) ns=$d ;; esac
	mkdir -p "$dir"
	mv "$tun_dir/wg0.conf-$1" "$dir/wg0.conf"
	netns_bg "$ns" "$ferry" up "$dir/wg0.conf" >>"$tun_dir/$1.out" 2>>"$tun_dir/$1.log"
	printf -v "pid_$1" '%s' "${NETNS_PIDS[-1]}"
	wait_until 5 ip netns exec "$ns" "$ferry" status wg0
}

# down NS-LETTER: SIGTERM, as ferry down sends; true if ferry exited 0.
down() {
	local var="pid_$1"
	kill -TERM "${!var}" 2>/dev/null || true
	wait "${!var}"
}

# scenario NAME: a fresh wire and the files; the checks follow, then finish_scenario.
scenario() {
	echo "---- $1"
	name=$1
	scenario_wire
	fill "$1"
}

# finish_scenario: both ends down cleanly, no device or error left, then a fresh start.
finish_scenario() {
	local end ns
	for end in "$@"; do
		check "$name: ferry on $end exits 0 at SIGTERM" down "$end"
	done
	for end in "$@"; do
		case $end in c) ns=$c ;; s) ns=$s ;; d) ns=$d ;; esac
		check "$name: nothing of wg0 left on $end" test -z "$(ferry_leftovers "$ns" wg0)"
	done
	check "$name: no error in the logs" logs_clean "$tun_dir"/*.log
	netns_cleanup
}

scenario 01-road-warrior
up s
up c
check "$name: the client pings the server through the tunnel" C ping -c 2 -i 0.2 -W 2 10.66.0.1
check "$name: the server pings the client" S ping -c 1 -W 2 10.66.0.2
check "$name: DNS from the indented key" grep -qx "nameserver 10.66.0.1" "/etc/netns/$c/resolv.conf"
finish_scenario c s
check "$name: resolv.conf put back" bash -c "! grep -q 10.66.0.1 /etc/netns/*/resolv.conf 2>/dev/null"

scenario 02-server-two-peers
ip link add d0 netns "$d" type veth peer name s1 netns "$s"
D ip addr add 198.51.101.1/24 dev d0
S ip addr add 198.51.101.2/24 dev s1
D ip link set d0 up
S ip link set s1 up
up s
up c
up d
check "$name: PostUp ran (forwarding on)" test "$(S sysctl -n net.ipv4.ip_forward)" = 1
check "$name: the first client pings the server" C ping -c 1 -W 2 10.66.0.1
check "$name: the second client pings the server" D ping -c 1 -W 2 10.66.0.1
check "$name: IPv6 inside the tunnel" D ping -6 -c 1 -W 2 fd66::1
check "$name: the server reaches both" bash -c "ip netns exec '$s' ping -c 1 -W 2 10.66.0.2 && ip netns exec '$s' ping -c 1 -W 2 10.66.0.3"
down s && ok=1 || ok=0
check "$name: the server exits 0" test "$ok" = 1
check "$name: PostDown ran (forwarding off)" test "$(S sysctl -n net.ipv4.ip_forward)" = 0
finish_scenario c d

scenario 03-full-tunnel
up s
up c
check "$name: the LAN beyond the server answers (no other route)" C ping -c 2 -i 0.2 -W 2 192.0.2.10
check "$name: the default route is the tunnel" bash -c "ip netns exec '$c' ip route get 203.0.113.7 | grep -q 'dev wg0'"
check "$name: DNS set" grep -qx "nameserver 10.66.0.1" "/etc/netns/$c/resolv.conf"
finish_scenario c s

scenario 04-split-tunnel
C ip route add default via 198.51.100.2
up s
up c
check "$name: the office LAN through the tunnel" bash -c "ip netns exec '$c' ip route get 192.0.2.10 | grep -q 'dev wg0'"
check "$name: the rest by the default route" bash -c "ip netns exec '$c' ip route get 203.0.113.7 | grep -q 'dev c0'"
check "$name: the LAN host answers" C ping -c 2 -i 0.2 -W 2 192.0.2.10
finish_scenario c s

scenario 05-ipv6-endpoint
C ip addr del 198.51.100.1/24 dev c0
S ip addr del 198.51.100.2/24 dev s0
up s
up c
check "$name: IPv4 in the tunnel over an IPv6-only path" C ping -c 2 -i 0.2 -W 2 10.66.0.1
check "$name: IPv6 in the tunnel" C ping -6 -c 1 -W 2 fd66::1
finish_scenario c s

scenario 06-table-off
up s
up c
check "$name: no route for AllowedIPs (192.0.2.0/24 absent)" bash -c "! ip netns exec '$c' ip route show | grep -q 192.0.2.0"
check "$name: the PostUp route" bash -c "ip netns exec '$c' ip route show dev wg0 | grep -q '^10.66.0.0/24'"
check "$name: traffic over it" C ping -c 2 -i 0.2 -W 2 10.66.0.1
finish_scenario c s

scenario 07-table-number
up s
up c
check "$name: the route in table 1234" bash -c "ip netns exec '$c' ip route show table 1234 | grep -q '^192.0.2.0/24 dev wg0'"
check "$name: none in main" bash -c "! ip netns exec '$c' ip route show table main | grep -q '^192.0.2.0/24'"
check "$name: no rule of ferry's own" bash -c "! ip netns exec '$c' ip rule show | grep -q 'proto 77'"
check "$name: the LAN host through table 1234" C ping -c 2 -i 0.2 -W 2 192.0.2.10
down c && ok=1 || ok=0
check "$name: the client exits 0" test "$ok" = 1
check "$name: PreDown removed the rule" bash -c "! ip netns exec '$c' ip rule show | grep -q 'lookup 1234'"
finish_scenario s

scenario 08-hooks
up s
up c
check "$name: traffic" C ping -c 1 -W 2 10.66.0.1
down c && ok=1 || ok=0
check "$name: the client exits 0" test "$ok" = 1
printf '%s\n' "PreUp wg0 absent" "PostUp wg0 10.66.0.2/24" "PostUp again" \
	"PreDown wg0 present" "PostDown wg0 absent" >"$tun_dir/hooks.expected"
check "$name: the hooks ran in order, %i expanded, \" ; \" kept" \
	diff "$tun_dir/hooks.expected" "$hooks_dir/hooks.log"
(
	umask 077
	sed 's|^PostUp = .*|PostUp = exit 3|' "$tun_dir/c/wg0.conf" >"$tun_dir/bad.conf"
)
check "$name: a failing PostUp stops ferry up" \
	bash -c "! ip netns exec '$c' '$ferry' up '$tun_dir/bad.conf' 2>'$tun_dir/bad.err'"
check "$name: ... saying which command failed" grep -q "PostUp: the command exited with status 3" "$tun_dir/bad.err"
check "$name: ... and undoing the device" test -z "$(ferry_leftovers "$c" bad)"
finish_scenario s

scenario 09-windows-export
up s
up c
check "$name: MTU 1420 from a CRLF file with a BOM" bash -c "ip -n '$c' link show wg0 | grep -q 'mtu 1420'"
check "$name: traffic with the preshared key" C ping -c 2 -i 0.2 -W 2 10.66.0.1
finish_scenario c s

scenario 10-site-gateway
ip link add lan1 netns "$c" type veth peer name eth1 netns "$d"
C ip addr add 192.168.50.1/24 dev lan1
D ip addr add 192.168.50.10/24 dev eth1
C ip link set lan1 up
D ip link set eth1 up
L ip route add 192.168.50.0/24 via 192.0.2.1
D ip route add 192.0.2.0/24 via 192.168.50.1
up s
up c
check "$name: head office LAN -> branch LAN host" L ping -c 2 -i 0.2 -W 2 192.168.50.10
check "$name: branch LAN host -> head office LAN host" D ping -c 2 -i 0.2 -W 2 192.0.2.10
finish_scenario c s

netns_finish
