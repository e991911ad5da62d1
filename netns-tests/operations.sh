#!/usr/bin/env bash
# Who may speak to a running ferry: with a group named "ferry", its members may read the
# status (text, JSON, and the bash completion's names through it) and nothing else; root
# may still do everything; anyone else may do nothing. Without the group the control
# socket is root's alone again at the next start. A ferry that another user started, with
# capabilities of its own, is that user's to stop.
#
#   ┌──────────── ns "a" ────────────┐
#   │ ta0 10.99.0.1/24 (ferry up,    │   no peer: the tunnel only has to run
#   │     no peer)                   │   control socket /run/ferry/netns/NS/ta0.sock
#   └────────────────────────────────┘
#   clients, in ns "a": root; uid 65534 with group ferry; uid 65534 without (setpriv)
#
# The group "ferry" is created for the test if the machine has none, and deleted after;
# the modes of /run/ferry and /run/ferry/netns, which a start changes, are put back.
# Usage: operations.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: operations.sh FERRY-BINARY}
completion="$here/../tools/dist/ferry.bash"
NOBODY=65534

netns_init
netns_require setpriv groupadd groupdel getent stat
if ! setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$ferry" version >/dev/null 2>&1; then
	echo "SKIP: uid $NOBODY cannot run $ferry (a directory on its path is closed to others)"
	exit 77
fi

group_created=0
saved_dirs=() saved_modes=() saved_gids=()
ops_cleanup() {
	local i
	netns_cleanup
	if [ "$group_created" = 1 ]; then
		groupdel ferry 2>/dev/null || true
		group_created=0
	fi
	for i in "${!saved_dirs[@]}"; do
		chmod "${saved_modes[i]}" "${saved_dirs[i]}" 2>/dev/null || true
		chgrp "${saved_gids[i]}" "${saved_dirs[i]}" 2>/dev/null || true
	done
}
trap ops_cleanup EXIT
for d in /run/ferry /run/ferry/netns; do
	if [ -d "$d" ]; then
		saved_dirs+=("$d")
		saved_modes+=("$(stat -c '%a' "$d")")
		saved_gids+=("$(stat -c '%g' "$d")")
	fi
done

if getent group ferry >/dev/null; then
	echo "note: this machine has a group ferry: it is used, and not removed"
else
	groupadd --system ferry
	group_created=1
fi
gid=$(getent group ferry | cut -d: -f3)

a= # netns_add sets it
netns_add a a
A() { ip netns exec "$a" "$@"; }
member() { A setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$gid" "$ferry" "$@"; }
stranger() { A setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$ferry" "$@"; }
dir=$(mktemp -d)
NETNS_DIRS+=("$dir")
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51830\nAddress = 10.99.0.1/24\n' \
		"$("$ferry" genkey)" >"$dir/ta0.conf"
)
sock_dir=/run/ferry/netns/$a
sock=$sock_dir/ta0.sock

# ferry_a_start: ferry up in ns a, as root; true once it answers.
ferry_a_start() {
	netns_bg "$a" "$ferry" up "$dir/ta0.conf" 2>>"$dir/a.log"
	ferry_pid=${NETNS_PIDS[-1]}
	wait_until 5 A "$ferry" status ta0
}

# ---- with the group --------------------------------------------------------------------
check "ferry up starts (group ferry exists)" ferry_a_start
check "the control socket is 0660, group ferry" test "$(stat -c '%a %G' "$sock")" = "660 ferry"
for d in /run/ferry /run/ferry/netns "$sock_dir"; do
	check "$d is 0750, group ferry" test "$(stat -c '%a %G' "$d")" = "750 ferry"
done
check "the log says the group may read the status" grep -q "group ferry may read the status" "$dir/a.log"

out=$(member status 2>&1) && rc=0 || rc=$?
check "a member: ferry status succeeds" test "$rc" = 0
check "... and shows ta0" grep -q '^interface: ta0$' <<<"$out"
out=$(member status --json ta0 2>&1) && rc=0 || rc=$?
check "a member: ferry status --json ta0 succeeds" test "$rc" = 0
check "... and is ta0's JSON" grep -q '"interface":{"name":"ta0"' <<<"$out"

out=$(member down ta0 2>&1) && rc=0 || rc=$?
check "a member: ferry down is refused (exit 1)" test "$rc" = 1
check "... saying why" grep -q "ferry down: ta0: refused: only root may stop ta0; group ferry may only read its status" <<<"$out"
check "... and ta0 still runs" A "$ferry" status ta0
check "... its process too" kill -0 "$ferry_pid"
out=$(member exec --name ta0 -- true 2>&1) && rc=0 || rc=$?
check "a member: joining with ferry exec is refused (exit 1)" test "$rc" = 1
check "... saying why" grep -q "refused: only root may run commands in the namespace of ta0" <<<"$out"
check "the log names the refused requests and the uid" \
	grep -q "refused \"down\" from uid $NOBODY" "$dir/a.log"

out=$(stranger status ta0 2>&1) && rc=0 || rc=$?
check "not a member: ferry status ta0 fails (exit 1)" test "$rc" = 1
check "... permission denied" grep -q "Permission denied" <<<"$out"
out=$(stranger status 2>&1) && rc=0 || rc=$?
check "not a member: ferry status (all) fails too" test "$rc" = 1
out=$(stranger down ta0 2>&1) && rc=0 || rc=$?
check "not a member: ferry down fails" test "$rc" = 1

# the bash completion offers the running tunnel's name to a member
# shellcheck disable=SC2016 # expanded by the inner bash
names=$(A setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$gid" bash -c \
	'. "$1"; COMP_WORDS=("$2" down ""); COMP_CWORD=2; _ferry; echo "${COMPREPLY[*]}"' \
	_ "$completion" "$ferry")
check "completion of 'ferry down ' for a member: ta0" test "$names" = ta0

out=$(A "$ferry" down ta0 2>&1) && rc=0 || rc=$?
check "root: ferry down succeeds" test "$rc" = 0
wait "$ferry_pid" 2>/dev/null || true
check "... and the socket is gone" test ! -e "$sock"

# ---- without the group -----------------------------------------------------------------
if [ "$group_created" = 1 ]; then
	groupdel ferry
	group_created=0
	check "ferry up starts (no group ferry)" ferry_a_start
	check "the control socket is 0600 again" test "$(stat -c '%a' "$sock")" = 600
	for d in /run/ferry /run/ferry/netns "$sock_dir"; do
		check "$d is 0700 again" test "$(stat -c '%a' "$d")" = 700
	done
	out=$(member status ta0 2>&1) && rc=0 || rc=$?
	check "the former group's id opens nothing now (exit 1)" test "$rc" = 1
	check "... permission denied" grep -q "Permission denied" <<<"$out"
	check "root: ferry status still works" A "$ferry" status ta0
	check "root: ferry down" A "$ferry" down ta0
	wait "$ferry_pid" 2>/dev/null || true
else
	echo "note: the group ferry was there before: its absence is not tested"
fi

# ---- a ferry started by another user than root ----------------------------------------
# with capabilities of its own (ambient CAP_NET_ADMIN, and CAP_DAC_OVERRIDE for a
# /dev/net/tun that is root's): that user may stop it, as root may; another may not
mkdir "$dir/run"
chown $NOBODY:$NOBODY "$dir/run" "$dir/ta0.conf"
chmod 755 "$dir"
as_owner() {
	A env FERRY_RUN_DIR="$dir/run" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		--inh-caps=+net_admin,+dac_override --ambient-caps=+net_admin,+dac_override "$@"
}
netns_bg "$a" env FERRY_RUN_DIR="$dir/run" setpriv --reuid=$NOBODY --regid=$NOBODY \
	--clear-groups --inh-caps=+net_admin,+dac_override --ambient-caps=+net_admin,+dac_override \
	"$ferry" up "$dir/ta0.conf" 2>>"$dir/owner.log"
ferry_pid=${NETNS_PIDS[-1]}
check "ferry up as uid $NOBODY with capabilities of its own starts" \
	wait_until 5 as_owner "$ferry" status ta0
out=$(A env FERRY_RUN_DIR="$dir/run" setpriv --reuid=65533 --regid=65533 --clear-groups \
	"$ferry" down ta0 2>&1) && rc=0 || rc=$?
check "another user: ferry down fails" test "$rc" = 1
out=$(A env FERRY_RUN_DIR="$dir/run" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	"$ferry" down ta0 2>&1) && rc=0 || rc=$?
check "the user who started it: ferry down succeeds" test "$rc" = 0
wait "$ferry_pid" 2>/dev/null || true
check "... and it is gone" test ! -e "$dir/run/ta0.sock"

check "no error in ferry's log" logs_clean "$dir/a.log" "$dir/owner.log"
netns_finish
