"""Progress on stderr: a bar while an epoch runs (on a terminal), a line per epoch."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, stream=sys.stderr):
        self.total, self.label, self.stream = total, label, stream
        self.live = stream.isatty()
        self.start = time.perf_counter()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.live:
            return
        pct = 100 * done // self.total
        if pct == self.shown:
            return
        self.shown = pct
        bar = "#" * (pct * 30 // 100)
        self.stream.write(f"\r{self.label} [{bar:<30}] {pct:3d}% {time.perf_counter() - self.start:5.1f}s")
        self.stream.flush()

    def finish(self, message: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        print(message, file=self.stream, flush=True)
