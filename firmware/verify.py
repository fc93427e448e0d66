"""Verification: run MNIST test images through the firmware in ucsim and compare every
logit with the integer simulator. Prints images, mismatches, firmware accuracy, mean
machine cycles per inference and wall time.

    python -m digit51.firmware.verify QMODEL --data ../shared/data/mnist [--images 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from digit51.codegen.render import DEFAULT_KERNEL, KERNELS, MODES
from digit51.firmware.build import resolve_kernel
from digit51.firmware import pipeline, targets
from digit51.quantize import model_file
from digit51.trainer import mnist
from digit51.trainer.errors import Digit51Error

_state = {}


def _init(qmodel: str, data: str | None, target: str, mode: str, kernel: str, out: str) -> None:
    _state.update(model=model_file.load(qmodel), data=mnist.load(data), target=targets.get(target),
                  mode=mode, kernel=kernel, out=Path(out))


def _chunk(args):
    k, indices = args
    s = _state
    r = pipeline.simulate_firmware(s["model"], s["target"], s["data"], indices, s["mode"], "socket",
                                   s["out"] / f"chunk-{k}", "verify", s["kernel"], timeout=300)
    c = r.comparison
    cycles = [p.cycles for o in r.outcomes for p in o.predictions]
    errors = [f"{b.reason}: {b.text[:60]!r}" for b in r.bad_lines] + [f"frame {e.img}: {e.reason}" for e in r.frame_errors]
    return len(indices), c.mismatches, c.correct, cycles, errors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel", help="integer model from `digit51 quantize`")
    p.add_argument("--data", metavar="DIR", help="MNIST folder")
    p.add_argument("--images", type=int, default=10000, help="how many test images, from index 0 (default 10000)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel ucsim processes (default: one per core)")
    p.add_argument("--chunk", type=int, default=0, help="images per simulator run (default: as many as one self-test build holds)")
    p.add_argument("--mode", choices=tuple(MODES), default="selftest", help="firmware mode (default selftest)")
    p.add_argument("--kernel", choices=sorted(KERNELS), help=f"dense-layer kernel (default {DEFAULT_KERNEL} where its list fits, else asm; c in stream mode)")
    p.add_argument("--target", default=targets.DEFAULT_TARGET, help="chip profile")
    a = p.parse_args(argv)
    try:
        model = model_file.load(a.qmodel)
        target = targets.get(a.target)
        per = a.chunk or (pipeline.per_build(model, target) if a.mode == "selftest" else 250)
    except Digit51Error as e:
        print(f"verify: error: {e}", file=sys.stderr)
        return 1
    indices = list(range(a.images))
    chunks = [(k, indices[i : i + per]) for k, i in enumerate(range(0, len(indices), per))]
    t0 = time.perf_counter()
    done = mism = correct = bad = 0
    cycles: list[int] = []
    with tempfile.TemporaryDirectory(prefix="digit51-verify-") as out, ProcessPoolExecutor(
        a.workers, initializer=_init, initargs=(a.qmodel, a.data, a.target, a.mode, a.kernel, out)
    ) as pool:
        try:
            for n, mismatches, ok, cyc, errors in pool.map(_chunk, chunks):
                done += n
                mism += len(mismatches)
                correct += ok
                bad += len(errors)
                for e in errors[:5]:
                    print(f"verify: serial error: {e}", file=sys.stderr)
                cycles += cyc
                for img, what in mismatches[:5]:
                    print(f"verify: mismatch on image {img}: {what}", file=sys.stderr)
                print(f"verify: {done}/{len(indices)} images, {mism} mismatches, max {max(cycles, default=0):,} cycles, "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        except Digit51Error as e:  # a worker's build or run failed: one line, as everywhere
            pool.shutdown(cancel_futures=True)
            print(f"verify: error: {e}", file=sys.stderr)
            return 1
    wall = time.perf_counter() - t0
    mean = float(np.mean(cycles)) if cycles else 0.0
    print(f"model               {'-'.join(map(str, model.sizes))} ({resolve_kernel(model.sizes, model.pool, target, a.mode, a.kernel, model.deskew)} kernel, {a.mode} mode, {target.name})")
    print(f"images              {done}")
    print(f"mismatches          {mism}")
    print(f"serial errors       {bad}")
    print(f"firmware accuracy   {100 * correct / max(done, 1):.2f}%")
    print(f"cycles/inference    {mean:,.0f} (mean; min {min(cycles, default=0):,}, max {max(cycles, default=0):,})")
    print(f"seconds/digit       {pipeline.seconds_per_digit(mean, target):.3f} at {target.clock_hz / 1e6:.4f} MHz")
    print(f"wall time           {wall:.0f} s with {a.workers} workers")
    return 0 if mism == 0 and bad == 0 and done == len(indices) else 1


if __name__ == "__main__":
    sys.exit(main())
