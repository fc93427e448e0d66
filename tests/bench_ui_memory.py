"""Memory of `digit51 ui` under the biggest requests it takes: N clients at once each send
a 2048x2048 RGBA image (the largest width and height allowed). Prints the server's peak
resident memory (VmHWM) before and after, and how many were answered. A benchmark, not a test.

    .venv/bin/python tests/bench_ui_memory.py QMODEL [--clients 8]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import sys
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from helpers import ui_start, ui_stop  # noqa: E402


def vm(pid: int, key: str) -> int:
    """A /proc/PID/status figure in MB."""
    return int(next(l for l in open(f"/proc/{pid}/status") if l.startswith(key + ":")).split()[1]) // 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel")
    p.add_argument("--clients", type=int, default=8)
    a = p.parse_args()
    side = 2048
    grey = np.zeros((side, side), np.uint8)
    grey[700:1400, 950:1100] = 255  # a "1"
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    body = json.dumps({"width": side, "height": side, "rgba": base64.b64encode(rgba.tobytes()).decode()}).encode()
    proc, url = ui_start(a.qmodel)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    codes = []
    try:
        before = vm(proc.pid, "VmHWM")

        def ask():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("POST", "/api/classify", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            codes.append(r.status)
            c.close()

        threads = [threading.Thread(target=ask) for _ in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = vm(proc.pid, "VmHWM")
    finally:
        ui_stop(proc)
    print(f"{a.clients} clients x {side}x{side} RGBA ({len(body) / 1e6:.1f} MB bodies): answered {codes.count(200)}/{a.clients}; "
          f"server peak resident memory {before} MB idle -> {after} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
