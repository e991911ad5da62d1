#!/usr/bin/env bash
# The bash completion (tools/dist/ferry.bash), driven as bash drives it: COMP_WORDS and
# COMP_CWORD set, the function called, COMPREPLY compared. The running tunnels' names come
# from a stand-in ferry whose `status` prints two interfaces; the commands and each
# command's long options must match those of the real binary's --help, so a command or
# option added to ferry and not to the completion fails here.
# Usage: completion.sh FERRY-BINARY
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
ferry=${1:?usage: completion.sh FERRY-BINARY}
fails=0
passes=0

# shellcheck source=tools/dist/ferry.bash
. "$here/../ferry.bash"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/cfg" "$work/cfg/sub.d"
cat >"$work/bin/ferry" <<'EOF'
#!/bin/sh
# a stand-in: two tunnels run
[ "$1" = status ] || exit 1
printf 'interface: wg0\n  mtu: 1400\n\ninterface: corp\n  mtu: 1400\n'
EOF
chmod +x "$work/bin/ferry"
touch "$work/cfg/a.conf" "$work/cfg/b.conf" "$work/cfg/notes.txt" "$work/cfg/-odd.conf"

# complete WORD... : COMPREPLY for the line WORD... with the cursor at the end of the last
# word (give "" for a new, empty word), sorted, one line.
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_ferry ferry "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect WANT WORD...: the completions of the line are exactly WANT (sorted, spaces).
expect() {
	local want=$1 got
	shift
	got=$(complete_line "$@")
	if [ "$got" = "$want" ]; then
		passes=$((passes + 1))
	else
		echo "FAIL '$*': got '$got', expected '$want'"
		fails=$((fails + 1))
	fi
}

# expect_has WANT WORD...: WANT is among the completions.
expect_has() {
	local want=$1 got
	shift
	got=" $(complete_line "$@") "
	if [[ $got == *" $want "* ]]; then
		passes=$((passes + 1))
	else
		echo "FAIL '$*': '$want' not among '$got'"
		fails=$((fails + 1))
	fi
}

# the commands, against ferry --help ("help" is the completion's own addition)
mapfile -t commands < <("$ferry" --help |
	awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' | sort)
[ "${#commands[@]}" -ge 5 ] || {
	echo "FAIL: only ${#commands[@]} commands in $ferry --help"
	exit 1
}
expect "$(printf '%s\n' "${commands[@]}" help | sort | tr '\n' ' ' | sed 's/ $//')" ferry ""
expect "status" ferry st
expect "check-config" ferry ch
expect "--help --version" ferry -
expect "$(printf '%s\n' "${commands[@]}" | tr '\n' ' ' | sed 's/ $//')" ferry help ""

# every long option of every command's --help is offered after "ferry CMD -"
for cmd in "${commands[@]}"; do
	offered=" $(complete_line ferry "$cmd" -) "
	while IFS= read -r opt; do
		if [[ $offered == *" $opt "* ]]; then
			passes=$((passes + 1))
		else
			echo "FAIL 'ferry $cmd -': $opt (from ferry $cmd --help) not offered"
			fails=$((fails + 1))
		fi
	done < <("$ferry" "$cmd" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
done
expect "--name" ferry up --n
expect "--json" ferry status --j

# names of the running tunnels, from `ferry status` of the ferry being completed
expect "corp wg0" "$work/bin/ferry" down ""
expect "wg0" "$work/bin/ferry" status w
expect "corp" "$work/bin/ferry" exec --name c
expect "" "$work/bin/ferry" down wg0 "" # one NAME only
expect "" "$work/bin/ferry" up --name ""

# configuration files: *.conf and directories; any file for check-config's FILE, and -
cd "$work/cfg" || exit 1
expect "a.conf b.conf sub.d" ferry up ""
expect "a.conf" ferry up a
expect "a.conf b.conf sub.d" ferry exec -c ""
expect "a.conf b.conf sub.d" ferry exec --config ""
expect "- a.conf b.conf sub.d" ferry check-config ""
expect "" ferry up a.conf "" # one CONFIG only
# after --, a word that starts with - is a file, not an option
expect "- -odd.conf" ferry check-config -- - # "-" is standard input, after -- too
expect "-odd.conf" ferry up -- -o
expect "--help" ferry check-config --h
cd - >/dev/null || exit 1

# option values
expect "bbr cubic" ferry demo --cc ""
expect "" ferry demo --rate ""
expect "root" ferry exec --user roo
expect "--" ferry exec ""
expect "--" ferry exec --name wg0 ""
# exec's command, after -- or without it, and its arguments
expect_has "bash" ferry exec -- bas
expect_has "bash" ferry exec --user root -- bas
expect_has "bash" ferry exec bas
expect_has "$here/../ferry.bash" ferry exec -- cat "$here/../ferry.b"

echo "completion: $passes passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$passes" -gt 0 ]
