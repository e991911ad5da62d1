#!/usr/bin/env bash
# Checks the built man pages against what they describe, without man(1):
#   ferry.8       names every command `ferry --help` lists, as an entry "ferry CMD", and
#                 every long option each command's --help shows;
#   ferry.conf.5  names every configuration key, as an entry "Key = ...": the keys of the
#                 parser's table (cli/config_keys.c) and of docs/configuration.md's tables;
#   both          are roff with a title, NAME, SYNOPSIS and SEE ALSO, and, when groff is
#                 installed, format without a warning.
# Usage: check-man.sh FERRY-BINARY MAN-DIR SOURCE-DIR
set -euo pipefail
ferry=${1:?usage: check-man.sh FERRY-BINARY MAN-DIR SOURCE-DIR}
man_dir=${2:?usage: check-man.sh FERRY-BINARY MAN-DIR SOURCE-DIR}
src=${3:?usage: check-man.sh FERRY-BINARY MAN-DIR SOURCE-DIR}
fails=0
passes=0

fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

pass() {
	passes=$((passes + 1))
}

# plain PAGE: the page's text without roff's font escapes and with plain hyphens.
plain() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\(en/-/g' "$1"
}

for page in ferry.8 ferry.conf.5; do
	f="$man_dir/$page"
	if [ ! -s "$f" ]; then
		fail "$f was not built"
		continue
	fi
	name=${page%.*}
	section=${page##*.}
	grep -Eiq "^\.TH \"?$name\"? \"?$section\"?" "$f" || fail "$page: no .TH $name $section"
	for heading in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -Eq "^\.SH \"?$heading\"?\$" "$f" || fail "$page: no section $heading"
	done
	if command -v groff >/dev/null; then
		warnings=$(groff -man -Tutf8 -ww -z "$f" 2>&1) || fail "$page: groff failed"
		[ -z "$warnings" ] || fail "$page: groff warns: $warnings"
	fi
	pass
done
[ "$fails" -eq 0 ] || exit 1

# The commands, from `ferry --help`: the lines after "Commands:" up to the first blank.
mapfile -t commands < <("$ferry" --help | awk '/^Commands:/ { on = 1; next }
	on && /^$/ { exit } on { print $1 }')
[ "${#commands[@]}" -ge 5 ] || fail "found only ${#commands[@]} commands in ferry --help"
text8=$(plain "$man_dir/ferry.8")
for cmd in "${commands[@]}"; do
	if grep -Eq "^ferry $cmd( |\$)" <<<"$text8"; then
		pass
	else
		fail "ferry.8 has no entry for \"ferry $cmd\" (from ferry --help)"
	fi
	help=$("$ferry" "$cmd" --help) || fail "ferry $cmd --help failed"
	while IFS= read -r opt; do
		if grep -Eq -- "(^|[^a-z-])$opt([^a-z-]|\$)" <<<"$text8"; then
			pass
		else
			fail "ferry.8 does not name $opt of ferry $cmd (from ferry $cmd --help)"
		fi
	done < <(grep -oE -- '--[a-z][a-z-]+' <<<"$help" | sort -u)
done

# The keys: the parser's table, and the first table under each section's heading in
# docs/configuration.md (a row may name several keys: `PreUp`, `PostUp`, ...).
# shellcheck disable=SC2016 # the backquotes are Markdown's, not the shell's
mapfile -t keys < <(
	{
		grep -oE '^\s*\[K_[A-Z_]+\] = \{"[A-Za-z]+"' "$src/cli/config_keys.c" |
			sed -E 's/.*\{"([A-Za-z]+)"/\1/'
		awk '/^## `\[(Interface|Peer)\]`/ { on = 1; seen = 0; next }
			/^#/ { on = 0 }
			on && /^\|/ { seen = 1; print; next }
			on && seen { on = 0 }' "$src/docs/configuration.md" |
			cut -d'|' -f2 | grep -oE '[`][A-Za-z]+[`]' | tr -d '`' | grep -v '^key$'
	} | sort -u
)
[ "${#keys[@]}" -ge 20 ] || fail "found only ${#keys[@]} configuration keys"
text5=$(plain "$man_dir/ferry.conf.5")
for key in "${keys[@]}"; do
	if grep -Eq "^$key = " <<<"$text5"; then
		pass
	else
		fail "ferry.conf.5 has no entry \"$key = ...\" (cli/config_keys.c, docs/configuration.md)"
	fi
done

echo "man pages: ${#commands[@]} commands, ${#keys[@]} keys; $passes passed, $fails failed"
[ "$fails" -eq 0 ]
