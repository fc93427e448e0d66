"""Where the cycles of one digit go: machine cycles per function of the inference code,
from ucsim's per-address execution counts (firmware/measure/timing.py run_counts) over a
self-test build of the model.

    python -m digit51.firmware.measure.profile QMODEL --data ../shared/data/mnist [--images 20] [--kernel K] [--target CHIP]

Static functions of infer.c are not in the linker map: infer.c is compiled once more
with the flags of the build to read their offsets in its INFER area from the listing
(checked against the map's global symbols of infer.c). Every executed instruction is
charged to the function whose label precedes it; `main` is the self-test loop that
feeds the pixels to pool_push (its per-image printing lives in other functions).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from digit51.codegen.spec import BuildSpec
from digit51.codegen.render import SelfTestSet
from digit51.firmware import options
from digit51.firmware.chips import targets
from digit51.firmware.measure import timing
from digit51.firmware.builder.sdcc import SDCC_FLAGS, build, sdcc_path
from digit51.firmware.builder.artifacts import code_ranges, code_symbols
from digit51.firmware.chips.opcodes import OPS
from digit51.quantize import model_file
from digit51.trainer import mnist
from digit51.trainer.errors import Digit51Error

INFER_FUNCTIONS_SHOWN = "inference code (infer.c) and the self-test loop (main)"


def map_labels(map_text: str) -> dict[int, str]:
    """Address -> global code symbol of the linker map."""
    return {a: name for name, a in code_symbols(map_text).items()}


def infer_labels(src: Path, map_text: str) -> dict[int, str]:
    """Address -> label of every function of infer.c, statics included (see the module doc)."""
    base = int(re.search(r"^INFER\s+([0-9A-F]{8})", map_text, re.M)[1], 16)
    with tempfile.TemporaryDirectory(prefix="digit51-profile-") as tmp:
        for f in src.iterdir():
            shutil.copy(f, tmp)
        subprocess.run([sdcc_path(), *SDCC_FLAGS, "-DDIGIT51_SIM_EXIT", "--codeseg", "INFER", "-c", "infer.c"],
                       cwd=tmp, check=True, capture_output=True)
        lst = (Path(tmp) / "infer.lst").read_text()
    out, area = {}, None
    for line in lst.splitlines():
        m = re.search(r"\.area\s+(\w+)", line)
        if m:
            area = m[1]
        m = re.match(r"^\s+([0-9A-F]{6})\s+\d+\s+(_\w+?):{1,2}\s*$", line)
        if m and area == "INFER":
            out[base + int(m[1], 16)] = m[2]
    known = map_labels(map_text)
    for a, name in out.items():
        if a in known and known[a] != name:
            raise Digit51Error(f"profile: infer.c recompiled differently from the build ({name} at 0x{a:04X}): rebuild")
    return out


def per_function(run: timing.Run, labels: dict[int, str]) -> dict[str, int]:
    """Machine cycles of each function over the whole run."""
    marks = sorted(labels)
    out: dict[str, int] = {}
    k = 0
    for a in timing.starts(run.code, code_ranges(run.map_text)):
        n = run.counts.get(a, 0)
        while k + 1 < len(marks) and marks[k + 1] <= a:
            k += 1
        if n and marks and marks[k] <= a:
            out[labels[marks[k]]] = out.get(labels[marks[k]], 0) + n * OPS[run.code[a]].cycles12
    return out


def profile(model, target, data, indices: list[int], kernel: str | None, work: Path) -> tuple[dict[str, float], str]:
    """Mean machine cycles per digit of each function of infer.c and of main; the kernel used."""
    sel = SelfTestSet(indices, data.test_images[indices], data.test_labels[indices])
    fw = build(model, BuildSpec.of(model, target, "selftest", kernel), work / "fw", "profile", sel)
    run = timing.run_counts(fw.ihx, fw.folder / "firmware.map")
    infer = infer_labels(fw.folder / "src", run.map_text)
    labels = {**map_labels(run.map_text), **infer}
    cycles = per_function(run, labels)
    shown = set(infer.values()) | {"_main"}
    return {f[1:]: c / len(indices) for f, c in cycles.items() if f in shown}, fw.memory["kernel"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel", help="integer model from `digit51 quantize`")
    options.add_data_option(p)
    options.add_images(p, 20, help="test images, from index 0 (default 20)", start=False)
    options.add_kernel(p)
    options.add_target(p)
    a = p.parse_args(argv)
    try:
        model = model_file.load(a.qmodel)
        target = targets.get(a.target)
        data = mnist.load(a.data)
        with tempfile.TemporaryDirectory(prefix="digit51-profile-") as tmp:
            cycles, kernel = profile(model, target, data, list(range(a.images)), a.kernel, Path(tmp))
    except Digit51Error as e:
        print(f"digit51: {e}", file=sys.stderr)
        return 1
    name = model.name
    print(f"{name}, {kernel} kernel, {target.name}, mean over {a.images} test images: machine cycles per digit, "
          f"{INFER_FUNCTIONS_SHOWN}")
    for f, c in sorted(cycles.items(), key=lambda kv: -kv[1]):
        print(f"{f:>24} {c:>10,.0f}")
    print(f"{'total':>24} {sum(cycles.values()):>10,.0f}")
    return 0


if __name__ == "__main__":
    from digit51.firmware.sim import signals

    sys.exit(signals.run(main, "profile"))  # one line on an error or a signal; s51 and temp folders go
