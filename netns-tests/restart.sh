#!/usr/bin/env bash
# A peer that restarts, and one that does not. The client holds a long-lived TCP
# connection through the tunnel, an echo every 0.5 s.
#   - The wire is cut for 30 s, both ferries keep their state: the connection survives,
#     its echoes resume once the wire is back (nothing is reset).
#   - The connection falls idle; the server's ferry is killed (SIGKILL: it cannot tell
#     anyone) and started again, with none of its sessions. A new TCP connection through
#     the tunnel works within 2 s of the restart: the client's link gives up on the old
#     session after a few RTOs of unanswered data (transport/link.h) instead of
#     WireGuard's 15 s. The old connection ends on the client with a reset (or EOF) soon
#     after, not a hang: the restarted server announces its new instance and the client's
#     bridge resets what belonged to the old one. The client counted one restart.
# The figures (outage to echoes again, restart to a new connection, restart to the old
# one's end) are printed.
#
#   ┌─ ns c (client) ─┐    ┌─ ns w ──┐    ┌─ ns s (server) ─┐    ┌─ ns l (LAN) ─┐
#   │ apps ─► tc0     │    │ wanem   │    │ ts0 ─► egress   │    │ 192.0.2.10    │
#   │ ferry ──────────┼────┤ 20 ms   ├────┼── ferry (killed,├────┤ :80 httpd     │
#   │ 198.51.100.1    │    │ RTT;    │    │  started again) │    │ :5003 echo    │
#   └─────────────────┘    │ cut 30 s│    └─────────────────┘    └───────────────┘
#                          └─────────┘
#   (lib.sh's tunnel_up has the addresses)
#
# Usage: restart.sh FERRY-BINARY   (FERRY_WANEM in the environment: the emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=netns-tests/lib.sh
. "$here/lib.sh"
ferry=${1:?usage: restart.sh FERRY-BINARY}

netns_init
netns_require socat curl busybox ethtool python3

wan=(--delay 10 --seed 5)
check "the tunnel comes up over 20 ms RTT" tunnel_up "${wan[@]}"
d=$tun_dir
mkdir -p "$d/www"
echo hello >"$d/www/index.html"
netns_bg "$l" busybox httpd -f -p 80 -h "$d/www"
netns_bg "$l" socat TCP-LISTEN:5003,bind="$LAN4",reuseaddr,fork PIPE
wait_until 5 L sh -c "ss -Hltn 'sport = :80' | grep -q ."
wait_until 5 L sh -c "ss -Hltn 'sport = :5003' | grep -q ."

# ---- the long-lived connection ------------------------------------------------------------
# An echo every 0.5 s (their count in OUT.count) until OUT.quiet exists, then idle; when
# the connection ends it writes how (reset, eof, ...) and when (wall clock, ns) to OUT.
netns_bg "$c" python3 -c '
import os, socket, sys, time
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=5)
s.settimeout(None)
n = 0
try:
    while not os.path.exists(out + ".quiet"):
        s.sendall(b"%d\n" % n)
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(64)
            if not b:
                raise EOFError
            got += b
        n += 1
        with open(out + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.replace(out + ".tmp", out + ".count")
        time.sleep(0.5)
    how = "eof" if s.recv(16) == b"" else "data"
except EOFError:
    how = "eof"
except ConnectionResetError:
    how = "reset"
except OSError as e:
    how = "error:" + str(e.errno)
with open(out, "w") as f:
    f.write("%s %d\n" % (how, time.time_ns()))
' "$LAN4" 5003 "$d/old"
echoes() { cat "$d/old.count" 2>/dev/null || echo 0; }
echoes_above() { [ "$(echoes)" -gt "$1" ]; }
check "a long-lived connection through the tunnel echoes" wait_until 10 echoes_above 1

# ---- the wire is cut for 30 s; both ends keep their state --------------------------------
wanem_down
echo "     wire cut at $(date +%T)"
sleep 30
before=$(echoes)
wanem_up "${wan[@]}"
up=$(date +%s%N)
echo "     wire back at $(date +%T)"
wait_until 40 echoes_above "$before" || true
resumed_ms=$((($(date +%s%N) - up) / 1000000))
echo "     echoes resumed ${resumed_ms} ms after the wire came back"
check "the connection survives 30 s without a wire: echoes resume (${resumed_ms} ms)" \
	echoes_above "$before"
check "... and it was not reset" test ! -e "$d/old"
touch "$d/old.quiet" # idle from now on: nothing of it tells the client the server is gone
sleep 1.5

# ---- the server's ferry is killed and started again ----------------------------------------
ferry_stop s KILL
ferry_start s
restart=$(date +%s%N)
echo "     the server's ferry was killed and is back at $(date +%T.%3N)"

# one connection attempt, as an application makes it: the SYN waits in the client's stack
# until the server side has connected
if C curl -s --max-time 10 "http://$LAN4/" >"$d/new.out" 2>/dev/null &&
	grep -q hello "$d/new.out"; then
	new_ms=$((($(date +%s%N) - restart) / 1000000))
else
	new_ms=
fi
echo "     a new connection worked ${new_ms:-never} ms after the restart"
check "a new connection through the tunnel works within 2 s of the restart (${new_ms:-never} ms)" \
	within "$new_ms" 0 2000

wait_filled "$d/old" 10 || true
old_how=$(cut -d' ' -f1 "$d/old" 2>/dev/null || true)
old_ms=
if [ -n "$old_how" ]; then
	old_ms=$((($(cut -d' ' -f2 "$d/old") - restart) / 1000000))
fi
echo "     the old connection ended (${old_how:-not at all}) ${old_ms:-never} ms after the restart"
check "the old connection ends with a reset or EOF within 3 s of the restart (${old_ms:-never} ms)" \
	bash -c "[ '$old_how' = reset ] || [ '$old_how' = eof ]"
check "... and in time" within "$old_ms" 0 3000
check "the client counted the peer's restart, once (not for the outage)" \
	bash -c "ip netns exec '$c' '$ferry' status --json tc0 | grep -q '\"peer_restarts\":1'"
check "the logs hold no error (nor a sanitizer's report)" logs_clean "$d/c.log" "$d/s.log"

netns_finish
