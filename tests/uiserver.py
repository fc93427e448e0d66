"""Start `digit51 ui` as a user does and find its address (shared by the ui tests)."""

from __future__ import annotations

import re
import subprocess
import sys
import time


def start(qmodel, *args) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "digit51.firmware.cli", "ui", str(qmodel), "--no-browser", *args],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        if m:
            return proc, m[1]
    proc.kill()
    raise AssertionError("digit51 ui did not print its address: " + "".join(seen))


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
