"""The accuracy / size / speed frontier: measured rows (written by firmware/bench/sweep.py into
firmware/bench/frontier.json), the rule that picks the default model, and which rows fit a chip."""

from __future__ import annotations

import json
from pathlib import Path

from digit51.firmware.builder.fit import first_mode
from digit51.firmware.chips.targets import Target
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import architecture_problem

FRONTIER = Path(__file__).with_name("frontier.json")
# The default model: the most accurate (integer test accuracy) architecture whose firmware
# fits 64 KB of code and that classifies every digit run in at most 1 s on a 12-clock 8051 at
# 11.0592 MHz. With the zero-skipping kernels cycles depend on the image: the rule takes the
# maximum over the test images run, not the mean.
MAX_CODE_BYTES = 64 * 1024
MAX_CYCLES = 921_600
RULE = "most accurate int8 model with code <= 64 KB and <= 921,600 cycles per digit (maximum over the images run)"


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def row_problem(r) -> str | None:
    """What is wrong with one frontier row as read from a file, or None."""
    if not isinstance(r, dict):
        return "is not an object"
    for key in ("arch", "sizes", "pool", "int_accuracy", "weight_bytes"):
        if key not in r:
            return f"has no '{key}'"
    problem = architecture_problem(r["sizes"], r["pool"])
    if problem:
        return problem
    if not isinstance(r["arch"], str) or not _number(r["int_accuracy"]) or not _number(r["weight_bytes"]):
        return "needs a text 'arch' and numeric 'int_accuracy' and 'weight_bytes'"
    for key in ("cycles", "stream_cycles"):
        if r.get(key) is not None and not (_number(r[key]) and r[key] > 0):
            return f"'{key}' must be a positive number or null"
    return chip_times_problem(r.get("chip_times", {}))


def chip_times_problem(times) -> str | None:
    """What is wrong with a row's 'chip_times' (target -> the sweep's timing on that chip), or None."""
    if not isinstance(times, dict):
        return "has 'chip_times' that is not an object"
    for name, t in times.items():
        ms = t.get("ms") if isinstance(t, dict) else None
        if not (isinstance(ms, list) and len(ms) == 2 and _number(ms[0]) and (ms[1] is None or _number(ms[1]))
                and _number(t.get("clock_hz")) and isinstance(t.get("table"), str) and _number(t.get("images"))):
            return f"'chip_times' of {name} needs 'ms' [low, high or null], 'clock_hz', 'table' and 'images'"
    return None


def load(path: Path = FRONTIER) -> dict:
    hint = "make one with `python -m digit51.firmware.bench.sweep`"
    try:
        data = json.loads(Path(path).read_text())
        rows = data["rows"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise Digit51Error(f"{path}: no frontier table; {hint}") from None
    if not isinstance(rows, list):
        raise Digit51Error(f"{path}: 'rows' is not a list; {hint}")
    for i, r in enumerate(rows):
        problem = row_problem(r)
        if problem:
            raise Digit51Error(f"{path}: row {i} {problem}; {hint}")
    meta = data.get("meta", {})
    return {"rows": rows, "meta": meta if isinstance(meta, dict) else {}}


def worst_cycles(row: dict, prefix: str = "") -> int | None:
    """The cycles a row is judged by: `cycles_max`, the maximum over the images run (rows
    measured before it existed have only the mean `cycles`, with the dense kernels the same
    to within a carry). prefix "stream_" reads the tiny-RAM firmware's figures."""
    return row.get(prefix + "cycles_max") or row.get(prefix + "cycles")


def choose_default(rows: list[dict]) -> dict | None:
    ok = [r for r in rows if (r.get("code_bytes") or MAX_CODE_BYTES + 1) <= MAX_CODE_BYTES
          and worst_cycles(r) and worst_cycles(r) <= MAX_CYCLES]
    return max(ok, key=lambda r: (r["int_accuracy"], -worst_cycles(r)), default=None)


def fits(row: dict, target: Target) -> str | None:
    """The first firmware mode in which the row's architecture fits `target`, or None."""
    return first_mode(row["sizes"], row["pool"], row.get("deskew", False), target)
