#!/usr/bin/env bash
# The installed systemd unit: `cmake --install` into a scratch root (DESTDIR), then
# `systemd-analyze verify --root` on an instance of ferry@.service there. It fails on any
# message, since verify only warns (exit 0) about an unknown or misspelt option. verify
# checks that ExecStart's binary is the installed ferry, executable, and, with man(1)
# installed, that the man pages of Documentation= are installed too. The scratch root
# gets a copy of this machine's own units (sysinit.target and the like, which verify
# loads as dependencies); nothing outside it is touched.
# Usage: systemd-unit.sh BUILD-DIR [SYSTEMD-ANALYZE]
set -euo pipefail
build=${1:?usage: systemd-unit.sh BUILD-DIR [SYSTEMD-ANALYZE]}
analyze=${2:-systemd-analyze}
units=""
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[ -f "$d/sysinit.target" ] && units=$d && break
done
if [ -z "$units" ]; then
	echo "SKIP: no systemd units on this machine for verify to load (sysinit.target)"
	exit 77
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" >"$root.install.log" 2>&1 || {
	cat "$root.install.log"
	rm -f "$root.install.log"
	echo "FAIL cmake --install"
	exit 1
}
rm -f "$root.install.log"
unit=$(find "$root" -name 'ferry@.service' -type f)
if [ -z "$unit" ]; then
	echo "FAIL ferry@.service was not installed"
	exit 1
fi
echo "installed: ${unit#"$root"}"
mkdir -p "$root/usr/lib/systemd"
cp -a "$units" "$root/usr/lib/systemd/system-host"
# the host's units where verify looks for them, unless the unit itself went there
if [ ! -e "$root/usr/lib/systemd/system" ]; then
	mv "$root/usr/lib/systemd/system-host" "$root/usr/lib/systemd/system"
else
	cp -an "$root/usr/lib/systemd/system-host/." "$root/usr/lib/systemd/system/"
	rm -rf "$root/usr/lib/systemd/system-host"
fi

man=(--man=no)
if command -v man >/dev/null; then
	mandir=$(find "$root" -type d -name man8 -path '*/man/man8' | head -n 1)
	if [ -n "$mandir" ]; then
		man=(--man=yes)
		export MANPATH=${mandir%/man8}
	else
		echo "note: no man pages installed (scdoc missing?): Documentation= not checked"
	fi
fi

status=0
out=$("$analyze" verify --root="$root" "${man[@]}" ferry@wg0.service 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
	echo "$out"
	echo "FAIL systemd-analyze verify ferry@wg0.service (exit $status, messages above)"
	exit 1
fi

# the binary it runs is the one installed, and it stops the same instance
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
exec_stop=$(sed -n 's/^ExecStop=-\{0,1\}//p' "$unit")
binary=${exec_start%% *}
if [ ! -x "$root$binary" ]; then
	echo "FAIL ExecStart runs $binary, which cmake --install did not install"
	exit 1
fi
if [ "$exec_start" != "$binary up /etc/ferry/%i.conf" ] || [ "$exec_stop" != "$binary down %i" ]; then
	echo "FAIL ExecStart/ExecStop: '$exec_start' / '$exec_stop'"
	exit 1
fi
echo "ok   systemd-analyze verify ferry@wg0.service ($binary, ${man[*]})"
