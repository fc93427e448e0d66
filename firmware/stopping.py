"""SIGTERM and SIGHUP as an exception in the main thread, so `with` blocks and `finally`
clauses stop child processes and remove temp folders; the command exits 128 + signal.
(SIGINT already arrives as KeyboardInterrupt.)"""

from __future__ import annotations

import contextlib
import signal
import sys


class Stopped(Exception):
    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def on_signals(name: str):
    """Run the block with SIGTERM/SIGHUP raising Stopped; report it and exit 128 + signal."""
    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    except Stopped as s:
        print(f"digit51 {name}: stopped by signal {s.signum}", file=sys.stderr)
        raise SystemExit(128 + s.signum) from None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
