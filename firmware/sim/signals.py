"""SIGINT, SIGTERM and SIGHUP all become one exception, Interrupted (a KeyboardInterrupt),
so every `with` block on the way out runs: child processes are stopped and temp folders
removed. The command then exits with status 128 + the signal number."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_held = 0
_pending: int | None = None


def _handler(signum, frame) -> None:
    global _pending
    for s in SIGNALS:  # one signal is enough: let the clean-up run to its end
        signal.signal(s, signal.SIG_IGN)
    if _held:
        _pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def handled():
    """Turn the signals into Interrupted inside this block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def held():
    """A signal that arrives inside this block is raised at its end: a child process is
    never started without being recorded, nor a temp folder made without its owner."""
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def status(e: KeyboardInterrupt) -> tuple[int, str]:
    """Exit status and signal name for an interruption."""
    signum = getattr(e, "signum", signal.SIGINT)
    return 128 + signum, signal.Signals(signum).name


def run(main, prog: str) -> int:
    """Run `main()` as a command: a Digit51Error is one line and status 1, a signal one
    line and 128 + its number, both after every `with` block on the way out has run."""
    from digit51.trainer.errors import Digit51Error

    try:
        with handled():
            return main()
    except Digit51Error as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # SIGINT, SIGTERM, SIGHUP: child processes and temp folders are gone by now
        code, name = status(e)
        print(f"{prog}: stopped by {name}", file=sys.stderr)
        return code
