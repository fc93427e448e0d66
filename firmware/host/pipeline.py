"""Build firmware for a set of MNIST test images, run it in ucsim, compare with the
integer simulator. Self-test images are split into as many builds as code memory needs.

Each run builds and simulates in its own private folder (firmware/builder/sdcc.py `staging`) and
only then swaps the build into OUT/<mode>: two runs in one folder never share files."""

from __future__ import annotations

import time
from pathlib import Path


from digit51.codegen.render import SelfTestSet
from digit51.firmware.host import run
from digit51.firmware.builder.sdcc import OUTPUTS, Firmware, compile_firmware, publish, staging
from digit51.codegen.spec import BuildSpec
from digit51.firmware.builder.fit import batches, resolve
from digit51.firmware.host.board import RunResult, boot
from digit51.firmware.chips.targets import Target, on_generic_core, startup
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel
from digit51.trainer.files import check_output_dir, make_folder
from digit51.trainer.mnist import Mnist


def simulate_firmware(model: IntModel, spec: BuildSpec, data: Mnist, indices: list[int], out: Path, source: str,
                      link: str = "socket", timeout: float = 120.0) -> RunResult:
    """Run `indices` (MNIST test-set positions) through the firmware of `spec` in ucsim,
    one build per self-test batch (or one serve build), each booted as a Board; the result
    merges their answers and carries the comparison with the integer simulator."""
    t0 = time.perf_counter()
    spec, _ = resolve(spec)
    target, mode = spec.target, spec.mode
    generic = startup(on_generic_core(target))  # ucsim runs the chip's inference code on its generic core
    images, labels = data.test_images[indices], data.test_labels[indices]
    if mode in ("serve", "stream"):
        jobs = [(out / mode, None, indices)]
    else:
        jobs = [(out / f"selftest-{b}", SelfTestSet(part, data.test_images[part], data.test_labels[part]), part)
                for b, part in enumerate(batches(spec, indices))]
    make_folder(out)
    for folder, _, _ in jobs:  # every output folder checked before the first build
        check_output_dir(folder, OUTPUTS)
    parts, firmware = [], []
    for folder, sel, idx in jobs:
        with staging(folder) as tmp:
            fw = compile_firmware(model, spec, tmp, source, sel, startup=generic)
            with boot(fw, target, link) as board:
                part = board.run(None if sel else data.test_images[idx], idx, timeout)
            part.stack_peak = board.stack_peak
            parts.append(part)
            firmware.append(publish(fw, folder))
    result = RunResult.merged(parts, firmware=firmware)
    logits, _ = simulate.run(model, images, stream=mode == "stream")
    result.comparison = run.compare(result, indices, logits, labels)
    result.wall_seconds = time.perf_counter() - t0
    return result


def seconds_per_digit(cycles: float, target: Target) -> float:
    return cycles * target.clocks_per_cycle / target.clock_hz


def summary(result: RunResult, target: Target) -> dict:
    c = result.comparison
    fw: Firmware = result.firmware[0]
    return {
        "images": c.images,
        "mismatches": len(c.mismatches),
        "bit_exact": c.bit_exact and not result.bad_lines and not result.frame_errors,  # a corrupt line proves nothing
        "firmware_accuracy": c.accuracy,
        "kernel": fw.memory["kernel"],
        "cycles_per_inference": round(c.mean_cycles),  # mean over the images run
        "cycles_max": c.max_cycles,
        "seconds_per_digit": round(seconds_per_digit(c.mean_cycles, on_generic_core(target)), 4),  # as ucsim ran it
        "seconds_per_digit_max": round(seconds_per_digit(c.max_cycles, on_generic_core(target)), 4),
        "bad_lines": len(result.bad_lines),
        "frame_errors": len(result.frame_errors),
        "builds": len(result.firmware),
        "memory": fw.memory,
        "stack_peak": result.stack_peak,
        "wall_seconds": round(result.wall_seconds, 2),
    }


def clean(s: dict) -> bool:
    """A run to trust: every logit equal to the simulator's and no serial errors."""
    return s["bit_exact"] and not s["bad_lines"] and not s["frame_errors"]


def print_summary(s: dict, target: Target, out) -> None:
    m = s["memory"]
    verdict = ("bit-exact against the integer simulator" if s["bit_exact"] else
               f"{s['mismatches']} MISMATCHES against the integer simulator" if s["mismatches"] else
               "every answer equal to the integer simulator's, but the serial line was not clean (below): not verified")
    print(f"firmware   {s['images']} images in {s['builds']} build(s) on {target.name}: "
          f"accuracy {100 * s['firmware_accuracy']:.2f}%, {verdict}", file=out)
    peak = f", stack peak 0x{s['stack_peak']:02X}" if s["stack_peak"] is not None else ""
    print(f"memory     code {m['code']['used']}/{m['code']['budget']} B, internal RAM {m['iram']['used']}/{m['iram']['budget']} B{peak}, "
          f"XRAM {m['xram']['used']}/{m['xram']['budget']} B", file=out)
    print(f"speed      mean {s['cycles_per_inference']:,} / max {s['cycles_max']:,} machine cycles per inference over "
          f"{s['images']} images = {s['seconds_per_digit']:.3f} / {s['seconds_per_digit_max']:.3f} s per digit "
          f"on ucsim's 12-clock core at 11.0592 MHz, {s['kernel']} kernel "
          f"(the chip's own time: `digit51 fit --target {target.name}`)", file=out)
    if s["bad_lines"] or s["frame_errors"]:
        print(f"serial     {s['bad_lines']} corrupt lines, {s['frame_errors']} frame errors", file=out)
