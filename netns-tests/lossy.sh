#!/usr/bin/env bash
# The tunnel over a bad path: 25 ms each way (50 ms RTT), 5% loss each way, 100 Mbit/s.
# 200 MB cross each way at once with equal sha256, and ping shows the emulated round trip.
# Plain TCP over this path gets about 1 Mbit/s (docs/benchmarks.md); ferry's goodput is
# printed here, and asserted only loosely (the benchmark, not this test, holds the goal).
#
# Usage: lossy.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: lossy.sh FERRY-BINARY}

netns_init
netns_require socat ethtool

check "the tunnel comes up over 50 ms RTT, 5% loss, 100 Mbit/s" \
	tunnel_up --delay 25 --loss 5 --rate 100M --seed 7
d=$tun_dir

# ---- ping: the emulated round trip, through both ferries -------------------------------
C ping -c 20 -i 0.1 -W 2 "$LAN4" >"$d/ping" || true
rtt=$(sed -n 's/.* time=\([0-9.]*\) ms$/\1/p' "$d/ping" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
got=$(grep -c ' time=' "$d/ping" || true)
echo "     ping through the tunnel: $got of 20 replies, median RTT ${rtt:-none} ms"
check "ping shows the emulated RTT (median $rtt ms, expected 50 to 70)" within "$rtt" 50 70
check "ping: most echoes come back (5% loss each way: about 90%; got $got of 20)" \
	test "$got" -ge 12

# ---- 200 MB each way, at the same time ---------------------------------------------------
head -c 200M /dev/urandom >"$d/big"
big_sha=$(sha_of "$d/big")
netns_bg "$l" bash -c "socat -u TCP-LISTEN:5001,bind=$LAN4,reuseaddr STDOUT | sha256sum >'$d/up.sha'"
netns_bg "$l" socat -u FILE:"$d/big" TCP-LISTEN:5002,bind="$LAN4",reuseaddr
wait_until 5 L sh -c "ss -Hltn 'sport = :5002' | grep -q ."
t0=$(date +%s.%N)
netns_bg "$c" socat -u FILE:"$d/big" TCP:"$LAN4":5001
up_pid=${NETNS_PIDS[-1]}
C socat -u TCP:"$LAN4":5002 STDOUT | sha256sum >"$d/down.sha"
t1=$(date +%s.%N)
wait "$up_pid" || true
wait_filled "$d/up.sha" 60 || true
t2=$(date +%s.%N)
check "200 MB server -> client over the lossy path, sha256 equal" \
	test "$(cut -d' ' -f1 "$d/down.sha")" = "$big_sha"
check "200 MB client -> server at the same time, sha256 equal" \
	test "$(cut -d' ' -f1 "$d/up.sha")" = "$big_sha"
down_mbit=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 1677.7216 / (b - a) }')
up_mbit=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.0f", 1677.7216 / (b - a) }')
echo "     200 MB each way at once: down $down_mbit Mbit/s, up $up_mbit Mbit/s"
# far above plain TCP's ~1 Mbit/s on this path, with room for a slow, shared machine
check "goodput well above plain TCP's (down $down_mbit, up $up_mbit Mbit/s; at least 20)" \
	test "$down_mbit" -ge 20 -a "$up_mbit" -ge 20

fc status --json tc0 >"$d/status.json"
python3 - "$d/status.json" <<-'EOF' || true
	import json, sys
	p = json.load(open(sys.argv[1]))["peers"][0]
	print("     client's view: loss %.1f%%, FEC rebuilt %d shards, %d retransmissions" %
	      (100 * p["loss"], p["fec"]["recovered"], p["retransmits"]))
EOF
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
