#!/usr/bin/env bash
# ferry demo as the README runs it, shortened: it must print the table with a goodput for
# every path and exit 0, and after it -- also when stopped by Ctrl-C halfway -- no process,
# namespace or file of it may be left.
#
# Usage: demo.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: demo.sh FERRY-BINARY}

netns_init
out=$(mktemp -d)
NETNS_DIRS+=("$out")
demo_dirs() { find /tmp -maxdepth 1 -name 'ferry-demo-*' | sort; }
before=$(demo_dirs)

# leftovers PID: the demo's children (by parent PID) and its directory, if any remain
leftovers() {
	pgrep -P "$1" || true
	comm -13 <(echo "$before") <(demo_dirs)
}

"$ferry" demo --time 2 --requests 10 --rtt 20 --loss 1 --rate 100 >"$out/demo" 2>&1 &
pid=$!
NETNS_PIDS+=("$pid")
rc=0
wait "$pid" || rc=$?
sed 's/^/     /' "$out/demo" | grep -E 'goodput|request/response|Mbit/s$' || true
check "ferry demo exits 0" test "$rc" = 0
check "a goodput for plain TCP (cubic), plain TCP (bbr) and ferry" \
	bash -c "grep -E '^  goodput +[0-9.]+ Mbit/s +[0-9.]+ Mbit/s +[0-9.]+ Mbit/s' '$out/demo'"
check "request/response latencies for each path" \
	bash -c "grep -E '^  request/response p99 +[0-9]+ ms +[0-9]+ ms +[0-9]+ ms' '$out/demo'"
check "ferry's own status is shown" grep -q 'state: up' "$out/demo"
check "nothing of the demo is left" test -z "$(leftovers "$pid")"

"$ferry" demo --time 5 --rtt 20 >"$out/stopped" 2>&1 &
pid=$!
NETNS_PIDS+=("$pid")
wait_until 10 grep -q 'Bulk transfer' "$out/stopped" || true
sleep 1
kids=$(pgrep -P "$pid" | tr '\n' ' ')
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
check "Ctrl-C stops the demo (exit 1, says so)" \
	bash -c "[ $rc = 1 ] && grep -q 'stopped; everything it made is gone' '$out/stopped'"
check "... and every process it started is gone ($kids)" \
	bash -c "for k in $kids; do ! kill -0 \$k 2>/dev/null || exit 1; done"
check "... and its directory" test -z "$(comm -13 <(echo "$before") <(demo_dirs))"

netns_finish
