# SPDX-License-Identifier: MIT
"""What the soak's load (soak.py) and its watch (soak_watch.py) share: the trailer that
ends a flow, how many failures are recorded one by one, and the stats files, JSON objects
rewritten atomically."""
import json
import os
import struct

TRAILER = struct.Struct("!QI")  # up bytes received, mismatch flag
FAIL_LOG = 500  # failures recorded one by one


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def read_json(path):
    try:
        with open(path, encoding="ascii") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
