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
NETNS_FAILS=0
NETNS_PASSES=0

netns_cleanup() {
	local pid ns
	for pid in "${NETNS_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${NETNS_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${NETNS_LIST[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	NETNS_PIDS=()
	NETNS_LIST=()
}

netns_init() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: namespace tests need root"
		exit 77
	fi
	trap netns_cleanup EXIT
	trap 'exit 130' INT TERM
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

# netns_finish: cleans up now (checking that no namespace of this test is left), prints the
# tally and exits non-zero if anything failed.
netns_finish() {
	netns_cleanup
	check "no namespace of this test left behind" \
		bash -c "! ip netns list | grep -q '^$NETNS_PREFIX-'"
	echo "$NETNS_PASSES passed, $NETNS_FAILS failed"
	[ "$NETNS_FAILS" -eq 0 ] && [ "$NETNS_PASSES" -gt 0 ]
}
