# SPDX-License-Identifier: MIT
"""The soak's watch (netns-tests/soak/soak.sh, through soak.py's monitor and report
modes): the sampler, one JSON line of every process's memory, descriptors and CPU and of
ferry's counters every few seconds, and the judge, which prints the figures and writes the
verdicts. Standard library only."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

from soak_common import FAIL_LOG, TRAILER, read_json


# ---- monitor -----------------------------------------------------------------------------

def rss_kib(pid):
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError("no VmRSS for %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def ferry_counters(ferry, netns, dev):
    """the gauges and counters of `ferry status --json` the soak follows; None if it fails"""
    try:
        out = subprocess.run(["ip", "netns", "exec", netns, ferry, "status", "--json", dev],
                             capture_output=True, timeout=5, check=True).stdout
        st = json.loads(out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    i, p = st["interface"], st["peers"][0]
    return {"conversations": i["tunnel"]["conversations"], "stack_tcp": i["stack"]["tcp_flows"],
            "resets_out": i["tunnel"]["resets_out"], "resets_in": i["tunnel"]["resets_in"],
            "retransmits": p["retransmits"], "pacer_drops": p["dropped"]["pacer"],
            "tx_bytes": p["tx_bytes"], "rx_bytes": p["rx_bytes"],
            "egress_flows": i["egress"]["tcp_opened"]}


def monitor(args):
    pids = {}
    for item in args.pid:
        name, _, pid = item.partition("=")
        pids[name] = int(pid)
    where = {}
    for item in args.status:
        name, _, place = item.partition("=")
        where[name] = place.split(":", 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    with open(args.out, "a", encoding="ascii") as out:
        while not stop:
            row = {"t": round(time.monotonic() - t0, 1)}
            try:
                for name, pid in pids.items():
                    row[name] = {"rss_kib": rss_kib(pid), "fds": fd_count(pid),
                                 "cpu_s": cpu_seconds(pid)}
            except (OSError, ValueError) as exc:
                print("monitor: %s" % exc, file=sys.stderr)
                return 1
            for name, (netns, dev) in where.items():
                if name in row:
                    row[name]["status"] = ferry_counters(args.ferry, netns, dev)
            for key, path in (("client", args.client_stats), ("server", args.server_stats)):
                s = read_json(path) if path else None
                if s:
                    row[key + "_open"] = s["open"]
                    row[key + "_phase"] = s.get("phase")
                    row[key + "_cpu_s"] = s.get("cpu_s")
            out.write(json.dumps(row) + "\n")
            out.flush()
            deadline = time.monotonic() + args.interval
            while not stop and time.monotonic() < deadline:
                time.sleep(0.1)
    return 0


# ---- report ------------------------------------------------------------------------------

def mib(kib):
    return "%.1f MiB" % (kib / 1024)


def names_of(rows):
    """the processes the monitor sampled: the keys whose values are objects"""
    return [k for k in (rows[0] if rows else {}) if isinstance(rows[0][k], dict)]


def failures_told(cl):
    """failures grouped by reason and by how far the flow had come when it failed"""
    groups = {}
    for f in cl.get("fail_log", []) + [dict(s, why="undrained") for s in cl.get("stuck", [])]:
        if f.get("stage") == "connect":
            how = "connecting"
        elif f.get("down_got", 0) < f.get("down", 0):
            how = "down %s" % ("partial" if f.get("down_got") else "none")
        else:
            how = "down complete, trailer %d of %d B" % (f.get("trailer", 0), TRAILER.size)
        key = (f["why"], how)
        g = groups.setdefault(key, [0, [], []])
        g[0] += 1
        if "t" in f:
            g[1].append(f["t"])
        g[2].append(f.get("age", 0))
    for why, (n, lo, hi, quick) in sorted(cl.get("fail_age", {}).items()):
        print("  every %s: %d, the flow's age %.1f .. %.1f s, %d under 1 s" % (why, n, lo, hi,
                                                                          quick))
    if groups:
        print("  failures recorded (the first %d, and every flow cut off at the end):" % FAIL_LOG)
    for (why, how), (n, starts, ages) in sorted(groups.items()):
        print("    %-12s %5d  %s; flow's age %.1f .. %.1f s%s" % (
            why, n, how, min(ages), max(ages),
            "; started at %.0f .. %.0f s" % (min(starts), max(starts)) if starts else ""))


def series(rows, names):
    """about twelve rows of the run: flows, memory, descriptors, conversations, CPU"""
    if len(rows) < 2:
        return
    step = max(1, len(rows) // 12)
    pick = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    print("  %6s %5s %6s  %s" % ("t s", "phase", "open", "  ".join(
        "%-42s" % ("%s ferry: RSS MiB, fds, conv, CPU %%" % n) for n in names)))
    prev = rows[0]
    for r in pick:
        cols = []
        for n in names:
            dt = r["t"] - prev["t"]
            cpu = 100 * (r[n]["cpu_s"] - prev[n]["cpu_s"]) / dt if dt > 0 else 0
            st = r[n].get("status") or {}
            cols.append("%-42s" % ("%7.1f %6d %6s %5.0f" % (
                r[n]["rss_kib"] / 1024, r[n]["fds"], st.get("conversations", "?"), cpu)))
        print("  %6.0f %5s %6s  %s" % (r["t"], (r.get("client_phase") or "-")[:5],
                                      r.get("client_open", "-"), "  ".join(cols)))
        prev = r


def cpu_share(after, key):
    """CPU use of a process between the first and last sample after the warm-up, percent"""
    pts = [(r["t"], key(r)) for r in after if key(r) is not None]
    if len(pts) < 2 or pts[-1][0] == pts[0][0]:
        return None
    return 100 * (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def report(args):
    rows = [json.loads(line) for line in open(args.samples, encoding="ascii") if line.strip()]
    cl = read_json(args.client) or {}
    sv = read_json(args.server) or {}
    status = {}
    for item in args.status:
        name, _, path = item.partition("=")
        status[name] = read_json(path)
    verdicts = []

    def verdict(ok, what):
        verdicts.append((bool(ok), what))

    # which samples were taken under load, and which of those after the warm-up
    load = [r for r in rows if r.get("client_phase") == "load" and r["t"] <= args.seconds]
    t_load0 = load[0]["t"] if load else 0
    warm = t_load0 + args.warmup * args.seconds
    after = [r for r in load if r["t"] >= warm]
    names = names_of(rows)

    print("load: %d flows wanted, %s s; %d samples under load, %d after the warm-up (%.0f s)"
          % (cl.get("flows_target", 0), args.seconds, len(load), len(after), warm - t_load0))
    opens = [r.get("client_open", 0) for r in after]
    if opens:
        print("  flows open at the client (after warm-up): min %d, mean %.0f, max %d"
              % (min(opens), statistics.mean(opens), max(opens)))
    # ---- every byte
    failed = cl.get("failed", {})
    print("  flows: %d started, %d completed, %d failed %s"
          % (cl.get("started", 0), cl.get("completed", 0), cl.get("failed_total", 0),
             json.dumps(failed, sort_keys=True)))
    print("  bytes checked: up %d (server, every byte compared), %d confirmed in completed"
          " flows; down %d (client)" % (sv.get("up_checked", 0), cl.get("up_confirmed", 0),
                                        cl.get("down_checked", 0)))
    mism = (cl.get("down_mismatches", 0) + cl.get("up_mismatches", 0)
            + sv.get("up_mismatches", 0))
    print("  mismatches: down %d, up %d (trailers), up %d (server); server: %d accepted,"
          " %d completed, %d aborted, %d bad headers"
          % (cl.get("down_mismatches", 0), cl.get("up_mismatches", 0),
             sv.get("up_mismatches", 0), sv.get("accepted", 0), sv.get("completed", 0),
             sv.get("aborted", 0), sv.get("bad_header", 0)))
    if cl.get("duration_s"):
        print("  a completed flow's life (last 20,000): p50 %(p50)s s, p99 %(p99)s s,"
              " max %(max)s s" % cl["duration_s"])
    failures_told(cl)
    series(rows, names_of(rows))
    verdict(cl.get("phase") == "done", "the load generator ran to its end (phase %s)"
            % cl.get("phase"))
    verdict(cl.get("completed", 0) > 0 and sv.get("up_checked", 0) > 0
            and cl.get("down_checked", 0) > 0,
            "flows completed and bytes were checked both ways (%d flows)"
            % cl.get("completed", 0))
    verdict(mism == 0 and sv.get("bad_header", 0) == 0,
            "no byte differed, either way (%d mismatching flows)" % mism)
    own = sum(n for why, n in failed.items() if why.startswith("generator_"))
    verdict(own == 0, "the load generator had no error of its own (%d)" % own)
    verdict(cl.get("failed_total", 0) == 0,
            "every flow completed: none refused, reset, timed out or cut short (%d failed)"
            % cl.get("failed_total", 0))
    # ---- RSS and descriptors
    for name in names:
        rss = [r[name]["rss_kib"] for r in after]
        fds = [r[name]["fds"] for r in after]
        if not rss:
            verdict(False, "%s: samples after the warm-up" % name)
            continue
        med = statistics.median(rss)
        lo, hi = min(rss), max(rss)
        print("  %s ferry RSS after warm-up: min %s, max %s, first %s, last %s, median %s"
              " (%d samples); before load %s"
              % (name, mib(lo), mib(hi), mib(rss[0]), mib(rss[-1]), mib(med), len(rss),
                 mib(rows[0][name]["rss_kib"])))
        verdict(lo >= 0.95 * med and hi <= 1.05 * med,
                "%s ferry RSS flat after warm-up: within +-5%% of its median (%.1f%% .. %+.1f%%)"
                % (name, 100 * (lo / med - 1), 100 * (hi / med - 1)))
        verdict(rss[-1] <= 1.05 * rss[0],
                "%s ferry RSS not trending: last %s within 5%% of first %s"
                % (name, mib(rss[-1]), mib(rss[0])))
        # descriptors follow the open flows: compare the first and the last window of
        # a minute (a fifth of the run if shorter) after the warm-up
        win = min(60.0, 0.2 * args.seconds)
        first = [r[name]["fds"] for r in after if r["t"] < warm + win]
        last = [r[name]["fds"] for r in after if r["t"] > t_load0 + args.seconds - win]
        slack = max(16, int(0.02 * max(first or [0])))
        print("  %s ferry open fds after warm-up: %d .. %d; first window max %s, last"
              " window max %s; before load %d"
              % (name, min(fds), max(fds), max(first or [0]), max(last or [0]),
                 rows[0][name]["fds"]))
        if not (first and last):  # a run too short for two windows of samples
            verdict(False, "%s ferry fds bounded, not trending: no sample in the %s window"
                    " of %.0f s after the warm-up (the run is too short)"
                    % (name, "first" if not first else "last", win))
        else:
            verdict(max(last) <= max(first) + slack,
                    "%s ferry fds bounded, not trending: last window's max %s <= first"
                    " window's max %s + %d" % (name, max(last), max(first), slack))
    shares = [(n + " ferry", cpu_share(after, lambda r, n=n: r[n]["cpu_s"])) for n in names]
    shares += [("load client", cpu_share(after, lambda r: r.get("client_cpu_s"))),
               ("load server", cpu_share(after, lambda r: r.get("server_cpu_s")))]
    print("  CPU after warm-up (100%% = one core of %d): %s" % (os.cpu_count(), ", ".join(
        "%s %s" % (n, "?" if c is None else "%.0f%%" % c) for n, c in shares)))
    # after the drain: every flow closed, descriptors back where they were
    idle = rows[-1] if rows else None
    if idle and names:
        for name in names:
            base = rows[0][name]["fds"]
            print("  %s ferry after the drain: %d fds (%d before load), RSS %s"
                  % (name, idle[name]["fds"], base, mib(idle[name]["rss_kib"])))
            verdict(idle[name]["fds"] <= base + 2,
                    "%s ferry's fds back to their idle count once the flows ended (%d, was %d)"
                    % (name, idle[name]["fds"], base))
    # ---- the tunnel's own counters
    for name, st in status.items():
        if not st:
            print("  %s: no status" % name)
            continue
        i = st["interface"]
        print("  %s status: stack %s; egress %s; tunnel %s; dropped %s"
              % (name, json.dumps(i["stack"]), json.dumps(i["egress"]),
                 json.dumps(i["tunnel"]), json.dumps(i["dropped"])))
        for p in st["peers"]:
            print("  %s peer: loss %.2f%% (FEC), fec %s, %d retransmissions, dropped %s,"
                  " congestion loss %.2f%%, parity %.1f%%, %d B rx, %d B tx on the wire"
                  % (name, 100 * p["loss"], json.dumps(p["fec"]), p["retransmits"],
                     json.dumps(p["dropped"]), 100 * p["congestion"]["loss"],
                     100 * p["congestion"]["parity_ratio"], p["rx_bytes"], p["tx_bytes"]))
    with open(args.verdicts, "w", encoding="utf-8") as f:
        for ok, what in verdicts:
            f.write("%s\t%s\n" % ("ok" if ok else "FAIL", what))
    return 0 if all(ok for ok, _ in verdicts) else 1
