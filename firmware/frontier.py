"""The accuracy / size / speed frontier: measured rows (written by firmware/sweep.py into
firmware/frontier.json), the rule that picks the default model, and which rows fit a chip."""

from __future__ import annotations

import json
from pathlib import Path

from digit51.firmware.build import check_fit
from digit51.firmware.targets import Target
from digit51.trainer.errors import Digit51Error

FRONTIER = Path(__file__).with_name("frontier.json")
# The default model: the most accurate (integer test accuracy) architecture whose int8
# weights fit 40 KB and that classifies a digit in at most 1 s on a 12-clock 8051 at 11.0592 MHz.
MAX_WEIGHT_BYTES = 40 * 1024
MAX_CYCLES = 921_600
RULE = "most accurate int8 model with weights <= 40 KB and <= 921,600 cycles per digit"


def load(path: Path = FRONTIER) -> dict:
    try:
        data = json.loads(Path(path).read_text())
        rows = data["rows"]
    except (OSError, ValueError, KeyError):
        raise Digit51Error(f"{path}: no frontier table; make one with `python -m digit51.firmware.sweep`") from None
    return {"rows": rows, "meta": data.get("meta", {})}


def choose_default(rows: list[dict]) -> dict | None:
    ok = [r for r in rows if r["weight_bytes"] <= MAX_WEIGHT_BYTES and r.get("cycles") and r["cycles"] <= MAX_CYCLES]
    return max(ok, key=lambda r: (r["int_accuracy"], -r["cycles"]), default=None)


def fits(row: dict, target: Target) -> str | None:
    """The first firmware mode in which the row's architecture fits `target`, or None."""
    for mode in ("serve", "stream"):
        try:
            check_fit(row["sizes"], row["pool"], target, mode)
            return mode
        except Digit51Error:
            continue
    return None
