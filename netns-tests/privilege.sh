#!/usr/bin/env bash
# Least privilege once up (docs/hardening.md): each running ferry shows in /proc/PID/status
# only the capabilities its mode still needs (none for a plain tunnel, cap_net_admin in
# full-device mode, with cap_dac_override as User = nobody, cap_kill for ferry exec's
# command of another user), an empty bounding set and a seccomp filter; the tunnel carries
# pings, TCP and UDP, follows a client that roams and a server that restarts (a new
# handshake), ferry down still takes everything away -- rules, nftables, sysctl,
# resolv.conf exactly as before -- and ferry exits 0, not killed by the filter. ferry
# exec's command runs without the filter and with its rights. FERRY_HARDENING=off and
# PreDown/PostDown hooks keep everything.
#
#   ns c (client) c0 198.51.100.1 ──── s0 198.51.100.2 ns s (server) lan0 ──── eth0 ns l
#                 tc0 10.99.0.2                        ts0 10.99.0.1         192.0.2.10
#
# (lib.sh's tunnel_wire with TUN_DIRECT=1: one veth, no emulator.)
#
# Usage: privilege.sh FERRY-BINARY
# shellcheck disable=SC2154 # ferry_c_pid, ferry_s_pid: set by lib.sh's ferry_start
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: privilege.sh FERRY-BINARY}

unset FERRY_HARDENING # the default, whatever the caller has
netns_init
netns_require socat dnsmasq ethtool nft python3

TUN_DIRECT=1 tunnel_wire
tunnel_configs
d=$tun_dir
LAN_S4=192.0.2.1
C ip route add default via "$WAN_S4"
S sysctl -qw net.ipv4.ip_forward=1
L ip route add default via "$LAN_S4"
own_resolv_conf "$c"
who_asks_up

# status PID FIELD: a field of /proc/PID/status (CapEff, Seccomp, Uid, ...)
status() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
# caps PID: "CapEff CapPrm CapBnd CapInh CapAmb Seccomp", to compare with one string
caps() {
	echo "$(status "$1" CapEff) $(status "$1" CapPrm) $(status "$1" CapBnd)" \
		"$(status "$1" CapInh) $(status "$1" CapAmb) $(status "$1" Seccomp)"
}
NONE=0000000000000000
NET_ADMIN=0000000000001000
NET_ADMIN_DAC=0000000000001002 # cap_net_admin, cap_dac_override
KILL=0000000000000020
kept() { echo "$1 $1 $NONE $NONE $NONE 2"; } # kept MASK: what caps shows then

# stopped c|s: stops that end with ferry down; its exit status is then in $down_status
stopped() {
	local ns var="ferry_${1}_pid"
	[ "$1" = c ] && ns=$c || ns=$s
	ip netns exec "$ns" "$ferry" down "t${1}0" >/dev/null 2>&1 || true
	down_status=0
	wait "${!var}" 2>/dev/null || down_status=$?
}

asker4() { C socat -T 3 - TCP4:"$LAN4":9000 </dev/null 2>/dev/null | seen; }

# ---- a plain tunnel: nothing kept at either end ------------------------------------------
ferry_start s
ferry_start c
check "the tunnel comes up (a ping crosses)" wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "client: no capability left, bounding set empty, seccomp filter on ($(caps "$ferry_c_pid"))" \
	test "$(caps "$ferry_c_pid")" = "$(kept $NONE)"
check "server: likewise ($(caps "$ferry_s_pid"))" test "$(caps "$ferry_s_pid")" = "$(kept $NONE)"
check "the log says what was kept and that the filter is on" \
	grep -Eq 'privileges: no capabilities kept, running as it was started \(uid 0, gid 0\); seccomp filter: [0-9]+ system calls allowed, any other kills the process' "$d/c.log"

check "ping the server's LAN host (the server's egress opens its ping socket now)" \
	C ping -c 3 -i 0.2 -W 2 "$LAN4"
head -c 20M /dev/urandom >"$d/blob"
blob_sha=$(sha_of "$d/blob")
netns_bg "$l" bash -c "socat -u TCP-LISTEN:5001,bind=$LAN4,reuseaddr STDOUT | sha256sum >'$d/up.sha'"
wait_until 5 L sh -c "ss -Hltn 'sport = :5001' | grep -q ."
C socat -u FILE:"$d/blob" TCP:"$LAN4":5001
wait_filled "$d/up.sha" 20 || true
check "20 MB over TCP through the tunnel, sha256 equal" test "$(cut -d' ' -f1 "$d/up.sha")" = "$blob_sha"
netns_bg "$l" socat -T 10 UDP-RECVFROM:7,bind="$LAN4",fork PIPE
wait_until 5 L sh -c "ss -Hlun 'sport = :7' | grep -q ."
check "UDP echo through the tunnel" \
	sh -c "echo ferry-udp | ip netns exec '$c' socat -T 3 - UDP:$LAN4:7 | grep -qx ferry-udp"

# the client roams to another address: the server follows it
C sysctl -qw net.ipv4.conf.c0.promote_secondaries=1
C ip addr add 198.51.100.3/24 dev c0
C ip addr del "$WAN_C4/24" dev c0
check "the client roams to a new address: traffic goes on" \
	wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
check "... and the server follows it" \
	sh -c "ip netns exec '$s' '$ferry' status ts0 | grep -q 'endpoint: 198.51.100.3:'"
# the server restarts: the hardened client makes a new handshake
ferry_stop s
ferry_start s
check "the server restarts: the client's new handshake brings the tunnel back" \
	wait_until 15 C ping -c 1 -W 1 "$TUN_S4"
check "both ends are still alive, with the filter" \
	test "$(status "$ferry_c_pid" Seccomp) $(status "$ferry_s_pid" Seccomp)" = "2 2"
stopped c
check "ferry down: the client exits 0" test "$down_status" = 0
check "... and leaves nothing behind" test -z "$(ferry_leftovers "$c" tc0)"
stopped s
check "ferry down: the server exits 0" test "$down_status" = 0
check "... nothing left there either" test -z "$(ferry_leftovers "$s" ts0)"
C ip addr add "$WAN_C4/24" dev c0
C ip addr del 198.51.100.3/24 dev c0
C ip route replace default via "$WAN_S4"

# ---- full-device mode: cap_net_admin kept for the marks and the teardown -----------------
full_config() { # full_config [USER]: the client's file, everything through the tunnel
	(
		umask 077
		cat >"$d/tc0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$d/c.key")
			Address = $TUN_C4/24, $TUN_C6/64
			DNS = $LAN4
			KillSwitch = on
			${1:+User = $1}

			[Peer]
			PublicKey = $(cat "$d/s.pub")
			Endpoint = $WAN_S4:$TUN_PORT
			AllowedIPs = 0.0.0.0/0, ::/0
		EOF
	)
}
# a service on the client's tunnel address: reached from the server, through the client's
# egress, whose socket is opened now and marked (SO_MARK: cap_net_admin)
netns_bg "$c" socat TCP4-LISTEN:9100,reuseaddr,fork SYSTEM:'echo marked'

full_device_round() { # full_device_round WHAT EXPECTED-CAPS [USER]
	local what=$1 want=$2
	full_config "${3:-}"
	ferry_start s
	ferry_start c
	check "$what: the tunnel comes up" wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
	check "$what: kept $(caps "$ferry_c_pid") (CapEff CapPrm CapBnd CapInh CapAmb Seccomp)" \
		test "$(caps "$ferry_c_pid")" = "$(kept "$want")"
	if [ -n "${3:-}" ]; then
		check "$what: runs as $3, without supplementary groups" test \
			"$(status "$ferry_c_pid" Uid) $(status "$ferry_c_pid" Gid) [$(status "$ferry_c_pid" Groups)]" \
			= "$(id -u "$3") $(id -u "$3") $(id -u "$3") $(id -u "$3") $(id -g "$3") $(id -g "$3") $(id -g "$3") $(id -g "$3") []"
	fi
	check "$what: a host beyond the server sees the server's address (through the tunnel)" \
		test "$(asker4)" = "$LAN_S4"
	check "$what: the server reaches a service on the client's tunnel address (a marked egress socket)" \
		sh -c "ip netns exec '$s' socat -T 3 - TCP4:$TUN_C4:9100 </dev/null | grep -qx marked"
	check "$what: the server's ping is answered by the client's egress (a marked ping socket)" \
		S ping -c 2 -i 0.2 -W 2 "$TUN_C4"
	stopped c
	check "$what: ferry down: the client exits 0" test "$down_status" = 0
	ferry_stop s
	state >"$d/after"
	check "$what: rules, routes, nftables, resolv.conf and sysctl exactly as before" \
		diff -u "$d/before" "$d/after"
	diff -u "$d/before" "$d/after" || true
	check "$what: nothing of ferry's left" test -z "$(ferry_leftovers "$c" tc0)"
}

state() { routing_state "$c"; }
wait_until 5 ll_settled "$c"
state >"$d/before"
: >"$d/c.log"
full_device_round "full-device" "$NET_ADMIN"
check "full-device: the log says why cap_net_admin is kept" \
	grep -q 'privileges: keeping cap_net_admin: SO_MARK on egress sockets opened while up; deleting its policy rules at exit; deleting its nftables tables at exit' "$d/c.log"

: >"$d/c.log"
full_device_round "full-device, User = nobody" "$NET_ADMIN_DAC" nobody
check "User = nobody: the log says so" \
	grep -q 'privileges: .*running as nobody (uid 65534, gid 65534)' "$d/c.log"
check "User = nobody: it kept cap_dac_override for resolv.conf and its files in /run/ferry" \
	grep -q 'privileges: keeping cap_dac_override: files put back or removed at exit' "$d/c.log"

# ---- ferry exec: the command runs without the filter, with its own rights -----------------
cat >"$d/app.conf" <<-EOF
	[Interface]
	PrivateKey = $(cat "$d/c.key")
	Address = $TUN_C4/24

	[Peer]
	PublicKey = $(cat "$d/s.pub")
	Endpoint = $WAN_S4:$TUN_PORT
	AllowedIPs = 0.0.0.0/0
EOF
chmod 600 "$d/app.conf"
ferry_start s
fx() { C "$ferry" exec -c "$d/app.conf" "$@" 2>>"$d/exec.log"; }
# the command's parent is the daemon: $PPID, expanded by the command's shell
# shellcheck disable=SC2016
look='for p in $PPID self; do
	printf "%s %s %s\n" "$p" "$(grep "^CapEff:" /proc/$p/status | cut -f2)" "$(grep "^Seccomp:" /proc/$p/status | cut -f2)"
done'
fx -- sh -c "$look" >"$d/exec.caps" || true
check "ferry exec: the daemon keeps nothing and has the filter" \
	grep -Eq "^[0-9]+ $NONE 2\$" "$d/exec.caps"
check "ferry exec: the command keeps root's capabilities and has no filter" \
	sh -c "grep -E '^self [0-9a-f]+ 0\$' '$d/exec.caps' | grep -vq ' $NONE '"
check "ferry exec: the command reaches the host beyond the server through the tunnel" \
	test "$(fx -- sh -c "socat -T 3 - TCP4:$LAN4:9000 </dev/null" | seen)" = "$LAN_S4"
check "ferry exec through sudo: the daemon keeps cap_kill to stop the user's command" \
	sh -c "ip netns exec '$c' env SUDO_UID=65534 SUDO_GID=65534 '$ferry' exec -c '$d/app.conf' -- \
		sh -c 'grep ^CapEff: /proc/\$PPID/status' 2>>'$d/exec.log' | grep -q '$KILL\$'"
sed 's/^Address = .*/&\nUser = nobody/' "$d/app.conf" >"$d/app-user.conf"
chmod 600 "$d/app-user.conf"
check "ferry exec with User = nobody: the daemon becomes nobody, keeping cap_kill and cap_dac_override" \
	sh -c "ip netns exec '$c' '$ferry' exec -c '$d/app-user.conf' -- \
		sh -c 'grep -E \"^(Uid|CapEff):\" /proc/\$PPID/status | cut -f2 | tr \"\\n\" \" \"' 2>>'$d/exec.log' |
		grep -qx '65534 0000000000000022 '"
check "... and leaves nothing behind" test -z "$(ferry_leftovers "$c" app-user)"
netns_bg "$c" env SUDO_UID=65534 SUDO_GID=65534 "$ferry" exec --name stopping -c "$d/app.conf" -- sleep 30
stop_pid=${NETNS_PIDS[-1]}
wait_until 10 C "$ferry" status stopping || true
C "$ferry" down stopping >/dev/null 2>&1 || true
set +e
wait "$stop_pid"
st_stop=$?
set -e
check "... and ferry down ends that command (SIGTERM: 143)" test "$st_stop" = 143
ferry_stop s

# ---- kept on purpose: FERRY_HARDENING=off, and hooks that run as root at the end ----------
full_config
FERRY_HARDENING=off ferry_start c
check "FERRY_HARDENING=off: all capabilities, no filter" \
	sh -c "test '$(status "$ferry_c_pid" CapEff)' != $NONE && test '$(status "$ferry_c_pid" Seccomp)' = 0"
check "... and says so" grep -q 'privileges: all kept, no seccomp filter (FERRY_HARDENING=off)' "$d/c.log"
stopped c
sed -i -e '/^KillSwitch/a PreDown = true' -e '/^KillSwitch/a PostDown = true' "$d/tc0.conf"
ferry_start c
check "with PreDown/PostDown: all capabilities, no filter (bash runs them as root at the end)" \
	sh -c "test '$(status "$ferry_c_pid" CapEff)' != $NONE && test '$(status "$ferry_c_pid" Seccomp)' = 0"
stopped c
check "... ferry down still works" test "$down_status" = 0
check "... and say so" grep -q 'privileges: all kept, no seccomp filter: PreDown and PostDown run as root' "$d/c.log"
state >"$d/after"
check "afterwards: exactly as before" diff -u "$d/before" "$d/after"

check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"
netns_finish
