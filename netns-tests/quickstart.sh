#!/usr/bin/env bash
# Runs docs/quickstart.md: every command of its ```console blocks, as written, on the
# machine its prompt names (server# or laptop#), each machine a namespace with a directory
# of its own; the two are joined by a veth, the server at 203.0.113.1. How the lines are
# run:
#   - each in a fresh `bash -c` in that machine's directory, after the machine's earlier
#     `umask` lines (the only state a line leaves for the next);
#   - `CMD <<EOF` takes the lines up to EOF as its here-document;
#   - `CMD &` runs in the background (recorded, stopped at the end); for `ferry up` the
#     next line waits until its control socket answers;
#   - `scp FILE HOST:` copies FILE to the other machine's directory (no ssh here);
#   - lines without a prompt after a command are what it prints: each must appear in its
#     output, `...` standing for anything.
# Every command must exit 0. Then the guide's claims that are not commands are checked.
#
# Usage: quickstart.sh FERRY-BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: quickstart.sh FERRY-BINARY}
guide="$here/../docs/quickstart.md"

netns_init
netns_add s server
netns_add l laptop
ip link add eth0 netns "$server" type veth peer name eth0 netns "$laptop"
ip -n "$server" addr add 203.0.113.1/24 dev eth0
ip -n "$laptop" addr add 203.0.113.2/24 dev eth0
ip -n "$server" link set eth0 up
ip -n "$laptop" link set eth0 up
top=$(mktemp -d)
NETNS_DIRS+=("$top")
mkdir -p "$top/bin" "$top/server" "$top/laptop"
ln -s "$(readlink -f "$ferry")" "$top/bin/ferry"
declare -A ns_of=([server]=$server [laptop]=$laptop) umask_of=([server]="" [laptop]="")

# run MACHINE CMD: one line of the guide (with its here-document); its output in $top/out.
run() {
	local m=$1 cmd=$2 bg=0
	if [[ "$cmd" =~ ^scp\ ([^ ]+)\ ([a-z]+):$ ]]; then
		cp "$top/$m/${BASH_REMATCH[1]}" "$top/${BASH_REMATCH[2]}/"
		return
	fi
	if [[ "$cmd" == *" &" ]]; then
		bg=1
		cmd=${cmd% &}
	fi
	[[ "$cmd" == umask\ * ]] && umask_of[$m]="${umask_of[$m]}$cmd; "
	local script="cd '$top/$m' && ${umask_of[$m]}export PATH='$top/bin':\$PATH && "
	if [ "$bg" = 1 ]; then
		# exec: the PID recorded is the command's, for the cleanup and the end's check
		netns_bg "${ns_of[$m]}" bash -c "${script}exec $cmd" </dev/null >>"$top/$m.bg.log" 2>&1
		if [[ "$cmd" =~ ^ferry\ up\ ([^ ]+)\.conf$ ]]; then
			wait_until 5 ip netns exec "${ns_of[$m]}" "$ferry" status "${BASH_REMATCH[1]}"
		fi
		return
	fi
	ip netns exec "${ns_of[$m]}" bash -c "$script$cmd" </dev/null >"$top/out" 2>&1 || {
		local rc=$?
		echo "$m# $cmd: exit $rc" >&3
		sed 's/^/    /' "$top/out" >&3
		return "$rc"
	}
}

# expect_output PATTERN-LINE: the last command printed it (`...` is anything).
expect_output() {
	local re
	re=$(printf '%s' "$1" | sed -e 's/[][\.*^$/]/\\&/g' -e 's/\\\.\\\.\\\./.*/g')
	grep -q -- "$re" "$top/out"
}

exec 3>&2 # what a failing command printed, shown past check's silence
commands=0
in_block=0 machine="" cmd="" heredoc=0 last=""
while IFS= read -r line; do
	if [ "$in_block" = 0 ]; then
		[ "$line" = '```console' ] && in_block=1
		continue
	fi
	if [ "$heredoc" = 1 ]; then
		# the here-document as typed: the machine's shell expands $(...) in it
		cmd+=$'\n'"$line"
		if [ "$line" = EOF ]; then
			check "$machine# ${cmd%%$'\n'*}" run "$machine" "$cmd"
			heredoc=0 last=""
		fi
		continue
	fi
	if [ "$line" = '```' ]; then
		in_block=0 last=""
		continue
	fi
	if [[ "$line" =~ ^(server|laptop)#\ (.*)$ ]]; then
		machine=${BASH_REMATCH[1]} cmd=${BASH_REMATCH[2]}
		commands=$((commands + 1))
		if [[ "$cmd" == *" <<EOF" ]]; then
			heredoc=1
			continue
		fi
		check "$machine# $cmd" run "$machine" "$cmd"
		last=$cmd
		continue
	fi
	[ -n "$last" ] && check "  prints: $line" expect_output "$line"
done <"$guide"

# What the guide says besides its commands.
check "the guide has its commands (more than 15)" test "$commands" -gt 15
check "the laptop's ferry0 is gone after ferry down" test -z "$(ferry_leftovers "$laptop" ferry0)"
check "no route to the tunnel left on the laptop" \
	bash -c "! ip -n '$laptop' route show | grep -q 10.77.0"
ended=1
netns_any_alive && ended=0
check "both ferry up processes ended at ferry down" test "$ended" = 1
check "no error in the logs" logs_clean "$top"/*.bg.log

netns_finish
