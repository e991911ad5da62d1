#!/usr/bin/env bash
# IPv6 as the outer transport: the client reaches the server at [2001:db8:77::2]:51820,
# and both IPv4 and IPv6 ride inside; 20 MB each way with equal sha256.
#
# Usage: outer6.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: outer6.sh FERRY-BINARY}

netns_init
netns_require socat ethtool

TUN_ENDPOINT="[$WAN_S6]:$TUN_PORT"
check "the tunnel comes up over IPv6 (Endpoint = $TUN_ENDPOINT), 10 ms RTT" \
	tunnel_up --delay 5 --seed 11
d=$tun_dir

check "IPv4 inside, IPv6 outside: ping the LAN host" C ping -c 3 -i 0.2 -W 2 "$LAN4"
check "IPv6 inside, IPv6 outside: ping6 the LAN host" C ping -6 -c 3 -i 0.2 -W 2 "$LAN6"
check "the client's peer is the server's IPv6 endpoint" \
	bash -c "ip netns exec '$c' '$ferry' status tc0 | grep -qF 'endpoint: [$WAN_S6]:$TUN_PORT'"
check "the server learned the client's IPv6 endpoint" \
	bash -c "ip netns exec '$s' '$ferry' status ts0 | grep -qF 'endpoint: [$WAN_C6]:'"

head -c 20M /dev/urandom >"$d/big"
big_sha=$(sha_of "$d/big")
netns_bg "$l" bash -c "socat -u TCP6-LISTEN:5001,bind=[$LAN6],reuseaddr STDOUT | sha256sum >'$d/up.sha'"
netns_bg "$l" socat -u FILE:"$d/big" TCP-LISTEN:5002,bind="$LAN4",reuseaddr
wait_until 5 L sh -c "ss -Hltn 'sport = :5002' | grep -q ."
wait_until 5 L sh -c "ss -Hltn 'sport = :5001' | grep -q ."
C socat -u FILE:"$d/big" "TCP6:[$LAN6]:5001"
wait_filled "$d/up.sha" 20 || true
check "20 MB client -> server over IPv6 in IPv6, sha256 equal" \
	test "$(cut -d' ' -f1 "$d/up.sha")" = "$big_sha"
C socat -u TCP:"$LAN4":5002 STDOUT | sha256sum >"$d/down.sha"
check "20 MB server -> client over IPv4 in IPv6, sha256 equal" \
	test "$(cut -d' ' -f1 "$d/down.sha")" = "$big_sha"
ferry_stop c
ferry_stop s # a clean exit, where a sanitizer build reports leaks
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
