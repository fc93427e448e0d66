"""Time per digit on each chip, from ucsim's execution counts.

ucsim models a 12-clock core only. s51 0.6.4's `statistic rom` prints how often each code
byte was read; the count at an instruction's first byte is its execution count. The
instruction starts come from sweeping the code areas of the .map with the opcode lengths
(firmware/chips/opcodes.py). Counts x a chip's clocks per opcode (firmware/chips/clock_tables.py, the
published tables) give the chip's clocks, as a range: a conditional branch whose fall-through
count the counts show is timed as taken or not that many times, the others between their
not-taken and taken times; opcodes a table does not cover are bounded. The method is checked
by rebuilding ucsim's own 12-clock total from the same counts (`validate`).

Inference time is the code in the INFER area (infer.c is compiled with --codeseg INFER).

    python -m digit51.firmware.measure.timing QMODEL --data DIR [--target CHIP]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from digit51.firmware import options
from digit51.firmware.builder.artifacts import code_ranges, read_ihx
from digit51.firmware.chips import clock_tables
from digit51.firmware.chips.opcodes import OPS, Op
from digit51.firmware.sim.ucsim import batch
from digit51.trainer.errors import Digit51Error

# Clocks per opcode form for each timing table: (not taken or only, taken low, taken high).
# Forms absent from a table are bounded by UNKNOWN_BOUND (per table) and reported.
CH55X_SOURCE = "kprasadvnsi/ch55x_asm_doc README rules 1-9 (CH551/2/4/8/9), address parity from the code"
# The README's rules, with its table as the check: a non-jump instruction takes one clock
# per byte (rule 1; DIV AB 4 on CH551/2/4, 1 on CH558/9: bounded 1-4); MOVC takes bytes + 4,
# +1 if its address is odd, +1 if the next one is (rule 5: table 5/6/7); JB/JNB/JBC/
# CJNE A,direct/DJNZ taken: bytes + 2, +1 odd address, +1 odd target (rule 7: table
# DJNZ Rn 4/5/6); other jumps and calls taken: bytes + 2, +1 odd target (rule 8: table
# SJMP 4/5, LJMP 5/6); RET/RETI 1 + 3, +1 odd return address (rule 4: table 4/5, the
# return address is not known here); JMP @A+DPTR 1 + 2, +1 odd address, +1 odd target
# (rule 6, target not known here); a conditional jump not taken takes its bytes (rule 9).
RULE7 = {"JB bit,rel", "JNB bit,rel", "JBC bit,rel", "CJNE A,direct,rel", "DJNZ Rn,rel", "DJNZ direct,rel"}
ADDR_TARGET = {"AJMP addr11", "ACALL addr11", "LJMP addr16", "LCALL addr16"}


def target_of(op: Op, a: int, code: bytes) -> int | None:
    """Static jump target of the instruction at `a`, or None (RET, JMP @A+DPTR)."""
    end = a + op.size
    if op.form.endswith("rel"):
        rel = code[end - 1]
        return (end + (rel - 256 if rel > 127 else rel)) & 0xFFFF
    if op.form.endswith("addr11"):
        return (end & 0xF800) | ((code[a] >> 5) << 8) | code[a + 1]
    if op.form.endswith("addr16"):
        return (code[a + 1] << 8) | code[a + 2]
    return None


def ch55x_clocks(op: Op, a: int, code: bytes) -> tuple[int, int]:
    odd = a & 1
    if op.form.startswith("MOVC"):
        return (op.size + 4 + odd + ((a + 1) & 1),) * 2
    if op.form == "DIV AB":
        return 1, 4
    if op.form in ("RET", "RETI"):
        return 4, 5
    if op.form == "JMP @A+DPTR":
        return 3 + odd, 4 + odd
    t = target_of(op, a, code)
    if t is None:
        return op.size, op.size
    taken = op.size + 2 + (t & 1) + (odd if op.form in RULE7 else 0)
    return (op.size, taken) if op.cond else (taken, taken)


# N76E003: one value per instruction, branches taken or not alike (clock_tables.N76).
N76 = {form: (c, c, c) for form, c in clock_tables.N76.items()}
# EFM8: the CIP-51 table by opcode; a conditional branch's figure is its not-taken time and
# a taken one is that plus EFM8_TAKEN_EXTRA (see clock_tables).
EFM8 = {OPS[code].form: ((c, c + clock_tables.EFM8_TAKEN_EXTRA[0], c + clock_tables.EFM8_TAKEN_EXTRA[1])
                         if OPS[code].cond else (c, c, c)) for code, c in clock_tables.EFM8.items()}


@dataclass(frozen=True)
class Table:
    name: str
    source: str
    known: dict  # form -> (not taken, taken low, taken high)
    per_byte: bool  # forms not in `known` take one clock per byte (CH55x rule 1)
    unknown: tuple[int, int | None]  # clocks bound for forms not covered: (low, high or None = no bound known)
    aggregate: float | None = None  # vendor's whole-instruction-set clock ratio to the 12T core, for an estimate
    by_address: object = None  # (op, address, code) -> (low, high): rules that depend on where the code sits


TABLES = {
    "classic12": Table("classic12", "Intel MCS-51: 12 clocks per machine cycle", {}, False, (0, 0)),
    "ch55x": Table("ch55x", CH55X_SOURCE, {}, True, (1, 1), by_address=ch55x_clocks),
    "n76e003": Table("n76e003", clock_tables.N76_SOURCE, N76, False, (1, None)),  # every opcode is listed
    "stc8h": Table("stc8h", clock_tables.STC8H_SOURCE, {}, False, (1, None),
                   clock_tables.STC8H_AGGREGATE[0] / clock_tables.STC8H_AGGREGATE[1]),
    "efm8": Table("efm8", clock_tables.EFM8_SOURCE, EFM8, False, (1, None)),  # every opcode is listed
}


def clocks(op: Op, table: Table) -> tuple[int, int | None]:
    """Clocks of one execution of `op`: (low, high); high None when no bound is known."""
    if table.name == "classic12":
        return 12 * op.cycles12, 12 * op.cycles12
    if op.form in table.known:
        nt, lo, hi = table.known[op.form]
        return (min(nt, lo), max(nt, hi)) if op.cond else (lo, hi)
    if table.per_byte:
        return op.size, op.size
    return table.unknown


def starts(code: bytes, ranges: list[tuple[int, int]]) -> list[int]:
    """Instruction start addresses, sweeping each range with the opcode lengths."""
    out = []
    for a, b in ranges:
        pc = a
        while pc < b:
            out.append(pc)
            pc += OPS[code[pc]].size
    return out


@dataclass
class Run:
    counts: dict  # address -> reads
    ucsim_clocks: int  # ucsim's own total (12 clocks per machine cycle)
    code: bytes
    map_text: str


def run_counts(ihx: Path, map_path: Path, timeout: float = 300) -> Run:
    """Run a self-stopping firmware to its end in s51 and read its per-address counts."""
    map_text = Path(map_path).read_text()
    top = max(b for _, b in code_ranges(map_text))
    out, _ = batch(ihx, "52", f"run\nstate\nstatistic rom 0 0x{top:x}\nkill\n", timeout, "counting executions")
    total = re.findall(r"Total time since last reset=.*\((\d+) clks\)", out)
    counts = {int(a, 16): int(n) for a, n in re.findall(r"rom\[0x([0-9a-f]+)\] writes=\s*\d+ \([^)]*\) reads=\s*(\d+)", out)}
    if not total or not counts:
        raise Digit51Error(f"s51 gave no execution counts (is it ucsim 0.6.4? `statistic` left ucsim in 0.8.11): {out[-200:]}")
    return Run(counts, int(total[-1]), read_ihx(ihx), map_text)


def not_taken(run: Run) -> dict:
    """Branch address -> times it fell through, where the counts tell: the instruction after
    a conditional branch that no static jump or call return reaches is entered only by
    falling through (an interrupt return re-fetching it adds a few counts: clamped)."""
    everything = starts(run.code, code_ranges(run.map_text))
    reached = set()
    for a in everything:
        op = OPS[run.code[a]]
        t = target_of(op, a, run.code)
        if t is not None:
            reached.add(t)
        if op.form.endswith("CALL addr11") or op.form.endswith("CALL addr16") or op.form == "JMP @A+DPTR":
            reached.add(a + op.size)  # return point; JMP @A+DPTR: its table follows it
    out = {}
    for a in everything:
        op = OPS[run.code[a]]
        n = run.counts.get(a, 0)
        if op.cond and n and a + op.size not in reached:
            out[a] = min(run.counts.get(a + op.size, 0), n)
    return out


def branch_times(op: Op, a: int, code: bytes, table: Table) -> tuple[int, int, int] | None:
    """(not taken, taken low, taken high) of a conditional branch, where the table knows them."""
    if not op.cond or table.name == "classic12":
        return None
    if table.by_address:
        nt, taken = table.by_address(op, a, code)
        return nt, taken, taken
    return table.known.get(op.form)


def total(run: Run, table: Table, areas: set[str] | None = None, exact_branches: bool = True) -> tuple[int, int | None, dict]:
    """Clocks (low, high) of the code in `areas` (all code by default) and the executions
    of forms the table does not cover. A conditional branch whose fall-through count is
    known (`not_taken`) is timed as that many not-taken and the rest taken; the others are
    bounded between their not-taken and taken times."""
    lo, hi = 0, 0
    unknown: dict = {}
    fell = not_taken(run) if exact_branches and table.name != "classic12" else {}
    for a in starts(run.code, code_ranges(run.map_text, areas)):
        n = run.counts.get(a, 0)
        if not n:
            continue
        op = OPS[run.code[a]]
        times = branch_times(op, a, run.code, table) if a in fell else None
        if times:
            nt, taken_lo, taken_hi = times
            lo += fell[a] * nt + (n - fell[a]) * taken_lo
            hi = None if hi is None else hi + fell[a] * nt + (n - fell[a]) * taken_hi
            continue
        c_lo, c_hi = table.by_address(op, a, run.code) if table.by_address else clocks(op, table)
        lo += n * c_lo
        hi = None if hi is None or c_hi is None else hi + n * c_hi
        if table.name != "classic12" and op.form not in table.known and not table.per_byte:
            unknown[op.form] = unknown.get(op.form, 0) + n
    return lo, hi, unknown


def validate(run: Run) -> float:
    """Our 12-clock rebuild of the whole run over ucsim's own count (1.0 = identical)."""
    lo, _, _ = total(run, TABLES["classic12"])
    return lo / run.ucsim_clocks


def ms(clock_count: float | None, hz: int) -> float | None:
    return None if clock_count is None else 1000.0 * clock_count / hz


@dataclass(frozen=True)
class Estimate:
    target: str
    table: str
    source: str
    clock_hz: int
    infer_clocks: tuple[int, int | None]  # per digit on the chip
    infer_clocks_12t: int  # per digit on the classic core (from the same counts)
    validation: float  # 12T rebuild / ucsim's total, whole run
    unknown: dict  # forms without a table entry -> executions per digit
    estimate_clocks: int | None = None  # from the vendor's aggregate ratio, where there is only that

    @property
    def ms(self) -> tuple[float, float | None]:
        return ms(self.infer_clocks[0], self.clock_hz), ms(self.infer_clocks[1], self.clock_hz)

    def span(self) -> str:
        lo, hi = self.ms
        span = f"{lo:.1f}-{hi:.1f} ms" if hi is not None else f">= {lo:.1f} ms (no upper bound known)"
        if self.estimate_clocks:
            span += f", estimate {ms(self.estimate_clocks, self.clock_hz):.1f} ms"
        return span

    def line(self) -> str:
        return (f"time per digit on {self.target} at {self.clock_hz / 1e6:g} MHz: {self.span()} "
                f"({self.table} table: {self.source}; 12T rebuild / ucsim = {self.validation:.6f})")


def sample_images(n: int = 2, shape: tuple[int, int] = (28, 28)):
    """Fixed pseudo-random images of a model's input shape, for timing without MNIST files. The
    dense kernels run the same instructions for any pixels (only rare carries differ); the
    zero-skipping ones skip fewer multiply-accumulates than on MNIST digits, so their time here
    is an upper-side figure."""
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (n, *shape)).astype(np.uint8)


def model_of(sizes: list[int], pool: int, seed: int = 0, deskew: bool = False, graph: str = "", input_shape=(28, 28)):
    """An integer model of an architecture (an MLP of `sizes` and `pool`, or a layer `graph`)
    with random int8 weights (for builds and timing)."""
    import numpy as np

    from digit51.quantize.model_file import IntModel
    from digit51.trainer import arch

    rng = np.random.default_rng(seed)
    shapes = (arch.param_shapes(arch.parse(graph), *input_shape)[0::2] if graph
              else [(o, i) for i, o in zip(sizes[:-1], sizes[1:])])
    return IntModel([rng.integers(-127, 128, s).astype(np.int8) for s in shapes],
                    [rng.integers(-1000, 1000, s[0]).astype(np.int32) for s in shapes],
                    [np.full(s[0], 10, np.uint8) for s in shapes[:-1]], 1 if graph else pool, deskew=deskew,
                    graph=graph, input_shape=tuple(input_shape))


def measure(model, target, images, kernel: str | None = None, mode: str = "serve", clock: int | None = None) -> Estimate:
    """Run `images` (N x H x W uint8, the model's input shape) through `target`'s inference code in s51 and time it
    with the chip's table. The firmware is the self-test build on ucsim's core."""
    import numpy as np

    from digit51.codegen.render import SelfTestSet
    from digit51.codegen.spec import BuildSpec
    from digit51.firmware.chips import targets
    from digit51.firmware.builder.sdcc import build

    kernel = None if mode == "stream" else kernel
    n = len(images)
    sel = SelfTestSet(list(range(n)), np.asarray(images, np.uint8), np.zeros(n, np.uint8))
    core = targets.on_generic_core(target, roomy=True)  # room for the images; code and kernel are the target's
    with tempfile.TemporaryDirectory(prefix="digit51-timing-") as tmp:
        fw = build(model, BuildSpec.of(model, core, "selftest", kernel), Path(tmp) / "fw", "timing", sel)
        return estimate(fw, target, n, clock)


def estimate(fw, target, n: int, clock: int | None = None) -> Estimate:
    """Time the inference code of a built self-test firmware `fw` (one that stops by itself after
    its `n` images) on `target` with the chip's table."""
    run = run_counts(fw.ihx, fw.folder / "firmware.map")
    table = TABLES[target.timing]
    lo, hi, unknown = total(run, table, {"INFER"})
    t12, _, _ = total(run, TABLES["classic12"], {"INFER"})
    return Estimate(target.name, table.name, table.source, clock or target.clock_hz,
                    (lo // n, None if hi is None else hi // n), t12 // n, validate(run),
                    {k: v // n for k, v in sorted(unknown.items(), key=lambda kv: -kv[1])},
                    round(t12 / n * table.aggregate) if table.aggregate else None)


def runnable(model, target) -> str:
    """The firmware mode in which `target` runs `model` (serve where it has XRAM, else
    stream), or an error saying why the chip cannot run it (check_fit's line)."""
    from digit51.codegen.spec import BuildSpec
    from digit51.firmware.builder.fit import check_fit

    mode = "serve" if target.xram else "stream"
    try:
        check_fit(BuildSpec.of(model, target, mode))
    except Digit51Error as e:
        raise Digit51Error(f"{target.name} cannot run this {model.name} model ({mode} mode): {e}") from None
    return mode


def image_count(text: str) -> int:
    """--images: a whole number of test images, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise Digit51Error(f"--images {text}: give the number of test images to time, 1 or more")
    return n


def main(argv=None) -> int:
    from digit51.firmware.chips import targets
    from digit51.quantize import model_file
    from digit51.trainer import mnist

    p = argparse.ArgumentParser(description="Time per digit on each chip from ucsim's execution counts.")
    p.add_argument("qmodel")
    options.add_data_option(p)
    options.add_target(p, default=None, repeat=True, checked=False, help=f"chip: {', '.join(targets.TARGETS)}")
    options.add_images(p, "3", help="test images timed, from index 0 (default 3)", start=False, type=str)
    a = p.parse_args(argv)
    try:  # arguments first, then the files, then the long work
        n_images = image_count(a.images)
        chosen = [targets.get(name) for name in a.target or targets.TARGETS]
        model = model_file.load(a.qmodel)
        images = mnist.load(a.data).test_images[:n_images]
        if a.target:  # a chip asked for by name must run the model
            for t in chosen:
                runnable(model, t)
        for t in chosen:
            try:
                mode = runnable(model, t)
            except Digit51Error as e:
                print(f"digit51: not timed: {e}", file=sys.stderr)
                continue
            e = measure(model, t, images, mode=mode)
            print(e.line())
            print(f"    12T clocks per digit {e.infer_clocks_12t:,}; chip clocks {e.infer_clocks[0]:,}-{e.infer_clocks[1] or '?'}"
                  + (f"; opcodes without a table entry (executions/digit): {dict(list(e.unknown.items())[:6])}" if e.unknown else ""))
    except Digit51Error as e:
        print(f"digit51: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from digit51.firmware.sim import signals

    sys.exit(signals.run(main, "timing"))  # one line on an error or a signal; s51 and temp folders go
