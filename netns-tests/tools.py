#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small traffic tools for the tunnel's namespace tests and for ferry demo, where Debian's
programs have no equivalent. Every mode exits non-zero on failure.

  paced-send HOST PORT FILE RATE_BPS
      sends FILE over one TCP connection at RATE_BPS bits per second of payload (an
      application that produces data slowly), then closes.
  slow-recv HOST PORT RATE_BPS SECONDS OUT
      accepts one TCP connection, reads it at RATE_BPS bits per second for SECONDS (a
      slow application), then as fast as it can to the end; writes the sha256 of all it
      read to OUT.
  rr-server HOST PORT
      answers every 64-byte request with 64 bytes, on each connection, until killed.
  rr HOST PORT COUNT [OUT [GAP_MS [SECONDS]]]
      up to COUNT 64-byte requests, one at a time, over one connection (TCP_NODELAY);
      each after GAP_MS of quiet since the previous reply (default 0, back to back); no
      new request once SECONDS have passed (default no limit); prints (and writes to OUT)
      p50= p99= max= in milliseconds (nearest rank) and n= the requests answered.
  capture IFACE PORT COUNT DIR
      (AF_PACKET, IPv4) writes the UDP payloads of COUNT datagrams to PORT seen on IFACE,
      as DIR/0, DIR/1, ...; gives up after 20 s.
  http-server HOST PORT DIR
      serves the files of DIR over HTTP/1.0 on HOST (IPv4 or IPv6), a thread per
      connection, with a listen backlog of 1,024 (busybox httpd's is 9: two hundred
      connections opened at once overflow its accept queue, and the kernel's handshake
      retries, 1, 3, 7, 15 and 31 s after the first try, become what such a test
      measures).
  hostile HOST PORT DIR [SRC]
      sends, from a socket of its own (bound to address SRC if given), garbage of many lengths, every file of DIR cut at
      several lengths, and every file of DIR whole (replays); then listens 1 s and prints
      sent= replies= (any reply is a failure: ferry answers nothing it cannot
      authenticate).
"""
import functools
import http.server
import os
import random
import socket
import struct
import sys
import time

REQ = 64


def paced_send(host, port, path, rate):
    rate = float(rate) / 8  # bytes per second
    chunk = 16384
    with open(path, "rb") as f, socket.create_connection((host, int(port)), timeout=60) as s:
        start = time.monotonic()
        sent = 0
        while True:
            data = f.read(chunk)
            if not data:
                break
            s.sendall(data)
            sent += len(data)
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(60)
        while s.recv(65536):
            pass


def slow_recv(host, port, rate, seconds, out):
    import hashlib
    rate = float(rate) / 8
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(1)
    conn, _ = srv.accept()
    digest = hashlib.sha256()
    start = time.monotonic()
    got = 0
    while True:
        slow = time.monotonic() - start < float(seconds)
        data = conn.recv(4096 if slow else 1 << 20)
        if not data:
            break
        digest.update(data)
        got += len(data)
        if slow:
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    with open(out + ".tmp", "w", encoding="ascii") as f:
        f.write(digest.hexdigest() + "\n")
    os.rename(out + ".tmp", out)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            raise EOFError("connection closed")
        buf += part
    return buf


def rr_server(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        if os.fork() == 0:
            srv.close()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while True:
                    conn.sendall(recv_exact(conn, REQ))
            except (EOFError, OSError):
                pass
            os._exit(0)
        conn.close()
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def percentile(ordered, q):
    """the nearest-rank q-quantile of a sorted, non-empty list"""
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]


def rr(host, port, count, out=None, gap_ms=0, seconds=None):
    times = []
    end = time.monotonic() + float(seconds) if seconds else None
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = bytes(range(REQ))
        for i in range(int(count)):
            if i and float(gap_ms) > 0:
                time.sleep(float(gap_ms) / 1000)
            if end is not None and time.monotonic() >= end:
                break
            t = time.monotonic()
            s.sendall(req)
            if recv_exact(s, REQ) != req:
                raise ValueError("reply differs from request")
            times.append((time.monotonic() - t) * 1000)
    if not times:
        sys.exit("rr: no request answered")
    times.sort()
    line = "p50=%.1f p99=%.1f max=%.1f n=%d" % (
        percentile(times, 50), percentile(times, 99), times[-1], len(times))
    print(line)
    if out:
        with open(out, "w", encoding="ascii") as f:
            f.write(line + "\n")


def capture(iface, port, count, out_dir):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    s.settimeout(1)
    os.makedirs(out_dir, exist_ok=True)
    got, deadline = 0, time.monotonic() + 20
    while got < int(count) and time.monotonic() < deadline:
        try:
            frame = s.recv(65536)
        except socket.timeout:
            continue
        ip = frame[14:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
        if dport != int(port):
            continue
        with open(os.path.join(out_dir, str(got)), "wb") as f:
            f.write(ip[ihl + 8:])
        got += 1
    if got < int(count):
        sys.exit("captured %d of %s datagrams" % (got, count))


def hostile(host, port, in_dir, src=None):
    rng = random.Random(1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    dst = (host, int(port))
    sent = 0
    for n in (0, 1, 2, 3, 4, 5, 8, 16, 31, 32, 33, 64, 100, 147, 148, 149, 500, 1400, 1500):
        for first in (None, 1, 2, 3, 4, 5):
            data = bytearray(rng.getrandbits(8) for _ in range(n))
            if first is not None and n:
                data[0] = first
            s.sendto(bytes(data), dst)
            sent += 1
    for name in sorted(os.listdir(in_dir)):
        with open(os.path.join(in_dir, name), "rb") as f:
            data = f.read()
        for cut in (1, 4, 16, len(data) // 2, len(data) - 16, len(data) - 1):
            if 0 < cut < len(data):
                s.sendto(data[:cut], dst)
                sent += 1
        s.sendto(data, dst)  # a replay, whole and authentic
        sent += 1
    s.settimeout(1)
    replies = 0
    try:
        while True:
            s.recv(65536)
            replies += 1
    except socket.timeout:
        pass
    print("sent=%d replies=%d" % (sent, replies))
    if replies:
        sys.exit(1)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class BackloggedServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024


class BackloggedServer6(BackloggedServer):
    address_family = socket.AF_INET6


def http_server(host, port, root):
    handler = functools.partial(QuietHandler, directory=root)
    kind = BackloggedServer6 if ":" in host else BackloggedServer
    with kind((host, int(port)), handler) as server:
        server.serve_forever()


MODES = {
    "paced-send": paced_send,
    "slow-recv": slow_recv,
    "rr-server": rr_server,
    "rr": rr,
    "capture": capture,
    "hostile": hostile,
    "http-server": http_server,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](*sys.argv[2:])
