#!/usr/bin/env bash
# What a tunnel meets in the field: the link goes down for 10 s under a long transfer
# (the transfer survives and finishes intact), and the server's ferry restarts mid-session
# (its old flows end with a reset, not a hang; new connections work within 5 s).
#
# Usage: outage.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: outage.sh FERRY-BINARY}

netns_init
netns_require socat curl busybox ethtool python3

# No rate limit on the path: until the link has its congestion controller (issue 11), a
# backlog released into a narrow bottleneck floods its queue and recovers slowly.
wan=(--delay 10 --seed 3)
tools=(python3 "$here/tools.py")
check "the tunnel comes up over 20 ms RTT" tunnel_up "${wan[@]}"
d=$tun_dir
mkdir -p "$d/www"
echo hello >"$d/www/index.html"
netns_bg "$l" busybox httpd -f -p 80 -h "$d/www"
wait_until 5 L sh -c "ss -Hltn 'sport = :80' | grep -q ."

# ---- the link down for 10 s under a transfer of 30 MB, sent at 16 Mbit/s (15 s) ----------
head -c 30M /dev/urandom >"$d/big"
netns_bg "$l" bash -c "socat -u TCP-LISTEN:5001,bind=$LAN4,reuseaddr STDOUT | sha256sum >'$d/up.sha'"
wait_until 5 L sh -c "ss -Hltn 'sport = :5001' | grep -q ."
netns_bg "$c" "${tools[@]}" paced-send "$LAN4" 5001 "$d/big" 16000000
sleep 3
wanem_down # the wire between the two ends is cut: nothing crosses
echo "     link down at $(date +%T)"
sleep 10
wanem_up "${wan[@]}"
echo "     link up at $(date +%T)"
wait_filled "$d/up.sha" 60 || true
check "the transfer survives 10 s without a link and finishes intact" \
	test "$(cut -d' ' -f1 "$d/up.sha")" = "$(sha_of "$d/big")"

# ---- the server's ferry restarts mid-session ----------------------------------------------
# an old flow still sending (30 MB at 8 Mbit/s would take 30 s) when the peer restarts
netns_bg "$l" socat -u TCP-LISTEN:5002,bind="$LAN4",reuseaddr /dev/null
wait_until 5 L sh -c "ss -Hltn 'sport = :5002' | grep -q ."
netns_bg "$c" bash -c "python3 '$here/tools.py' paced-send $LAN4 5002 '$d/big' 8000000 \
	2>'$d/old.err'; echo \$? >'$d/old.rc'"
sleep 2
ferry_stop s KILL # a crash: the server cannot tell the client
ferry_start s
start=$(date +%s%N)
ok=no
for _ in $(seq 1 100); do
	if C curl -s --max-time 1 "http://$LAN4/" | grep -q hello; then
		ok=yes
		break
	fi
done
ms=$((($(date +%s%N) - start) / 1000000))
echo "     a new connection worked ${ms} ms after the server's ferry was back"
check "after the peer restarts, new connections work within 5 s ($ms ms)" \
	test "$ok" = yes -a "$ms" -le 5000
check "the flow of the old session ends (reset), it does not hang" wait_filled "$d/old.rc" 30
check "... with an error, not as if complete" bash -c "[ \"\$(cat '$d/old.rc')\" != 0 ]"
check "the client counted the peer's restart" \
	bash -c "ip netns exec '$c' '$ferry' status --json tc0 | grep -q '\"peer_restarts\":1'"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
