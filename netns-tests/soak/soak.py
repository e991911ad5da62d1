#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The soak's load generator, its sampler and its judge (netns-tests/soak/soak.sh).
Standard library only; asyncio, one process per role. Every mode exits non-zero on failure.

  server --host H --ports P-Q --stats FILE
      listens on ports P..Q of H. Per connection: reads a 20-byte header (magic, flow id,
      up length, down length), then checks every byte the client sends against the flow's
      up pattern while it sends the down pattern; after the client's FIN it sends a
      12-byte trailer (bytes it received, 0 or a mismatch flag) and closes.
  client --host H --ports P-Q --flows N --seconds S --stats FILE [options]
      N workers, each opening one flow after another until S seconds have passed: connect
      to a random port, send K chunks of random length (pattern bytes, a random pause
      between them), half-close, read and check the down pattern and the trailer, close.
      A flow has --flow-timeout seconds in all; after a failed one the worker waits about
      --fail-pause seconds. Then it stops opening flows and waits up to --drain seconds
      for the open ones, and cuts off the rest (counted "undrained").
  monitor --pid NAME=PID... --out FILE [--interval S] [--client-stats F] [--server-stats F]
          [--status NAME=NETNS:DEVICE... --ferry BINARY]
      every S seconds, one JSON line: VmRSS (KiB), open descriptors and CPU seconds of each
      PID, a few counters of `ferry status --json` run in NETNS, and the open flows the
      client and server report; until SIGTERM or a PID ends.
  report --samples F --client F --server F --status NAME=F... --seconds S [--warmup FRAC]
      prints the figures and writes the verdicts (--verdicts FILE: one "ok|FAIL<TAB>what"
      line each). Exits 1 if any is FAIL.

The pattern: one random block of 1 MiB (fixed seed), a flow's bytes at offset o are
block[(start + o) mod 1 MiB], start a bijection of the flow id (different for the two
directions), so a byte checked is checked against its own flow and its own offset: a
byte delivered to the wrong flow, at the wrong offset, twice or never is a mismatch or a
short count. A flow carries at most 1 MiB each way.

Stats files are JSON objects, rewritten atomically (by rename) every second and at exit.
This file is the load and the command line; the monitor and report modes are in
soak_watch.py, and what both halves share (the trailer, the stats files) in soak_common.py.
"""
import argparse
import asyncio
import errno
import random
import resource
import signal
import socket
import struct
import sys
import time

from soak_common import FAIL_LOG, TRAILER, write_json
from soak_watch import monitor, report

BLOCK = 1 << 20
MASK = BLOCK - 1
MAGIC = b"FSK1"
HEADER = struct.Struct("!4sQII")  # magic, flow id, up length, down length
PIECE = 16384  # the server writes the down pattern in pieces of this size

_block = random.Random(0x50A6).randbytes(BLOCK)
PATTERN = _block + _block  # a slice [start, start + n) with n <= 1 MiB never wraps


def up_start(fid):
    return (fid * 0x9E3779B1) & MASK


def down_start(fid):
    return (fid * 0x85EBCA77 + 0x1234) & MASK


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def port_range(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


# ---- server ------------------------------------------------------------------------------

class ServerStats:
    def __init__(self):
        self.open = 0
        self.accepted = 0
        self.completed = 0  # trailer sent after the client's FIN
        self.aborted = 0  # connection lost before that
        self.bad_header = 0
        self.up_checked = 0  # bytes of the up pattern compared, equal or not
        self.up_mismatches = 0  # flows with a byte that differed or an excess byte
        self.up_short = 0  # flows whose FIN came before their declared length
        self.down_sent = 0


class ServerFlow(asyncio.Protocol):
    """One connection on the LAN host. Reading and writing are independent: the down
    pattern goes out while the up pattern comes in, paced by the transport's flow
    control (pause_writing/resume_writing)."""

    def __init__(self, stats):
        self.st = stats
        self.tr = None
        self.head = b""
        self.fid = None
        self.got = 0
        self.bad = False
        self.sent = 0
        self.paused = False
        self.eof = False
        self.finished = False

    def connection_made(self, transport):
        self.tr = transport
        transport.set_write_buffer_limits(high=2 * PIECE, low=PIECE)
        self.st.open += 1
        self.st.accepted += 1

    def data_received(self, data):
        if self.fid is None:
            self.head += data
            if len(self.head) < HEADER.size:
                return
            magic, self.fid, self.up_len, self.down_len = HEADER.unpack_from(self.head)
            data = self.head[HEADER.size:]
            self.head = None
            if magic != MAGIC or self.up_len > BLOCK or self.down_len > BLOCK:
                self.st.bad_header += 1
                self.tr.abort()
                return
            self.up0 = up_start(self.fid)
            self.down0 = down_start(self.fid)
            self.pump()
        if not data:
            return
        n = len(data)
        take = min(n, self.up_len - self.got)
        a = self.up0 + self.got
        if data[:take] != PATTERN[a:a + take] or take < n:
            self.bad = True
        self.got += take
        self.st.up_checked += take

    def pump(self):
        while not self.paused and self.sent < self.down_len:
            n = min(PIECE, self.down_len - self.sent)
            a = self.down0 + self.sent
            self.tr.write(PATTERN[a:a + n])
            self.sent += n
            self.st.down_sent += n
        if self.sent == self.down_len and self.eof:
            self.finish()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.fid is not None:
            self.pump()

    def eof_received(self):
        if self.fid is None:
            self.st.bad_header += 1
            return False
        self.eof = True
        if self.got < self.up_len:
            self.st.up_short += 1
            self.bad = True
        if self.sent == self.down_len:
            self.finish()
        return True  # keep our half open: the rest of the down pattern and the trailer

    def finish(self):
        if self.finished:
            return
        self.finished = True
        if self.bad:
            self.st.up_mismatches += 1
        self.tr.write(TRAILER.pack(self.got, 1 if self.bad else 0))
        self.tr.close()  # after the buffer is flushed
        self.st.completed += 1

    def connection_lost(self, exc):
        self.st.open -= 1
        if not self.finished:
            self.st.aborted += 1


async def serve(args):
    st = ServerStats()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    servers = []
    for port in port_range(args.ports):
        servers.append(await loop.create_server(lambda: ServerFlow(st), args.host, port,
                                                backlog=4096, reuse_address=True))
    t0 = time.monotonic()

    def snapshot():
        d = dict(vars(st))
        d["t"] = round(time.monotonic() - t0, 1)
        d["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        d["cpu_s"] = round(time.process_time(), 1)
        return d

    while not stop.done():
        write_json(args.stats, snapshot())
        await asyncio.wait([stop], timeout=1)
    for s in servers:
        s.close()
    write_json(args.stats, snapshot())


# ---- client ------------------------------------------------------------------------------

class ClientStats:
    def __init__(self):
        self.open = 0  # flows connecting or connected now
        self.started = 0
        self.completed = 0  # every byte both ways checked equal, trailer confirmed
        self.failed = {}  # reason -> count
        self.up_sent = 0
        self.up_confirmed = 0  # up bytes the server counted equal, in completed flows
        self.down_checked = 0  # down bytes compared, equal or not
        self.down_mismatches = 0  # flows whose down bytes differed (or had an excess)
        self.up_mismatches = 0  # flows whose trailer reported a mismatch or a short count
        self.max_open = 0
        self.durations = []  # seconds, of every completed flow
        self.fail_log = []  # the first FAIL_LOG failures: time, reason and how far it got
        self.fail_age = {}  # every failure: reason -> [count, min age, max age, under 1 s]

    def fail(self, why, t=None, flow=None):
        self.failed[why] = self.failed.get(why, 0) + 1
        if t is not None and len(self.fail_log) < FAIL_LOG:
            self.fail_log.append(dict(flow or {}, t=round(t, 1), why=why))
        if flow and "age" in flow:
            age = flow["age"]
            a = self.fail_age.setdefault(why, [0, age, age, 0])
            a[0] += 1
            a[1], a[2] = min(a[1], age), max(a[2], age)
            a[3] += age < 1


class ClientFlow(asyncio.Protocol):
    """The receiving half of one flow: checks the down pattern as it arrives, then the
    trailer; `done` resolves at the server's FIN or the connection's loss."""

    def __init__(self, stats, fid, down_len):
        self.st = stats
        self.fid = fid
        self.down_len = down_len
        self.down0 = down_start(fid)
        self.got = 0
        self.tail = b""
        self.bad = False
        self.done = asyncio.get_running_loop().create_future()
        self.writable = None  # a future while the transport's buffer is full

    def connection_made(self, transport):
        self.tr = transport
        transport.set_write_buffer_limits(high=32768, low=8192)

    def data_received(self, data):
        n = len(data)
        take = min(n, self.down_len - self.got)
        if take:
            a = self.down0 + self.got
            if data[:take] != PATTERN[a:a + take]:
                self.bad = True
            self.got += take
            self.st.down_checked += take
        if take < n:
            self.tail += data[take:]
            if len(self.tail) > TRAILER.size:
                self.bad = True

    def eof_received(self):
        if not self.done.done():
            self.done.set_result(None)
        return False  # our FIN went first; closing now completes the close

    def connection_lost(self, exc):
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)
        if self.writable and not self.writable.done():
            self.writable.set_result(None)  # the writer then finds `done` and awaits it

    def pause_writing(self):
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self.writable and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    async def drain(self):
        if self.writable:
            await self.writable


def reset(tr):
    """Ends a flow with an RST. asyncio's abort() only closes the socket, and the kernel
    sends a FIN when nothing is left unread: the server would then take what came before
    it for the whole stream and count the flow short (soak.sh 10000 2 counted 10 so)."""
    sock = tr.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    tr.abort()


def reason_of(exc):
    """ECONNREFUSED, EHOSTUNREACH, ...; "timeout" for the flow's own deadline"""
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class Client:
    def __init__(self, args):
        self.a = args
        self.st = ClientStats()
        self.ports = port_range(args.ports)
        self.rng = random.Random(args.seed)
        self.next_id = args.seed << 40
        self.stopping = False
        self.t0 = time.monotonic()
        self.live = {}  # fid -> what a flow in progress did so far (stage, bytes)

    def flow_state(self, fid):
        f = self.live.get(fid, {})
        p = f.get("proto")
        return {"id": fid, "stage": f.get("stage"), "age": round(time.monotonic() - f["t"], 1),
                "port": f.get("port"), "up": f.get("up"), "up_sent": f.get("sent"),
                "down": f.get("down"), "down_got": p.got if p else 0,
                "trailer": len(p.tail) if p else 0}

    async def one_flow(self):
        """one flow, start to end; True if it completed with every byte checked"""
        a, st, rng = self.a, self.st, self.rng
        fid = self.next_id
        self.next_id += 1
        chunks = [rng.randint(1, a.chunk_max) for _ in range(rng.randint(1, a.chunks))]
        up_len = sum(chunks)
        down_len = rng.randint(0, a.down_max)
        port = rng.choice(self.ports)
        loop = asyncio.get_running_loop()
        st.started += 1
        st.open += 1
        st.max_open = max(st.max_open, st.open)
        proto = None
        t = time.monotonic()
        live = self.live[fid] = {"t": t, "stage": "connect", "port": port, "up": up_len,
                                 "sent": 0, "down": down_len}
        try:
            async with asyncio.timeout(a.flow_timeout):
                _, proto = await loop.create_connection(
                    lambda: ClientFlow(st, fid, down_len), a.host, port)
                live["proto"] = proto
                live["stage"] = "send"
                tr = proto.tr
                tr.write(HEADER.pack(MAGIC, fid, up_len, down_len))
                off, u0 = 0, up_start(fid)
                for i, n in enumerate(chunks):
                    if i and a.pause_ms:
                        await asyncio.sleep(rng.uniform(0, a.pause_ms) / 1000)
                    if proto.done.done():
                        break  # the server ended early: judged below
                    tr.write(PATTERN[u0 + off:u0 + off + n])
                    off += n
                    live["sent"] = off
                    st.up_sent += n
                    await proto.drain()
                if not proto.done.done():
                    tr.write_eof()
                live["stage"] = "wait"
                await proto.done
        except (OSError, asyncio.TimeoutError, EOFError) as exc:
            st.fail(reason_of(exc), t - self.t0, self.flow_state(fid))
            if proto is not None:
                # retrieved, or asyncio warns; a timeout cancelled it if it was awaited
                if proto.done.done() and not proto.done.cancelled():
                    proto.done.exception()
                reset(proto.tr)
                if proto.bad:
                    st.down_mismatches += 1
            return False
        except asyncio.CancelledError:  # cut off after the drain
            if proto is not None:
                reset(proto.tr)
            raise
        finally:
            st.open -= 1
            self.live.pop(fid, None)
        proto.tr.close()
        if proto.bad:
            st.down_mismatches += 1
        why = None
        if proto.got < down_len:
            why = "short_down"
        elif len(proto.tail) != TRAILER.size:
            why = "no_trailer"
        elif TRAILER.unpack(proto.tail)[1] or TRAILER.unpack(proto.tail)[0] != up_len:
            st.up_mismatches += 1
            why = "up_mismatch"
        elif proto.bad:
            why = "down_mismatch"
        if why:
            st.fail(why, t - self.t0, {"id": fid, "up": up_len, "down": down_len,
                                       "down_got": proto.got, "trailer": len(proto.tail),
                                       "age": round(time.monotonic() - t, 1)})
            return False
        st.durations.append(time.monotonic() - t)
        st.up_confirmed += up_len
        st.completed += 1
        return True

    async def worker(self, i):
        await asyncio.sleep(self.a.ramp * i / self.a.flows)
        while not self.stopping:
            try:
                ok = await self.one_flow()
            except (Exception, asyncio.CancelledError) as exc:
                if self.stopping and isinstance(exc, asyncio.CancelledError):
                    raise  # the end of the drain
                # a bug of ours: counted (the report fails on it), and the worker lives on
                self.st.fail("generator_" + type(exc).__name__, time.monotonic() - self.t0)
                ok = False
            if not ok and self.a.fail_pause:
                # as an application would: not straight back at a refusing service
                await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.a.fail_pause)

    def snapshot(self, t0, phase):
        d = dict(vars(self.st))
        d["failed"] = dict(self.st.failed)
        d["failed_total"] = sum(self.st.failed.values())
        dur = sorted(d.pop("durations")[-20000:])  # the last 20,000 completed flows
        if dur:
            d["duration_s"] = {"p50": round(dur[len(dur) // 2], 2),
                               "p99": round(dur[len(dur) * 99 // 100], 2),
                               "max": round(max(self.st.durations), 2)}
        d["t"] = round(time.monotonic() - t0, 1)
        d["phase"] = phase
        d["flows_target"] = self.a.flows
        d["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        d["cpu_s"] = round(time.process_time(), 1)
        return d

    async def run(self):
        a = self.a
        loop = asyncio.get_running_loop()
        interrupted = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: interrupted.done() or interrupted.set_result(None))
        t0 = time.monotonic()
        workers = [asyncio.ensure_future(self.worker(i)) for i in range(a.flows)]
        phase = "load"
        while time.monotonic() - t0 < a.seconds and not interrupted.done():
            write_json(a.stats, self.snapshot(t0, phase))
            await asyncio.wait([interrupted], timeout=1)
        self.stopping = True
        phase = "drain"
        end = time.monotonic() + a.drain
        while time.monotonic() < end and not interrupted.done():
            if all(w.done() for w in workers):
                break
            write_json(a.stats, self.snapshot(t0, phase))
            await asyncio.wait([interrupted], timeout=1)
        # what the flows still open had done: they are cut off now
        stuck = [self.flow_state(fid) for fid in sorted(self.live)]
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if stuck:
            self.st.failed["undrained"] = len(stuck)
            self.st.stuck = stuck[:FAIL_LOG]
        phase = "interrupted" if interrupted.done() else "done"
        write_json(a.stats, self.snapshot(t0, phase))
        return 0 if phase == "done" else 1


# ---- command line ------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--stats", required=True)
    c = sub.add_parser("client")
    c.add_argument("--host", required=True)
    c.add_argument("--ports", required=True)
    c.add_argument("--stats", required=True)
    c.add_argument("--flows", type=int, default=10000, help="concurrent flows")
    c.add_argument("--seconds", type=float, default=600, help="how long flows are opened")
    c.add_argument("--ramp", type=float, default=30, help="workers start spread over this")
    c.add_argument("--drain", type=float, default=120, help="wait for open flows at the end")
    c.add_argument("--chunks", type=int, default=8, help="up to this many chunks per flow")
    c.add_argument("--chunk-max", type=int, default=8192, help="bytes per chunk, at most")
    c.add_argument("--down-max", type=int, default=65536, help="bytes back, at most")
    c.add_argument("--pause-ms", type=float, default=200, help="pause between chunks, at most")
    c.add_argument("--flow-timeout", type=float, default=180, help="a flow's whole life")
    c.add_argument("--fail-pause", type=float, default=1, help="wait after a failed flow")
    c.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("monitor")
    m.add_argument("--pid", action="append", required=True, help="NAME=PID")
    m.add_argument("--out", required=True)
    m.add_argument("--interval", type=float, default=5)
    m.add_argument("--client-stats")
    m.add_argument("--server-stats")
    m.add_argument("--status", action="append", default=[], help="NAME=NETNS:DEVICE")
    m.add_argument("--ferry", default="ferry")
    r = sub.add_parser("report")
    r.add_argument("--samples", required=True)
    r.add_argument("--client", required=True)
    r.add_argument("--server", required=True)
    r.add_argument("--status", action="append", default=[], help="NAME=FILE")
    r.add_argument("--seconds", type=float, required=True, help="the load's length")
    r.add_argument("--warmup", type=float, default=0.2, help="share of the run")
    r.add_argument("--verdicts", required=True)
    a = p.parse_args()
    if a.mode == "server":
        raise_nofile()
        asyncio.run(serve(a))
        return 0
    if a.mode == "client":
        if a.chunks * a.chunk_max > BLOCK or a.down_max > BLOCK:
            sys.exit("a flow carries at most %d bytes each way" % BLOCK)
        if raise_nofile() < a.flows + 64:
            sys.exit("RLIMIT_NOFILE below %d: raise it (ulimit -n)" % (a.flows + 64))
        return asyncio.run(Client(a).run())
    if a.mode == "monitor":
        return monitor(a)
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
