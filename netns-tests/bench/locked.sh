#!/usr/bin/env bash
# The memory that holds ferry's keys (not a test: its figures go to docs/benchmarks.md).
# For each peer count, one ferry up in a namespace of its own with that many peers, each
# with a preshared key and no endpoint; once its control socket answers, its VmLck (the
# guarded, locked memory of transport/secret.h: the Noise local's key, the configuration's
# keys, the peers) and VmRSS from /proc/PID/status, then ferry down. The last column is
# what each peer beyond the first adds to the locked memory.
#
#   ns fk-locked-PID: ferry up, a TUN and nothing else (no link, no traffic)
#
# Usage: netns-tests/bench/locked.sh [PEERS...]   (as root, after the build; default 1 64
# 1024). WRAP="setpriv --bounding-set=-ipc_lock" runs ferry without CAP_IPC_LOCK, under
# RLIMIT_MEMLOCK (its warning is shown).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ferry=${FERRY:-$top/build/cli/ferry}
ns=fk-locked-$$
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"

# config N: a configuration of N peers on standard output
config() {
	local i
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.200.0.1/16\n' "$("$ferry" genkey)"
	for i in $(seq 1 "$1"); do
		printf '[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.%d.%d.0/24\n' \
			"$("$ferry" genkey | "$ferry" pubkey)" "$("$ferry" genpsk)" \
			$((100 + i / 256)) $((i % 256))
	done
}

# field PID NAME: a /proc/PID/status field in kB
field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 64 1024)
first=
printf '%6s %12s %12s %16s\n' peers "VmLck kB" "VmRSS kB" "locked B/peer"
for n in "${counts[@]}"; do
	(umask 077 && config "$n" >"$dir/locked.conf")
	# shellcheck disable=SC2086 # WRAP is a command and its arguments
	ip netns exec "$ns" ${WRAP:-} "$ferry" up "$dir/locked.conf" 2>"$dir/log" &
	pid=$!
	for _ in $(seq 100); do
		ip netns exec "$ns" "$ferry" status locked >/dev/null 2>&1 && break
		sleep 0.1
	done
	lck=$(field "$pid" VmLck)
	rss=$(field "$pid" VmRSS)
	ip netns exec "$ns" "$ferry" down locked >/dev/null
	wait "$pid"
	pid=
	grep -F "not locked" "$dir/log" || true
	if [ -z "$first" ]; then
		first="$n $lck"
		per=-
	elif [ "$lck" -lt "${first#* }" ]; then
		per="not locked"
	else
		per=$(((lck - ${first#* }) * 1024 / (n - ${first% *})))
	fi
	printf '%6d %12d %12d %16s\n' "$n" "$lck" "$rss" "$per"
done
