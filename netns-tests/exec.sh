#!/usr/bin/env bash
# Per-app mode: ferry exec runs one command in a namespace whose only links are lo and the
# tunnel's device. The command reaches the host beyond the server through the tunnel
# (that host sees the server's address) and resolves names through it; everything else
# on the client keeps its own route (the host sees the client's address). The command's
# exit status is ferry's; it runs as the user who called sudo, or --user; a second
# command joins a named namespace and the tunnel ends with the last of them; and the
# client's routes, rules, nftables and resolv.conf are as before afterwards.
#
# Usage: exec.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: exec.sh FERRY-BINARY}

netns_init
netns_require socat dig dnsmasq ethtool nft python3

TUN_DIRECT=1 tunnel_wire
tunnel_configs
d=$tun_dir
LAN_S4=192.0.2.1

# the client's own route to the LAN host: through the server, which forwards
C ip route add default via "$WAN_S4"
S sysctl -qw net.ipv4.ip_forward=1
L ip route add default via "$LAN_S4"

own_resolv_conf "$c"

(
	umask 077
	cat >"$d/app.conf" <<-EOF
		[Interface]
		PrivateKey = $(cat "$d/c.key")
		Address = $TUN_C4/24, $TUN_C6/64
		DNS = $LAN4

		[Peer]
		PublicKey = $(cat "$d/s.pub")
		Endpoint = $WAN_S4:$TUN_PORT
		AllowedIPs = 0.0.0.0/0, ::/0
	EOF
)

who_asks_up
ferry_start s

state() { routing_state "$c"; }
wait_until 5 ll_settled "$c"
state >"$d/before"

fx() { C "$ferry" exec -c "$d/app.conf" "$@" 2>>"$d/exec.log"; } # ferry exec, on the client
asker='socat -T 3 - TCP4:'"$LAN4"':9000 </dev/null'

# ---- one command --------------------------------------------------------------------------
fx -- sh -c 'ip -o link show | sed "s/^[0-9]*: //; s/[:@].*//"' >"$d/links" || true
check "the command's namespace has lo and the tunnel's device, nothing else" \
	test "$(sort "$d/links" | tr '\n' ' ')" = "app lo "
check "... its default route is the tunnel" \
	sh -c "ip netns exec '$c' '$ferry' exec -c '$d/app.conf' -- ip route show | grep -q '^default dev app'"
check "the command reaches the host beyond the server through the tunnel (seen from the server)" \
	test "$(fx -- sh -c "$asker")" = "$LAN_S4"
check "the rest of the client keeps its own route (seen from the client itself)" \
	test "$(C sh -c "$asker")" = "$WAN_C4"
# with the server forwarding nothing, the far LAN is reachable only through the tunnel
S sysctl -qw net.ipv4.ip_forward=0
check "with the server not forwarding, only the command reaches the far LAN: the command does" \
	test "$(fx -- sh -c "$asker")" = "$LAN_S4"
check "... the rest of the client does not" \
	sh -c "! ip netns exec '$c' socat -T 3 - TCP4:$LAN4:9000,connect-timeout=2 </dev/null 2>/dev/null | grep -q ."
S sysctl -qw net.ipv4.ip_forward=1
check "its resolv.conf holds the configuration's DNS" \
	sh -c "ip netns exec '$c' '$ferry' exec -c '$d/app.conf' -- cat /etc/resolv.conf | grep -qx 'nameserver $LAN4'"
check "... and names resolve through the tunnel" \
	sh -c "test \"\$(ip netns exec '$c' '$ferry' exec -c '$d/app.conf' -- dig +short +tries=2 +timeout=2 www.ferry.test)\" = '$LAN4' &&
		grep -q 'query\\[A\\] www.ferry.test from $LAN_S4' '$d/dns.log'"
check "the client's own resolv.conf is untouched meanwhile" \
	sh -c "ip netns exec '$c' cat /etc/resolv.conf | grep -qx 'nameserver 127.0.0.53'"

set +e
fx -- sh -c 'exit 7'
st7=$?
fx -- /nonexistent/command
st127=$?
fx -- sh -c 'kill -TERM $$'
st143=$?
set -e
check "the command's exit status is ferry's (7)" test "$st7" = 7
check "a command that does not exist: 127, and said so" \
	sh -c "test $st127 = 127 && grep -q 'ferry exec: /nonexistent/command: No such file or directory' '$d/exec.log'"
check "a command ended by SIGTERM: 143" test "$st143" = 143

# ---- whose command -------------------------------------------------------------------------
check "through sudo, the command runs as the user who called it" \
	test "$(C env SUDO_UID=65534 SUDO_GID=65534 "$ferry" exec -c "$d/app.conf" -- id -u)" = 65534
check "... with that user's groups, not root's" \
	test "$(C env SUDO_UID=65534 SUDO_GID=65534 "$ferry" exec -c "$d/app.conf" -- id -G)" = "$(id -G nobody)"
check "--user names it" test "$(fx --user nobody -- id -un)" = nobody
check "an unknown --user is refused before anything starts" \
	sh -c "! ip netns exec '$c' '$ferry' exec -c '$d/app.conf' --user no-such-user -- true 2>'$d/nouser.log' &&
		grep -q 'no-such-user: no such user' '$d/nouser.log'"

# ---- a named namespace, shared -----------------------------------------------------------
netns_bg "$c" sh -c 'exec "$@" 2>>"'"$d/exec.log"'"' - "$ferry" exec --name shared -c "$d/app.conf" -- \
	sh -c "readlink /proc/self/ns/net >'$d/first.ns'; while [ ! -e '$d/first.go' ]; do sleep 0.1; done; exit 3"
first_pid=${NETNS_PIDS[-1]}
wait_filled "$d/first.ns" 10 || true
netns_bg "$c" sh -c 'exec "$@" 2>>"'"$d/exec.log"'"' - "$ferry" exec --name shared -- \
	sh -c "readlink /proc/self/ns/net >'$d/second.ns'; $asker >'$d/second.seen'; while [ ! -e '$d/second.go' ]; do sleep 0.1; done; exit 4"
second_pid=${NETNS_PIDS[-1]}
wait_filled "$d/second.ns" 10 || true
wait_filled "$d/second.seen" 10 || true
check "a second command joins the named namespace" \
	sh -c "test -s '$d/first.ns' && cmp -s '$d/first.ns' '$d/second.ns'"
check "... and goes through the same tunnel" test "$(cat "$d/second.seen")" = "$LAN_S4"
check "ferry status shows the shared tunnel" C "$ferry" status shared
touch "$d/first.go"
sleep 1
check "the first command ended; its ferry waits for the second" kill -0 "$first_pid"
touch "$d/second.go"
set +e
wait "$second_pid"
st_second=$?
wait "$first_pid"
st_first=$?
set -e
check "the joined ferry exits with its command's status (4)" test "$st_second" = 4
check "the first exits with its own command's (3) after the last one ended" test "$st_first" = 3
check "the shared tunnel is gone" sh -c "! ip netns exec '$c' '$ferry' status shared 2>/dev/null"
check "joining a name nobody runs, without a configuration, is refused with the reason" \
	sh -c "! ip netns exec '$c' '$ferry' exec --name nobody-here -- true 2>'$d/nojoin.log' &&
		grep -q 'no ferry exec named nobody-here runs' '$d/nojoin.log'"

# ---- the tunnel stops: so do the commands -------------------------------------------------
netns_bg "$c" sh -c 'exec "$@" 2>>"'"$d/exec.log"'"' - "$ferry" exec --name stopping -c "$d/app.conf" -- sleep 30
stop_pid=${NETNS_PIDS[-1]}
wait_until 10 C "$ferry" status stopping || true
C "$ferry" down stopping >/dev/null 2>&1 || true
set +e
wait "$stop_pid"
st_stop=$?
set -e
check "ferry down ends the command (SIGTERM: 143)" test "$st_stop" = 143

state >"$d/after"
check "afterwards the client's rules, routes, links, nftables and resolv.conf are as before" \
	diff -u "$d/before" "$d/after"
diff -u "$d/before" "$d/after" || true
ferry_stop s # a clean exit, where a sanitizer build reports leaks
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/exec.log" "$d/s.log"

netns_finish
