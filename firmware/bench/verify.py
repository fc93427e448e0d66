"""Verification: run MNIST test images through the firmware in ucsim and compare every
logit with the integer simulator. Prints images, mismatches, firmware accuracy, mean
machine cycles per inference and wall time.

    python -m digit51.firmware.bench.verify QMODEL --data ../shared/data/mnist [--images 10000] [--workers 2]

The images go in chunks to worker processes (`--worker`: one JSON line in per chunk, one
out), started like every child of digit51 (firmware/sim/children.py): their own process
group, a parent-death signal, stopped (SIGTERM, then SIGKILL) on any way out, their temp
files inside the run's temp folder, which is removed. A worker stops its own s51 on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time

import numpy as np

from digit51.codegen.spec import BuildSpec
from digit51.codegen.render import MODES
from digit51.firmware import options
from digit51.firmware.builder.fit import per_build, resolve
from digit51.firmware.host import pipeline
from digit51.firmware.sim import signals
from digit51.firmware.chips import targets
from digit51.firmware.sim.children import Children
from digit51.quantize import model_file
from digit51.trainer import mnist
from digit51.trainer.errors import Digit51Error


def _worker(config: str) -> int:
    """Run the chunks read on stdin (`[k, [indices]]` per line); answer one JSON line each."""
    from pathlib import Path

    cfg = json.loads(config)
    model, data, target = model_file.load(cfg["qmodel"]), mnist.load(cfg["data"]), targets.get(cfg["target"])
    for line in sys.stdin:
        k, indices = json.loads(line)
        try:
            r = pipeline.simulate_firmware(model, BuildSpec.of(model, target, cfg["mode"], cfg["kernel"]), data, indices,
                                           Path(cfg["out"]) / f"chunk-{k}", "verify", timeout=300)
        except Digit51Error as e:
            print(json.dumps({"error": str(e)}), flush=True)
            continue
        c = r.comparison
        print(json.dumps({"n": len(indices), "mismatches": c.mismatches, "correct": c.correct,
                          "cycles": [p.cycles for p in r.predictions],
                          "errors": [f"{b.reason}: {b.text[:60]!r}" for b in r.bad_lines]
                          + [f"frame {e.img}: {e.reason}" for e in r.frame_errors]}), flush=True)
    return 0


def _results(workers: list[subprocess.Popen], chunks: list):
    """Each chunk's result, as workers finish them; a worker is given the next chunk when it answers."""
    todo = iter(chunks)
    sel = selectors.DefaultSelector()
    for w in workers:
        sel.register(w.stdout, selectors.EVENT_READ, w)
        w.stdin.write(json.dumps(next(todo)) + "\n")
        w.stdin.flush()
    while sel.get_map():
        for key, _ in sel.select():
            w = key.data
            line = w.stdout.readline()
            if not line:
                raise Digit51Error(f"a worker process stopped unexpectedly (exit status {w.wait()}); see its message above")
            res = json.loads(line)
            if "error" in res:  # a worker's build or run failed: one line, as everywhere
                raise Digit51Error(res["error"])
            nxt = next(todo, None)
            if nxt is None:
                sel.unregister(w.stdout)
                w.stdin.close()
            else:
                w.stdin.write(json.dumps(nxt) + "\n")
                w.stdin.flush()
            yield res


def run(a: argparse.Namespace) -> int:
    for name, low in (("images", 1), ("workers", 1), ("chunk", 0)):
        if getattr(a, name) < low:
            raise Digit51Error(f"--{name} must be at least {low}, not {getattr(a, name)}"
                               + (" (0: as many as one self-test build holds)" if name == "chunk" else ""))
    model = model_file.load(a.qmodel)
    target = targets.get(a.target)
    if a.images > (n_test := len(mnist.load(a.data).test_images)):
        raise Digit51Error(f"--images {a.images} is more than the {n_test} test images")
    per = a.chunk or (per_build(BuildSpec.of(model, target, "selftest")) if a.mode == "selftest" else 250)
    indices = list(range(a.images))
    chunks = [(k, indices[i : i + per]) for k, i in enumerate(range(0, len(indices), per))]
    t0 = time.perf_counter()
    done = mism = correct = bad = 0
    cycles: list[int] = []
    with Children("digit51-verify-") as children:
        config = json.dumps({"qmodel": a.qmodel, "data": a.data, "target": a.target, "mode": a.mode,
                             "kernel": a.kernel, "out": str(children.tmp)})
        env = dict(os.environ, TMPDIR=str(children.tmp))  # whatever a worker leaves goes with the run's folder
        workers = [children.popen([sys.executable, "-m", "digit51.firmware.bench.verify", "--worker", config],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                   for _ in range(min(a.workers, len(chunks)))]
        for r in _results(workers, chunks):
            done += r["n"]
            mism += len(r["mismatches"])
            correct += r["correct"]
            bad += len(r["errors"])
            for e in r["errors"][:5]:
                print(f"verify: serial error: {e}", file=sys.stderr)
            cycles += r["cycles"]
            for img, what in r["mismatches"][:5]:
                print(f"verify: mismatch on image {img}: {what}", file=sys.stderr)
            print(f"verify: {done}/{len(indices)} images, {mism} mismatches, max {max(cycles, default=0):,} cycles, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    mean = float(np.mean(cycles)) if cycles else 0.0
    print(f"model               {model.name} ({resolve(BuildSpec.of(model, target, a.mode, a.kernel))[0].kernel} kernel, {a.mode} mode, {target.name})")
    print(f"images              {done}")
    print(f"mismatches          {mism}")
    print(f"serial errors       {bad}")
    print(f"firmware accuracy   {100 * correct / max(done, 1):.2f}%")
    print(f"cycles/inference    {mean:,.0f} (mean; min {min(cycles, default=0):,}, max {max(cycles, default=0):,})")
    core = targets.on_generic_core(target)  # ucsim's 12-clock core: a 1T chip's time is its table's (measure/timing.py)
    print(f"seconds/digit       {pipeline.seconds_per_digit(mean, core):.3f} as ucsim ran it, a 12-clock 8051 at {core.clock_hz / 1e6:.4f} MHz"
          + ("" if target.timing == "classic12" else f" ({target.name}'s time: python -m digit51.firmware.measure.timing MODEL --target {target.name})"))
    print(f"wall time           {wall:.0f} s with {len(workers)} workers")
    return 0 if mism == 0 and bad == 0 and done == len(indices) else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel", help="integer model from `digit51 quantize`")
    options.add_data_option(p)
    options.add_images(p, 10000, help="how many test images, from index 0 (default 10000)", start=False)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel ucsim processes (default: one per core)")
    p.add_argument("--chunk", type=int, default=0, help="images per simulator run (default: as many as one self-test build holds)")
    p.add_argument("--mode", choices=tuple(MODES), default="selftest", help="firmware mode (default selftest)")
    options.add_kernel(p)
    options.add_target(p)
    a = p.parse_args(argv)
    return signals.run(lambda: run(a), "verify")


def worker_main(config: str) -> int:
    try:
        with signals.handled():
            return _worker(config)
    except KeyboardInterrupt as e:  # stopped by verify itself: its s51 and files are gone; verify speaks
        return signals.status(e)[0]


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[2]) if sys.argv[1:2] == ["--worker"] else main())
