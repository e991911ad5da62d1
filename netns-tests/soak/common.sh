# shellcheck shell=bash disable=SC2034,SC2154
# What soak.sh and baseline.sh share: the load's shape, from their arguments and
# environment, and the descriptor limit it needs. Source it after lib.sh, with $here set
# to netns-tests/ and the script's arguments ("$@": [FLOWS [MINUTES]]). (For shellcheck:
# what it sets is used by those scripts, and $here is theirs.)

soak="$here/soak/soak.py"
flows=${1:-10000}
minutes=${2:-10}
read -r -a wanem_args <<<"${SOAK_WANEM:---rate 100M --delay 10 --loss 1 --seed 14}"
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
ramp=$((seconds / 10 < 30 ? seconds / 10 : 30))
drain=120
ports=9100-9115

# soak_nofile NAME: raises RLIMIT_NOFILE for everything started after it: a socket per
# flow in the load's client and in its server (and one per egress flow in ferry). The hard
# limit goes up if we may (CAP_SYS_RESOURCE), else the soft one goes up to it. Exits if
# that is not enough for $flows.
soak_nofile() {
	ulimit -Hn 65536 2>/dev/null || true
	nofile=$(ulimit -Hn)
	[ "$nofile" = unlimited ] && nofile=65536
	ulimit -Sn "$nofile"
	if [ "$nofile" -lt $((flows + 1024)) ]; then
		echo "$1: RLIMIT_NOFILE is at most $nofile here, $((flows + 1024)) are needed" >&2
		exit 1
	fi
}

# soak_wait_client PID REPORT: waits for the load's client (PID, started by netns_bg) to
# end, running REPORT (a function) every minute and once at the end; then checks that
# it exited cleanly.
soak_wait_client() {
	local pid=$1 report=$2 rc=0
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		"$report"
	done
	wait "$pid" || rc=$?
	check "the load generator exits cleanly (status $rc)" test "$rc" -eq 0
}
