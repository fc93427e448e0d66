"""Child processes that never outlive their owner, and the temp folder they work in.

Each child starts in a process group of its own (a terminal's Ctrl-C then reaches only
digit51, which stops them); leaving the `with` block, by any path, stops every group
still running (SIGTERM, then SIGKILL) and removes the folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from digit51.firmware import signals

TERM_GRACE = 3.0  # seconds between SIGTERM and SIGKILL


class Children:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.procs: list[subprocess.Popen] = []
        self.tmp: Path | None = None

    def __enter__(self) -> "Children":
        with signals.held():
            self.tmp = Path(tempfile.mkdtemp(prefix=self.prefix))
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def popen(self, cmd: list[str], **kw) -> subprocess.Popen:
        with signals.held():
            p = subprocess.Popen(cmd, start_new_session=True, **kw)
            self.procs.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen) -> None:
        """Stop the group `p` leads. Only while `p` is not reaped: its pid, and so the
        group id, cannot have been reused."""
        if p.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=TERM_GRACE)
                return
            except subprocess.TimeoutExpired:
                continue
        p.wait()

    def close(self) -> None:
        with signals.held():
            for p in reversed(self.procs):
                self.stop(p)
            self.procs.clear()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
