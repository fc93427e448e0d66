"""Dense-layer cost on the 8051, measured in ucsim with Timer 0, for each kernel.

    python -m digit51.firmware.kernel_bench --data ../shared/data/mnist

Builds 196-H-10 models (random int8 weights: cycles do not depend on their values beyond
a rare carry) for two hidden sizes and prints, per kernel, the cycles per inference, the
all-in cycles per multiply-accumulate, and the marginal cost of one more MAC in a dense
layer (the slope between the two sizes, per-neuron work included).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from digit51.codegen.render import KERNELS
from digit51.firmware import pipeline, targets
from digit51.quantize.model_file import IntModel
from digit51.trainer import mnist


def random_model(hidden: int, seed: int = 0) -> IntModel:
    rng = np.random.default_rng(seed)
    sizes = [196, hidden, 10]
    weights = [rng.integers(-127, 128, (o, i)).astype(np.int8) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-1000, 1000, o).astype(np.int32) for o in sizes[1:]]
    return IntModel(weights, biases, [np.full(hidden, 10, np.uint8)], 2)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", metavar="DIR", help="MNIST folder")
    p.add_argument("--images", type=int, default=3, help="test images per measurement")
    a = p.parse_args(argv)
    data = mnist.load(a.data)
    target = targets.get("generic-8052")
    sizes = (64, 128)
    with tempfile.TemporaryDirectory(prefix="digit51-kbench-") as work:
        for kernel in sorted(KERNELS):
            cycles = {}
            for h in sizes:
                model = random_model(h)
                r = pipeline.simulate_firmware(model, target, data, list(range(a.images)), "selftest", "socket",
                                               Path(work) / f"{kernel}-{h}", "kernel_bench", kernel)
                assert r.comparison.bit_exact, r.comparison.mismatches[:2]
                cycles[h] = (r.comparison.mean_cycles, model.n_macs)
            (c0, m0), (c1, m1) = cycles[sizes[0]], cycles[sizes[1]]
            print(f"{kernel:>3} kernel: 196-{sizes[1]}-10 {c1:,.0f} cycles/inference = {c1 / m1:.1f} cycles/MAC all-in; "
                  f"dense-layer cost {(c1 - c0) / (m1 - m0):.2f} cycles/MAC (196-{sizes[0]}-10 -> 196-{sizes[1]}-10); "
                  f"{pipeline.seconds_per_digit(c1, target):.3f} s/digit; bit-exact")


if __name__ == "__main__":
    main()
