#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Traffic for netns-tests/wanem.sh: counted UDP datagrams and a timed TCP stream.

Every receiver writes OUT.ready once its socket is bound (the script waits for that before
starting the sender) and, when done, one line of key=value pairs to OUT:

  udp-recv PORT OUT IDLE       received= bytes= goodput_bps= inversions= seq_crc=
      stops IDLE seconds after the last datagram (or 10 s without any); goodput is the
      payload from the first datagram to the last; inversions counts datagrams whose
      sequence number is below one seen before; seq_crc is a CRC-32 of the sorted
      sequence numbers received, which tells which ones were lost.
  udp-send HOST PORT COUNT SIZE RATE_BPS
      COUNT datagrams of SIZE payload bytes, paced at RATE_BPS of payload (0: unpaced
      but gentle); prints sent=N.
  tcp-recv PORT OUT SKIP       bytes= goodput_bps=
      one connection; goodput over the stream from SKIP seconds after its first byte to
      its end, so that slow start does not count.
  tcp-send HOST PORT SECONDS   sends as fast as it can for SECONDS, then closes.
"""
import os
import socket
import struct
import sys
import time
import zlib

SEQ = struct.Struct("!Q")


def ready(out):
    with open(out + ".ready", "w", encoding="ascii"):
        pass


def report(out, **kv):
    line = " ".join(f"{k}={v}" for k, v in kv.items())
    with open(out + ".tmp", "w", encoding="ascii") as f:
        f.write(line + "\n")
    # a reader polling for OUT never sees half a line
    os.replace(out + ".tmp", out)


def udp_recv(port, out, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", int(port)))
    ready(out)
    s.settimeout(10.0)
    n = nbytes = inversions = 0
    highest = -1
    seen = []
    first = last = 0.0
    buf = bytearray(65536)
    while True:
        try:
            size = s.recv_into(buf)
        except socket.timeout:
            break
        now = time.monotonic()
        if n == 0:
            first = now
            s.settimeout(float(idle))
        last = now
        n += 1
        nbytes += size
        seq = SEQ.unpack_from(buf)[0]
        seen.append(seq)
        if seq < highest:
            inversions += 1
        highest = max(highest, seq)
    span = last - first
    goodput = int((nbytes - nbytes / n) * 8 / span) if n > 1 and span > 0 else 0
    crc = zlib.crc32(b"".join(SEQ.pack(q) for q in sorted(seen)))
    report(out, received=n, bytes=nbytes, goodput_bps=goodput, inversions=inversions,
           seq_crc=crc)


def udp_send(host, port, count, size, rate):
    count, size, rate = int(count), int(size), float(rate)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    payload = bytearray(size)
    # paced in slices of 1 ms; unpaced still yields every 50 datagrams
    per_slice = max(1, int(rate / 8 / size / 1000)) if rate > 0 else 50
    start = time.monotonic()
    for i in range(count):
        SEQ.pack_into(payload, 0, i)
        s.send(payload)
        if (i + 1) % per_slice == 0:
            due = start + (i + 1) * size * 8 / rate if rate > 0 else time.monotonic() + 1e-4
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print(f"sent={count}")


def tcp_recv(port, out, skip):
    skip = float(skip)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", int(port)))
    ls.listen(1)
    ready(out)
    ls.settimeout(20.0)
    c, _ = ls.accept()
    c.settimeout(20.0)
    buf = bytearray(1 << 20)
    total = window = 0
    first = start = last = None
    while True:
        size = c.recv_into(buf)
        if size == 0:
            break
        now = time.monotonic()
        if first is None:
            first = now
        total += size
        if now - first >= skip:
            if start is None:
                start = now  # bytes from here on count
            else:
                window += size
            last = now
    c.close()
    goodput = int(window * 8 / (last - start)) if start and last > start else 0
    report(out, bytes=total, goodput_bps=goodput)


def tcp_send(host, port, seconds):
    s = socket.create_connection((host, int(port)), timeout=20.0)
    chunk = bytes(1 << 20)
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the receiver's close: all was delivered
    s.close()


MODES = {"udp-recv": udp_recv, "udp-send": udp_send, "tcp-recv": tcp_recv, "tcp-send": tcp_send}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](*sys.argv[2:])
