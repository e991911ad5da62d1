# shellcheck shell=bash
# Shared helpers for ferry's namespace tests. Source it, then call netns_init.
#
# Every namespace and process a test makes is recorded here and removed by the EXIT trap,
# whatever way the test ends. Names carry the test's PID, so parallel runs never collide
# and nothing outside the test is touched. Processes are stopped by the PIDs we started.

set -euo pipefail

NETNS_PREFIX="ferry-$$"
NETNS_LIST=()
NETNS_PIDS=()
NETNS_DIRS=()
NETNS_FAILS=0
NETNS_PASSES=0

netns_cleanup() {
	local pid ns dir
	local tries=50
	for pid in "${NETNS_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	# a process that ignores SIGTERM must not hang the cleanup until CTest kills the
	# whole test (which would leave its namespaces behind): 5 s, then SIGKILL
	while [ "$tries" -gt 0 ] && netns_any_alive; do
		sleep 0.1
		tries=$((tries - 1))
	done
	for pid in "${NETNS_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${NETNS_LIST[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	for dir in "${NETNS_DIRS[@]}"; do
		rm -rf "$dir"
	done
	# control socket directories of this test's namespaces, left by a killed ferry
	rm -rf "/run/ferry/netns/$NETNS_PREFIX-"*
	NETNS_PIDS=()
	NETNS_LIST=()
	NETNS_DIRS=()
}

# netns_any_alive: true while a process of NETNS_PIDS still runs.
netns_any_alive() {
	local pid
	for pid in "${NETNS_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}

netns_init() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: namespace tests need root"
		exit 77
	fi
	trap netns_cleanup EXIT
	trap 'exit 130' INT TERM
	netns_reap_stale
}

# netns_reap_stale: deletes the namespaces (and control socket directories) an earlier
# test of ours left when it was killed before its cleanup could run (SIGKILL, a CTest
# timeout): names ferry-PID-X whose PID no longer runs. Nothing else is touched.
netns_reap_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ "$ns" =~ ^ferry-([0-9]+)-[a-z]$ ]] || continue
		pid=${BASH_REMATCH[1]}
		if [ "$pid" = "$$" ] || kill -0 "$pid" 2>/dev/null; then
			continue
		fi
		ip netns del "$ns" 2>/dev/null || true
		rm -rf "/run/ferry/netns/$ns"
	done
}

# netns_require TOOL...: skips the test (exit 77) unless every TOOL is on PATH.
netns_require() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			echo "SKIP: $(basename "$0") needs $tool (tools/setup installs it)"
			exit 77
		fi
	done
}

# netns_add NAME VAR: creates namespace $NETNS_PREFIX-NAME with loopback up and stores its
# name in VAR. Not through $(...): the record the cleanup reads must be this shell's.
netns_add() {
	local ns="$NETNS_PREFIX-$1"
	ip netns add "$ns"
	NETNS_LIST+=("$ns")
	ip -n "$ns" link set lo up
	printf -v "$2" '%s' "$ns"
}

# netns_bg NS CMD...: runs CMD in NS in the background and records its PID.
netns_bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	NETNS_PIDS+=("$!")
}

# check DESCRIPTION CMD...: runs CMD; records and prints pass or fail.
check() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "ok   $what"
		NETNS_PASSES=$((NETNS_PASSES + 1))
	else
		echo "FAIL $what"
		NETNS_FAILS=$((NETNS_FAILS + 1))
	fi
}

# wait_for FILE [SECONDS]: true once FILE exists.
wait_for() {
	local tries=$((${2:-5} * 20))
	while [ ! -e "$1" ] && [ "$tries" -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
	[ -e "$1" ]
}

# wait_filled FILE [SECONDS]: true once FILE exists and is not empty.
wait_filled() {
	local tries=$((${2:-5} * 20))
	while [ ! -s "$1" ] && [ "$tries" -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
	[ -s "$1" ]
}

# wait_until SECONDS CMD...: true once CMD succeeds, trying every 0.1 s.
wait_until() {
	local tries=$(($1 * 10))
	shift
	until "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

# within X LO HI: LO <= X <= HI, decimals allowed; false if X is empty.
within() {
	awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x + 0 >= lo && x + 0 <= hi) }'
}

# ---- a tunnel across an emulated WAN ---------------------------------------------------
#
#                                                                      ┌──── ns l (LAN host) ────┐
#   ┌──── ns c (client) ────┐    ┌──── ns w ────┐    ┌──── ns s (server) ────┐  │ eth0 192.0.2.10          │
#   │ c0  198.51.100.1      ├────┤ wa ─wanem─ wb├────┤ s0   198.51.100.2     │  │      2001:db8:5::10      │
#   │     2001:db8:77::1    │    └──────────────┘    │      2001:db8:77::2   │  └───────────┬──────────────┘
#   │ tc0 10.99.0.2 fd99::2 │                        │ ts0  10.99.0.1 fd99::1│              │
#   └───────────────────────┘                        │ lan0 192.0.2.1  ──────┼──────────────┘
#                                                    │      2001:db8:5::1    │
#                                                    └───────────────────────┘
#
# tunnel_up builds it: the emulator (ferry-wanem, from $FERRY_WANEM) bridges wa and wb with
# the arguments given (none: a clean wire), and a ferry runs at each end: the client's
# AllowedIPs are the server's tunnel addresses and its LAN (192.0.2.0/24, 2001:db8:5::/64)
# plus 203.0.113.0/24, which the server has no route for; the server's are the client's
# tunnel addresses. Services run on the LAN host l, which the server's egress reaches as
# any destination (the server's own addresses other than its tunnel's are denied to peers),
# except port 8081 of the LAN host, which the server's Egress rules deny.
# The offloads of the WAN veths are off: the emulator carries wire frames.
# Variables it sets: c w s l (namespace names; C W S L run a command in one), tun_dir
# (keys, configs, logs), ferry_c_pid ferry_s_pid wanem_pid. Each ferry's control socket
# is its namespace's own (/run/ferry/netns/NAME): run ferry status and down inside it
# (fc, fs below), as on a host of its own.

TUN_C4=10.99.0.2 TUN_S4=10.99.0.1 TUN_C6=fd99::2 TUN_S6=fd99::1
WAN_C4=198.51.100.1 WAN_S4=198.51.100.2 WAN_C6=2001:db8:77::1 WAN_S6=2001:db8:77::2
LAN4=192.0.2.10 LAN6=2001:db8:5::10 NOROUTE4=203.0.113.7
TUN_PORT=51820

C() { ip netns exec "$c" "$@"; }
W() { ip netns exec "$w" "$@"; }
S() { ip netns exec "$s" "$@"; }
L() { ip netns exec "$l" "$@"; }
fc() { ip netns exec "$c" "$ferry" "$@"; } # ferry, on the client
fs() { ip netns exec "$s" "$ferry" "$@"; } # ferry, on the server

# tunnel_wire: the three namespaces and their links, no ferry, no emulator.
tunnel_wire() {
	netns_add c c
	netns_add w w
	netns_add s s
	netns_add l l
	tun_dir=$(mktemp -d)
	NETNS_DIRS+=("$tun_dir")
	if [ "${TUN_DIRECT:-0}" = 1 ]; then
		# no emulator: one veth from client to server (w stays empty)
		ip link add c0 netns "$c" type veth peer name s0 netns "$s"
	else
		ip link add c0 netns "$c" type veth peer name wa netns "$w"
		ip link add s0 netns "$s" type veth peer name wb netns "$w"
	fi
	C ip addr add "$WAN_C4/24" dev c0
	S ip addr add "$WAN_S4/24" dev s0
	C ip addr add "$WAN_C6/64" dev c0 nodad
	S ip addr add "$WAN_S6/64" dev s0 nodad
	W sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	C ethtool -K c0 tso off gso off >/dev/null
	S ethtool -K s0 tso off gso off >/dev/null
	if [ "${TUN_DIRECT:-0}" != 1 ]; then
		W ethtool -K wa tso off gso off gro off >/dev/null
		W ethtool -K wb tso off gso off gro off >/dev/null
		W ip link set wa up
		W ip link set wb up
	fi
	C ip link set c0 up
	S ip link set s0 up
	ip link add lan0 netns "$s" type veth peer name eth0 netns "$l"
	S ip addr add 192.0.2.1/24 dev lan0
	S ip addr add 2001:db8:5::1/64 dev lan0 nodad
	L ip addr add "$LAN4/24" dev eth0
	L ip addr add "$LAN6/64" dev eth0 nodad
	S ip link set lan0 up
	L ip link set eth0 up
	# Debian's default; a fresh namespace's "1 0" would keep egress from pinging
	S sysctl -qw net.ipv4.ping_group_range="0 2147483647"
	C sysctl -qw net.ipv4.ping_group_range="0 2147483647"
}

# wanem_up ARGS...: (re)starts the emulator between wa and wb, ready when its stats file is.
wanem_up() {
	rm -f "$tun_dir/wanem.stats"
	netns_bg "$w" "${FERRY_WANEM:?FERRY_WANEM is not set (CTest sets it)}" \
		--stats "$tun_dir/wanem.stats" --rt-priority 10 "$@" wa wb >"$tun_dir/wanem.out" 2>&1
	wanem_pid=${NETNS_PIDS[-1]}
	wait_for "$tun_dir/wanem.stats" 5 || {
		echo "ferry-wanem $* did not start: $(cat "$tun_dir/wanem.out")" >&2
		return 1
	}
}

wanem_down() {
	kill -TERM "$wanem_pid" 2>/dev/null || true
	wait "$wanem_pid" 2>/dev/null || true
}

# tunnel_configs [ENDPOINT]: keys and the two configuration files; the client reaches
# the server at ENDPOINT (default $WAN_S4:$TUN_PORT). TUN_IFACE_EXTRA, if set, is one more
# line of both [Interface] sections (the soak compares controllers with it).
tunnel_configs() {
	local endpoint=${1:-$WAN_S4:$TUN_PORT}
	(
		umask 077
		"$ferry" genkey >"$tun_dir/c.key"
		"$ferry" genkey >"$tun_dir/s.key"
	)
	"$ferry" pubkey <"$tun_dir/c.key" >"$tun_dir/c.pub"
	"$ferry" pubkey <"$tun_dir/s.key" >"$tun_dir/s.pub"
	(
		umask 077
		cat >"$tun_dir/tc0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$tun_dir/c.key")
			Address = $TUN_C4/24, $TUN_C6/64
			${TUN_IFACE_EXTRA:-}

			[Peer]
			PublicKey = $(cat "$tun_dir/s.pub")
			Endpoint = $endpoint
			AllowedIPs = $TUN_S4/32, $TUN_S6/128, 192.0.2.0/24, 2001:db8:5::/64
			AllowedIPs = 203.0.113.0/24
		EOF
		cat >"$tun_dir/ts0.conf" <<-EOF
			[Interface]
			PrivateKey = $(cat "$tun_dir/s.key")
			ListenPort = $TUN_PORT
			Address = $TUN_S4/24, $TUN_S6/64
			Egress = deny tcp $LAN4 port 8081
			${TUN_IFACE_EXTRA:-}

			[Peer]
			PublicKey = $(cat "$tun_dir/c.pub")
			AllowedIPs = $TUN_C4/32, $TUN_C6/128
		EOF
	)
}

# ferry_start c|s: runs that end's ferry (device tc0 or ts0) in the background; returns
# once its control socket answers. Its PID is in ferry_c_pid or ferry_s_pid.
ferry_start() {
	local side=$1 ns
	[ "$side" = c ] && ns=$c || ns=$s
	netns_bg "$ns" "$ferry" up "$tun_dir/t${side}0.conf" 2>>"$tun_dir/$side.log"
	printf -v "ferry_${side}_pid" '%s' "${NETNS_PIDS[-1]}"
	wait_until 5 ip netns exec "$ns" "$ferry" status "t${side}0"
}

# ferry_stop c|s [SIGNAL]: stops that end's ferry (SIGTERM by default) and waits for it.
ferry_stop() {
	local var="ferry_${1}_pid"
	kill "-${2:-TERM}" "${!var}" 2>/dev/null || true
	wait "${!var}" 2>/dev/null || true
}

# tunnel_up [WANEM-ARGS...]: all of the above; true once a ping crosses the tunnel. The
# client's Endpoint is $TUN_ENDPOINT if set; with TUN_DIRECT=1 there is no emulator, one
# veth joins client and server (the offloads stay off).
tunnel_up() {
	tunnel_wire
	if [ "${TUN_DIRECT:-0}" != 1 ]; then
		wanem_up "$@"
	fi
	tunnel_configs "${TUN_ENDPOINT:-}"
	ferry_start s
	ferry_start c
	wait_until 10 C ping -c 1 -W 1 "$TUN_S4"
}

# ferry_leftovers NS DEV: prints whatever of ferry's is still in NS (device DEV, its
# addresses and routes) or of its control socket and directory; nothing when clean.
ferry_leftovers() {
	ip -n "$1" link show "$2" 2>/dev/null || true
	ip -n "$1" -4 route show | grep -w "$2" || true
	ip -n "$1" -6 route show | grep -w "$2" || true
	ip -n "$1" addr show | grep -E "10\.99\.0\.|fd99::" || true
	ls -d "/run/ferry/netns/$1" 2>/dev/null || true
}

# logs_clean FILE...: no error line of ferry's in the logs, and no report of a sanitizer
# (the ASan build's ferry writes its reports there: memory errors, leaks at exit).
logs_clean() {
	! grep -hE ': error: |Sanitizer|runtime error:' "$@"
}

# ---- what a mode may change on a machine, to compare before and after -----------------

# routing_state NS: the namespace's rules, routes of every table, links, nftables,
# resolv.conf (as its processes see it) and src_valid_mark, as text.
routing_state() {
	ip netns exec "$1" ip -4 rule show
	ip netns exec "$1" ip -6 rule show
	ip netns exec "$1" ip -4 route show table all
	ip netns exec "$1" ip -6 route show table all
	ip -n "$1" -o link show | sed 's/^[0-9]*: //; s/ .*//'
	ip netns exec "$1" nft list ruleset
	ip netns exec "$1" cat /etc/resolv.conf
	ip netns exec "$1" sysctl -n net.ipv4.conf.all.src_valid_mark
}

# ll_settled NS: true once every link of NS that is up, lo aside, has its IPv6 link-local
# address past duplicate detection (its local route appears then, in the background: a
# state taken before would see it arrive).
ll_settled() {
	local links addrs
	links=$(ip -n "$1" -o link show up | grep -vc ': lo:')
	addrs=$(ip -n "$1" -6 -o addr show scope link | grep -v tentative | grep -c 'inet6 fe80')
	[ "$links" -gt 0 ] && [ "$addrs" -ge "$links" ]
}

# own_resolv_conf NS: gives NS a resolv.conf of its own (`ip netns exec` mounts
# /etc/netns/NS/resolv.conf over /etc/resolv.conf), so that what ferry does to the file
# never reaches the machine's; removed with the test.
own_resolv_conf() {
	mkdir -p "/etc/netns/$1"
	NETNS_DIRS+=("/etc/netns/$1")
	printf '# the namespace'"'"'s own\nnameserver 127.0.0.53\noptions edns0\n' \
		>"/etc/netns/$1/resolv.conf"
}

# who_asks_up: services on the LAN host for tests that ask where traffic comes from: TCP
# port 9000 answers with the address it sees (IPv4 and IPv6), dnsmasq answers
# *.ferry.test with $LAN4 and logs every query, with its source, to $tun_dir/dns.log.
who_asks_up() {
	netns_bg "$l" socat TCP4-LISTEN:9000,bind="$LAN4",reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR'
	netns_bg "$l" socat TCP6-LISTEN:9000,bind="[$LAN6]",reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR'
	netns_bg "$l" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
		--listen-address="$LAN4" --user=root --pid-file="$tun_dir/dnsmasq.pid" \
		--address=/ferry.test/"$LAN4" --log-queries --log-facility="$tun_dir/dns.log"
	wait_until 5 ip netns exec "$l" sh -c "ss -Hltn 'sport = :9000' | grep -q ."
	wait_until 5 ip netns exec "$l" sh -c "ss -Hlun 'sport = :53' | grep -q ."
}

# seen: reads what the port-9000 service answered and prints the address in its short form
# (socat writes IPv6 in full, in brackets); nothing if there was no answer.
seen() {
	python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.stdin.read().strip().strip("[]")))' \
		2>/dev/null || true
}

# sha_of FILE: its sha256, alone.
sha_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# netns_finish: cleans up now (checking that no namespace of this test is left), prints the
# tally and exits non-zero if anything failed.
netns_finish() {
	netns_cleanup
	check "no namespace of this test left behind" \
		bash -c "! ip netns list | grep -q '^$NETNS_PREFIX-'"
	echo "$NETNS_PASSES passed, $NETNS_FAILS failed"
	[ "$NETNS_FAILS" -eq 0 ] && [ "$NETNS_PASSES" -gt 0 ]
}
