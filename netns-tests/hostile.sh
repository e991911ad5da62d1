#!/usr/bin/env bash
# What an attacker can send at ferry's UDP port: garbage of every length, real datagrams
# cut short, and real datagrams replayed whole (captured on the wire, a handshake among
# them) from an address of the attacker's own. ferry must answer none of it, count it,
# keep its peer's endpoint (a replay must not move it), and keep the tunnel working.
#
# Usage: hostile.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: hostile.sh FERRY-BINARY}
tools=(python3 "$here/tools.py")

netns_init
netns_require ethtool python3

check "the tunnel comes up" tunnel_up
d=$tun_dir

# ---- real datagrams, captured as the client starts again: a handshake, then data ------
netns_bg "$w" "${tools[@]}" capture wa "$TUN_PORT" 40 "$d/captured"
capture_pid=${NETNS_PIDS[-1]}
sleep 0.5
ferry_stop c TERM
ferry_start c
C ping -c 30 -i 0.05 -W 1 "$LAN4" >/dev/null || true
wait "$capture_pid" || true
check "40 datagrams captured on the wire" test -e "$d/captured/39"
endpoint_before=$(fs status ts0 | sed -n 's/^ *endpoint: //p')

# ---- the attack, from another address on the client's side ----------------------------
C ip addr add 198.51.100.66/24 dev c0
C bash -c "'${tools[0]}' '${tools[1]}' hostile $WAN_S4 $TUN_PORT '$d/captured' 198.51.100.66" >"$d/hostile.out" 2>&1 || true
cat "$d/hostile.out" | sed 's/^/     /'
check "no reply to garbage, truncated or replayed datagrams" grep -q ' replies=0$' "$d/hostile.out"
check "the server still runs" fs status ts0
fs status --json ts0 >"$d/status.json"
check "malformed datagrams are counted" python3 -c "
import json
i = json.load(open('$d/status.json'))['interface']['dropped']
assert i['malformed'] > 0, i"
check "replayed and forged data and handshakes are counted" python3 -c "
import json
i = json.load(open('$d/status.json'))['interface']['dropped']
assert i['data'] > 0 and i['handshake'] > 0, i"
check "the peer's endpoint did not move to the attacker ($endpoint_before)" \
	test "$(fs status ts0 | sed -n 's/^ *endpoint: //p')" = "$endpoint_before"
check "the tunnel still works" C ping -c 3 -i 0.2 -W 2 "$LAN4"
ferry_stop c
ferry_stop s # a clean exit, where a sanitizer build reports leaks
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
