"""Child processes that never outlive their owner, and the temp folder they work in.

Each child starts in a process group of its own (a terminal's Ctrl-C then reaches only
digit51, which stops them); leaving the `with` block, by any path, stops every group
still running (SIGTERM, then SIGKILL) and removes the folder.

SIGKILL of digit51 runs no `with` block: on Linux each child carries a parent-death signal
(SIGKILL) so the kernel stops it when the thread that started it ends, which for a
`with` block is never before the block has closed. The temp folder stays behind then;
nothing can remove it."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from digit51.firmware import signals

TERM_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int):
    """A pre-exec hook binding the child's life to the calling thread of `parent` (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child only calls it

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os._exit(1)
    return hook


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
            p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with(os.getpid()), **kw)
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
