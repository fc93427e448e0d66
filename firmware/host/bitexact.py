"""Is a firmware bit-exact with the integer simulator? One check, with a report a person
can read: which images differ and, for the first one, its logits side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digit51.firmware.host import run
from digit51.firmware.host.board import DEFAULT_TIMEOUT, Board, RunResult, run_firmware
from digit51.firmware.builder.sdcc import Firmware
from digit51.firmware.chips.targets import Target
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel


def logit_table(got, want) -> list[str]:
    """Firmware and simulator logits of one image, class by class, differences marked."""
    rows = [f"  {'class':>5}  {'firmware':>11}  {'simulator':>11}  {'diff':>11}"]
    for c, (g, w) in enumerate(zip(got, want)):
        d = int(g) - int(w)
        rows.append(f"  {c:>5}  {int(g):>11}  {int(w):>11}" + (f"  {d:>+11d}  <--" if d else ""))
    rows.append(f"  {'digit':>5}  {int(np.argmax(got)):>11}  {int(np.argmax(want)):>11}")
    return rows


def report(result: RunResult, model: IntModel, images: np.ndarray, indices: Sequence[int] | None = None) -> str | None:
    """None when every image got exactly one answer, equal logit for logit to the
    simulator's, and the serial link was clean; else what went wrong, readably."""
    images = np.asarray(images)
    indices = list(range(len(images))) if indices is None else [int(i) for i in indices]
    want, _ = simulate.run(model, images)
    comparison = run.compare(run.Outcome(predictions=list(result.predictions)), indices, want, np.zeros(len(indices)))
    if comparison.bit_exact and not result.bad_lines and not result.frame_errors:
        return None
    lines = [f"firmware is not bit-exact with the integer simulator: {len(comparison.mismatches)} of "
             f"{len(indices)} images differ, {len(result.bad_lines)} corrupt lines, {len(result.frame_errors)} rejected frames"]
    if comparison.mismatches:
        idx, what = comparison.mismatches[0]
        got = [p for p in result.predictions if p.img == idx]
        if got and idx in indices and tuple(got[0].logits) != tuple(int(v) for v in want[indices.index(idx)]):
            lines.append(f"first mismatch: image {idx}")
            lines += logit_table(got[0].logits, want[indices.index(idx)])
        else:
            lines.append(f"first mismatch: image {idx}: {what}")
        rest = [str(i) for i, _ in comparison.mismatches[1:]]
        if rest:
            lines.append(f"other images that differ: {', '.join(rest[:20])}{' ...' if len(rest) > 20 else ''}")
    for bad in result.bad_lines[:3]:
        lines.append(f"corrupt line ({bad.reason}): {bad.text[:80]!r}")
    for err in result.frame_errors[:3]:
        lines.append(f"firmware rejected frame {err.img} ({err.reason})")
    return "\n".join(lines)


def assert_bit_exact(firmware: Board | Firmware | str | Path, model: IntModel, images: np.ndarray,
                     indices: Sequence[int] | None = None,
                     target: Target | str | None = None, link: str = "socket",
                     timeout: float = DEFAULT_TIMEOUT) -> RunResult:
    """Run `images` through the firmware (a Board, which is then asked to finish, or a
    Firmware or .ihx/.hex path, booted in s51 for this) and raise AssertionError, with a
    logit-by-logit diff of the first image that differs, unless every answer equals the
    integer simulator's. A self-test firmware runs its built-in images: pass those."""
    __tracebackhide__ = True  # pytest: show the caller's line, not this one
    if isinstance(firmware, Board):
        result = firmware.run(images, indices, timeout)
    else:
        result = run_firmware(firmware, images, indices, target, link, timeout)
    if result.ready is not None and result.ready.mode == "selftest" and indices is None:
        indices = result.indices  # a self-test firmware answers for the images built into it
    problem = report(result, model, images, indices)
    if problem:
        raise AssertionError(problem)
    return result
