"""The accuracy / size / speed frontier: measured rows (written by firmware/bench/sweep.py into
firmware/bench/frontier.json), the rule that picks the default model, and which rows fit a chip."""

from __future__ import annotations

import json
from pathlib import Path

from digit51.codegen.spec import BuildSpec
from digit51.firmware.builder.fit import first_mode
from digit51.firmware.chips.targets import Target
from digit51.trainer import arch
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


def _ms_pair(ms) -> bool:
    return isinstance(ms, list) and len(ms) == 2 and _number(ms[0]) and (ms[1] is None or _number(ms[1]))


def row_problem(r) -> str | None:
    """What is wrong with one frontier row as read from a file, or None."""
    if not isinstance(r, dict):
        return "is not an object"
    for key in ("arch", "sizes", "pool", "int_accuracy", "weight_bytes"):
        if key not in r:
            return f"has no '{key}'"
    if r.get("graph"):  # a layer graph: its spec must read, on its input shape
        try:
            arch.shapes(arch.parse(r["graph"]), *r.get("input", (28, 28)))
        except (ValueError, TypeError) as e:
            return f"has a graph that cannot work: {e}"
    else:
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
        slowest = t.get("worst") if isinstance(t, dict) else None
        if slowest is not None and not (isinstance(slowest, dict) and _ms_pair(slowest.get("ms")) and _number(slowest.get("image"))):
            return f"'chip_times' of {name} has a 'worst' that needs 'image' and 'ms' [low, high or null]"
        if not (_ms_pair(ms) and _number(t.get("clock_hz")) and isinstance(t.get("table"), str) and _number(t.get("images"))):
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
    for r in rows:
        teacher_row(r, rows)
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
    """The first firmware mode in which the row's architecture fits `target`, or None. A
    layer graph (a row with "graph") runs in serve mode only."""
    return first_mode(BuildSpec(tuple(row["sizes"]), row["pool"], row.get("deskew", False), target,
                                graph=row.get("graph", ""), input_shape=tuple(row.get("input", (28, 28)))))


# Each chip's own default (issue 20): the most accurate row that fits its memory and classifies a
# digit within 1 s at 11.0592 MHz on the 12-clock parts (MAX_CYCLES machine cycles, the maximum
# over the images run) or within LIMIT_1T_MS at the chip's clock on the 1T parts (the sweep's time
# from the chip's published table: its upper end, or the estimate where the table gives none).
LIMIT_1T_MS = 100.0
CHIP_RULE = ("most accurate int8 model that fits the chip's memory and takes <= 1 s per digit at 11.0592 MHz on a "
             "12-clock part (<= 921,600 machine cycles, the maximum over the images run) or <= 100 ms at the chip's "
             "clock on a 1T part (time from its published instruction table)")


def chip_ms(row: dict, target: Target, worst: bool = False) -> tuple[float | None, float | None, float | None]:
    """(low, high, estimate) ms per digit of a row on a 1T chip at the chip's default clock, as
    the sweep measured it with the chip's clock table over its first test images, or with
    `worst` on the image slowest in ucsim (None where it did not). The clocks counted are the
    same at any clock, so a time measured at another clock scales exactly."""
    t = (row.get("chip_times") or {}).get(target.name)
    if t and worst:
        t = t.get("worst") and {**t["worst"], "clock_hz": t["clock_hz"]}
    if not t:
        return None, None, None
    scale = t["clock_hz"] / target.clock_hz
    lo, hi, est = (None if v is None else round(v * scale, 3) for v in (*t["ms"], t.get("estimate_ms")))
    return lo, hi, est


def worst_seconds(row: dict, target: Target) -> float | None:
    """The time a row is judged by on `target`: 12-clock parts from its maximum cycles, 1T
    parts from the upper end of its chip time (or the estimate) on its slowest image, or on its
    first images for a row timed before the slowest was, None where not measured."""
    if target.timing == "classic12":
        mode = fits(row, target)
        cycles = worst_cycles(row, "stream_" if mode == "stream" else "")
        return None if not cycles else cycles * target.clocks_per_cycle / 11_059_200
    lo, hi, est = chip_ms(row, target, worst=True)
    if lo is None:
        lo, hi, est = chip_ms(row, target)
    worst = hi if hi is not None else est
    return None if worst is None else worst / 1000


def choose_for(rows: list[dict], target: Target) -> dict | None:
    """`target`'s default row (CHIP_RULE), or None when no measured row qualifies."""
    limit = MAX_CYCLES * 12 / 11_059_200 if target.timing == "classic12" else LIMIT_1T_MS / 1000
    ok = [(r, t) for r in rows if fits(r, target) and (t := worst_seconds(r, target)) is not None and t <= limit]
    return max(ok, key=lambda rt: (rt[0]["int_accuracy"], -rt[1]), default=(None, None))[0]


# Recipe keys that are not TrainConfig fields: the row distils from the row of this arch (a layer
# graph, trained first with the same seed), or from the mean logits of that row trained with this
# many seeds (the row's seed and the next ones), and its quantization takes this many epochs of
# quantization-aware fine-tuning (firmware/bench/recipe.py runs them).
TEACHER, TEACHER_SEEDS, QAT = "teacher", "teacher_seeds", "qat_epochs"


def recipe(row: dict) -> dict:
    """The TrainConfig fields that train a row's model: its architecture (arch, or hidden and
    pool), deskew and its recipe (epochs, lr, ...), without the teacher and the QAT epochs."""
    shape = {"arch": row["graph"]} if row.get("graph") else {"hidden": tuple(row["hidden"]), "pool": row["pool"]}
    return {**shape, "deskew": row.get("deskew", False), **own_fields(row.get("recipe") or {})}


def own_fields(recipe: dict) -> dict:
    """A recipe's TrainConfig fields: all but its teacher(s) and its QAT epochs."""
    return {k: v for k, v in recipe.items() if k not in (TEACHER, TEACHER_SEEDS, QAT)}


def recipe_text(row: dict) -> str:
    """The row's recipe as shown beside its name ("epochs 100, lr 0.005"), "" for the defaults."""
    items = sorted((k, v) for k, v in (row.get("recipe") or {}).items() if k != "deskew")
    return ", ".join(f"{k} {v}" if isinstance(v, str) else f"{k} {v:g}" for k, v in items)


def qat_epochs(row: dict) -> int:
    return int((row.get("recipe") or {}).get(QAT, 0))


def teacher_seeds(row: dict) -> int:
    return int((row.get("recipe") or {}).get(TEACHER_SEEDS, 1))


def teacher_row(row: dict, rows: list[dict]) -> dict | None:
    """The row `row`'s recipe distils from, or None (plain labels)."""
    name = (row.get("recipe") or {}).get(TEACHER)
    if not name:
        return None
    found = next((r for r in rows if r.get("graph") == name and not (r.get("recipe") or {}).get(TEACHER)), None)
    if found is None:
        raise Digit51Error(f"{row['arch']}: its recipe distils from {name}, which has no row of its own (without a teacher) in the frontier; "
                           "measure it with `python -m digit51.firmware.bench.sweep --graph SPEC`")
    return found
