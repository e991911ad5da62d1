# shellcheck shell=bash
# bash completion for ferry(8). Installed as share/bash-completion/completions/ferry, which
# bash-completion loads the first time `ferry` is completed; or source this file.
#
# Completes the commands, each command's options and their values; the names of the
# running tunnels (from `ferry status`, so only those this user may see, in this network
# namespace) for down, status and exec --name; configuration files (*.conf) for up,
# check-config and exec --config; after exec's `--`, a command and its own completion.
# After a `--` anywhere else no option is offered.
# Needs nothing but bash; uses bash-completion's helpers when they are loaded.

# _ferry_names FERRY: the names of the running tunnels, one a line.
_ferry_names() {
	"$1" status 2>/dev/null | sed -n 's/^interface: //p'
}

# _ferry_files [all]: configuration files (*.conf) and directories for the current word;
# with "all", any file. A name that starts with "-" only for a word that does (after `--`:
# before it, such a word is an option).
_ferry_files() {
	local cur=${COMP_WORDS[COMP_CWORD]} line
	compopt -o filenames 2>/dev/null
	while IFS= read -r line; do
		[[ $line == -* && $cur != -* ]] || COMPREPLY+=("$line")
	done < <(
		if [ "${1-}" = all ]; then
			compgen -f -- "$cur"
		else
			compgen -d -- "$cur"
			compgen -f -X '!*.conf' -- "$cur"
		fi
	)
}

# _ferry_words WORDS...: those of WORDS that start with the current word.
_ferry_words() {
	local cur=${COMP_WORDS[COMP_CWORD]} line
	while IFS= read -r line; do
		COMPREPLY+=("$line")
	done < <(compgen -W "$*" -- "$cur")
}

# _ferry_command START: completes a command line that begins at word START (exec's CMD).
_ferry_command() {
	local start=$1 cur=${COMP_WORDS[COMP_CWORD]} line
	if declare -F _command_offset >/dev/null; then
		_command_offset "$start"
		return
	fi
	if [ "$COMP_CWORD" -eq "$start" ]; then
		while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -c -- "$cur")
	else
		_ferry_files all
	fi
}

_ferry() {
	local ferry=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]}
	local prev=""
	local commands="up exec down status demo genkey genpsk pubkey check-config version help"
	local cmd="" i dashdash=0 positional=0
	COMPREPLY=()
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}

	if [ "$COMP_CWORD" -eq 1 ]; then
		if [[ $cur == -* ]]; then
			_ferry_words --help --version
		else
			_ferry_words "$commands"
		fi
		return 0
	fi
	cmd=${COMP_WORDS[1]}

	# the words between the command and the current one: `--`, and the positional ones
	for ((i = 2; i < COMP_CWORD; i++)); do
		local w=${COMP_WORDS[i]}
		if [ "$dashdash" -eq 1 ]; then
			positional=$((positional + 1))
		elif [ "$w" = -- ]; then
			dashdash=1
			if [ "$cmd" = exec ]; then
				_ferry_command $((i + 1))
				return 0
			fi
		elif [[ $w == -?* ]]; then
			case "$cmd:$w" in
			up:--name | exec:--name | exec:--user | exec:--config | exec:-c | demo:--rate | \
				demo:--rtt | demo:--loss | demo:--time | demo:--requests | demo:--cc | \
				demo:--wanem) i=$((i + 1)) ;; # the option's value
			esac
		else
			positional=$((positional + 1))
			if [ "$cmd" = exec ]; then # the command, without `--`
				_ferry_command "$i"
				return 0
			fi
		fi
	done

	# an option's value
	case "$cmd:$prev" in
	up:--name) return 0 ;;
	exec:--name)
		_ferry_words "$(_ferry_names "$ferry")"
		return 0
		;;
	exec:--user)
		compopt +o filenames 2>/dev/null
		while IFS= read -r i; do COMPREPLY+=("$i"); done < <(compgen -u -- "$cur")
		return 0
		;;
	exec:--config | exec:-c)
		_ferry_files
		return 0
		;;
	demo:--cc)
		_ferry_words cubic bbr
		return 0
		;;
	demo:--wanem)
		_ferry_files all
		return 0
		;;
	demo:--*) return 0 ;; # a number
	esac

	if [ "$dashdash" -eq 0 ] && [[ $cur == -* ]]; then
		case "$cmd" in
		up) _ferry_words --name --quiet --verbose --insecure-key-file --help -- ;;
		exec) _ferry_words --config --name --user --quiet --verbose --insecure-key-file --help -- ;;
		status) _ferry_words --json --help -- ;;
		demo) _ferry_words --rate --rtt --loss --time --requests --cc --wanem --help ;;
		check-config) _ferry_words --insecure-key-file --help -- ;;
		down) _ferry_words --help -- ;;
		genkey | genpsk | pubkey | version) _ferry_words --help ;;
		esac
		return 0
	fi

	[ "$positional" -eq 0 ] || return 0
	case "$cmd" in
	up) _ferry_files ;;
	check-config)
		_ferry_files
		_ferry_words -
		;;
	down | status) _ferry_words "$(_ferry_names "$ferry")" ;;
	help) _ferry_words "${commands% help}" ;;
	exec) # `--` first; a word begun is the command (ferry exec takes it without `--`)
		if [ -z "$cur" ]; then
			_ferry_words --
		else
			_ferry_command "$COMP_CWORD"
		fi
		;;
	esac
	return 0
}

complete -F _ferry ferry
