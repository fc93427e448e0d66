"""Cycles per layer, measured in ucsim with breakpoints on the self-test firmware.

Method: s51 stops at cycles_start() (the firmware's Timer 0 starts), at classify(), at the
end of each layer, and at cycles_pause() (Timer 0 stops); `state` after each stop
gives the simulated clock count. The segments between stops are: reading and pooling the
784 pixels, one per layer (its argument set-up, call and return included), and argmax.
Their sum is checked against the firmware's own Timer 0 count on its `pred` line: two
independent measurements of the same digit, refused when they disagree. Breakpoints cost no
simulated time. The cycles are those of ucsim's 12-clock core whatever the target: a 1T
chip's time comes from its instruction table (firmware/measure/timing.py).

classify() marks the end of deskew and of each layer (of an MLP) or part (of a layer graph,
whose classify() loops over channels) with a global label that adds no code
(program/layers.inc.j2, program/infer_graph.c.j2); the breakpoints go on the marks, read from
the map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digit51.firmware import protocol
from digit51.firmware.builder.artifacts import code_symbols
from digit51.firmware.chips.targets import Target
from digit51.firmware.sim.ucsim import CLOCKS_PER_CYCLE, batch
from digit51.trainer.errors import Digit51Error

MAX_GAP = 0.01  # largest |sum of segments - Timer 0| / Timer 0 taken (measured: below 0.1%)
_STOP = re.compile(r"Stop at 0x([0-9a-fA-F]+): \(\d+\) Breakpoint")
_CLKS = re.compile(r"Total time since last reset= \S+ sec \((\d+) clks\)")


@dataclass(frozen=True)
class Profile:
    segments: list[str]  # "input", "deskew" (if the model has it), "layer 0", ..., "argmax"
    cycles: np.ndarray  # (images, segments) machine cycles of ucsim's 12-clock core
    timer0: np.ndarray  # (images,) the firmware's own count (pred line)
    predictions: list  # protocol.Prediction per image

    @property
    def totals(self) -> np.ndarray:
        return self.cycles.sum(axis=1)

    @property
    def worst_gap(self) -> float:
        """Largest |sum of segments - Timer 0| / Timer 0 over the images."""
        return float(np.max(np.abs(self.totals - self.timer0) / self.timer0))


def marks(syms: dict, n_parts: int, deskew: bool) -> list[int]:
    """The addresses classify() marks: the end of deskew, then the end of each layer of an
    MLP, or of each part of a layer graph (a segment of map layers or a dense layer)."""
    names = ["_digit51_deskew_end"] * deskew + [f"_digit51_part{i}_end" for i in range(n_parts)]
    missing = [n for n in names if n not in syms]
    if missing:
        raise Digit51Error(f"no symbol {missing[0]} in the firmware map: per-layer profiling needs classify()'s marks")
    return [syms[n] for n in names]


def measure(ihx: Path, map_file: Path, target: Target, n_layers: int, n_images: int, timeout: float = 600,
            deskew: bool = False) -> Profile:
    """Cycles per segment of `n_images` self-test digits: per layer of an MLP, or per part of a
    layer graph (n_layers counts its parts, codegen/graph_plan.py), each ended at its mark."""
    syms = code_symbols(Path(map_file).read_text())
    try:
        start, classify, pause = syms["_cycles_start"], syms["_classify"], syms["_cycles_pause"]
    except KeyError as e:
        raise Digit51Error(f"{map_file}: no symbol {e} in the firmware map; is it a digit51 self-test build?") from None
    stops = [start, classify, *marks(syms, n_layers, deskew), pause]
    commands = "".join(f"break 0x{a:x}\n" for a in stops) + "run\nstate\n" * (len(stops) * n_images + 1) + "kill\n"
    out, uart = batch(ihx, target.s51_type, commands, timeout, "profiling (use fewer --images)")
    reader = protocol.LineReader()
    records = reader.feed(uart) + reader.close()
    hits = [(int(a, 16), int(c)) for a, c in re.findall(_STOP.pattern + r"[\s\S]*?" + _CLKS.pattern, out)]
    preds = [r for r in records if isinstance(r, protocol.Prediction)]
    if len(hits) != len(stops) * n_images or len(preds) != n_images:
        raise Digit51Error(f"profiling stopped early: {len(hits)} of {len(stops) * n_images} breakpoints, "
                           f"{len(preds)} of {n_images} answers")
    addrs = np.array([a for a, _ in hits]).reshape(n_images, len(stops))
    if not (addrs == np.array(stops)).all():
        raise Digit51Error("ucsim stopped at the breakpoints out of order; the firmware's control flow is not the one profiled")
    clks = np.array([c for _, c in hits], dtype=np.int64).reshape(n_images, len(stops))
    cycles = np.diff(clks, axis=1) // CLOCKS_PER_CYCLE
    names = ["input"] + ["deskew"] * deskew + [f"layer {i}" for i in range(n_layers)] + ["argmax"]
    prof = Profile(names, cycles, np.array([p.cycles for p in preds], dtype=np.int64), preds)
    if prof.worst_gap > MAX_GAP:
        raise Digit51Error(f"the per-layer cycles add up to {prof.totals.max():,} where the firmware's Timer 0 counted "
                           f"{prof.timer0.max():,} ({100 * prof.worst_gap:.1f}% apart): the profile is wrong; please report it")
    return prof
