"""Child processes that never outlive their owner, and the temp folder they work in.

Each child starts in a process group of its own (a terminal's Ctrl-C then reaches only
digit51, which stops them); leaving the `with` block, by any path, stops every group
still running (SIGTERM, then SIGKILL) and removes the folder.

SIGKILL of digit51 runs no `with` block: on Linux each child carries a parent-death signal
(SIGKILL), so the kernel stops it when the thread that forked it ends. Children are
therefore forked by the main thread, or by one spawner thread that lives as long as the
process (a request thread of `digit51 ui` that reopens the simulator ends long before
s51 should). The temp folder stays behind after a SIGKILL; nothing can remove it."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from digit51.firmware.sim import signals

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


_spawner: ThreadPoolExecutor | None = None  # its one thread never ends before the process does
_spawner_made = threading.Lock()


def _popen(cmd: list[str], **kw) -> subprocess.Popen:
    """Popen from a thread that lives as long as the process (see the module's docstring)."""
    global _spawner
    kw.update(start_new_session=True, preexec_fn=_die_with(os.getpid()))
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(cmd, **kw)
    with _spawner_made:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digit51-spawner")
    return _spawner.submit(subprocess.Popen, cmd, **kw).result()


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
            p = _popen(cmd, **kw)
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
