"""Start `digit51 ui` as a user does and find its address (shared by the ui tests)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time


def start(qmodel, *args) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "digit51.firmware.app.cli", "ui", str(qmodel),
                             "--no-browser", *args], stderr=subprocess.PIPE, text=True)
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


def wait_exit(proc: subprocess.Popen, timeout: float = 20) -> int:
    """The exit code; if the server hangs, its threads' stacks (faulthandler on SIGABRT) in the failure."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=10)
        raise AssertionError(f"digit51 ui did not exit within {timeout} s:\n{proc.stderr.read()[-6000:]}") from None


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
