"""Dense-layer cost on the 8051, measured in ucsim with Timer 0, for each kernel.

    python -m digit51.firmware.bench.kernel_bench --data ../shared/data/mnist

Dense kernels (asm, c): 196-H-10 models (random int8 weights: cycles do not depend on
their values beyond a rare carry) for two hidden sizes; prints the cycles per inference,
the all-in cycles per multiply-accumulate, and the marginal cost of one more MAC in a dense
layer (the slope between the two sizes, per-neuron work included).

Zero-skipping kernels (sparse-asm, sparse-c): cycles depend on how many inputs are
non-zero. 784-H-10 models whose hidden shifts of 31 make every hidden
activation 0 (so only the first layer's input varies) run crafted images with k non-zero
pixels. From c(H, k) = A + H*B + k*G + H*k*M:
  per non-zero MAC      M = the slope of cycles in H*k (chunk changes included);
  per skipped input     Z = the gather's cycles per input on the all-zero image (every input
                        of both layers is 0), from firmware/measure/profile.py (once per layer,
                        not per neuron);
  per neuron            B = the slope of the all-zero image's cycles in H, less Z (no MAC:
                        bias, requantization by a shift of 31, i.e. 7 one-bit shifts, the loop).

With --qmodel QMODEL it also runs that model on an all-255 image (every pooled input
non-zero: the worst case of a dense layer's input) and an all-zero image with the asm kernels.
Its all-zero image does no multiply-accumulate in the first layer with the sparse kernel
(later layers still see the biases' activations), reported in self-test and serve mode.
With --profile the cycles per digit over the first test images are split by function
(firmware/measure/profile.py), and the per-digit overhead outside the kernel's dot-product
routine (pooling, gathers, layer loops, requantization, argmax) is printed.
"""

from __future__ import annotations

from digit51.codegen.spec import BuildSpec

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from digit51.firmware import options
from digit51.firmware.host import pipeline
from digit51.firmware.measure import profile
from digit51.firmware.chips import targets
from digit51.quantize import model_file
from digit51.quantize.model_file import IntModel
from digit51.trainer import mnist

DENSE_KERNELS = ("asm", "c")
SPARSE_KERNELS = ("sparse-asm", "sparse-c")
NONZERO = (64, 192)
DOT = {"sparse-asm": "nz_layer"}  # the routine holding a kernel's dot products, where not `dense` (nz_layer: the whole layer)
GATHER = ("dense_begin", "nz_gather")  # the functions of the sparse kernels' gather  # non-zero first-layer inputs of the crafted images, all within the first 256


def random_model(hidden: int, seed: int = 0, n_in: int = 196, shift: int = 10) -> IntModel:
    rng = np.random.default_rng(seed)
    sizes = [n_in, hidden, 10]
    weights = [rng.integers(-127, 128, (o, i)).astype(np.int8) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-1000, 1000, o).astype(np.int32) for o in sizes[1:]]
    return IntModel(weights, biases, [np.full(hidden, shift, np.uint8)], {196: 2, 784: 1}[n_in])


def crafted(data: mnist.Mnist) -> mnist.Mnist:
    """Test set [all zero, NONZERO[0] pixels of 200, NONZERO[1] pixels of 200] (for pool 1)."""
    images = np.zeros((1 + len(NONZERO), 28 * 28), np.uint8)
    for row, k in enumerate(NONZERO, 1):
        images[row, :k] = 200
    return dataclasses.replace(data, test_images=images.reshape(-1, 28, 28), test_labels=np.zeros(len(images), np.uint8))


def run(model: IntModel, data, images: list[int], kernel: str, work: Path, mode: str = "selftest") -> list[int]:
    """Cycles of each image, checked bit-exact against the simulator."""
    r = pipeline.simulate_firmware(model, BuildSpec.of(model, targets.get("generic-8052"), mode, kernel), data, images, work, "kernel_bench", "socket")
    assert r.comparison.bit_exact, r.comparison.mismatches[:2]
    cycles = {p.img: p.cycles for p in r.predictions}
    return [cycles[i] for i in images]


def dense(data, n_images: int, work: Path) -> None:
    target = targets.get("generic-8052")
    sizes = (64, 128)
    for kernel in DENSE_KERNELS:
        cycles = {}
        for h in sizes:
            model = random_model(h)
            cycles[h] = (float(np.mean(run(model, data, list(range(n_images)), kernel, work / f"{kernel}-{h}"))), model.n_macs)
        (c0, m0), (c1, m1) = cycles[sizes[0]], cycles[sizes[1]]
        print(f"{kernel:>10} kernel: 196-{sizes[1]}-10 {c1:,.0f} cycles/inference = {c1 / m1:.1f} cycles/MAC all-in; "
              f"dense-layer cost {(c1 - c0) / (m1 - m0):.2f} cycles/MAC (196-{sizes[0]}-10 -> 196-{sizes[1]}-10); "
              f"{pipeline.seconds_per_digit(c1, target):.3f} s/digit; bit-exact")


def sparse(data, work: Path) -> None:
    hs = (16, 48)
    zero = crafted(data)
    (k1, k2), (h1, h2) = NONZERO, hs
    for kernel in SPARSE_KERNELS:
        c = {h: run(random_model(h, n_in=784, shift=31), zero, [0, 1, 2], kernel, work / f"{kernel}-{h}") for h in hs}
        per_mac = (c[h2][2] - c[h2][1] - c[h1][2] + c[h1][1]) / ((h2 - h1) * (k2 - k1))
        f, _ = profile.profile(random_model(h2, n_in=784, shift=31), targets.get("generic-8052"), zero, [0], kernel,
                               work / f"{kernel}-profile")
        per_skip = sum(f.get(name, 0) for name in GATHER) / (784 + h2)  # every input of both layers is 0
        per_neuron = (c[h2][0] - c[h1][0]) / (h2 - h1) - per_skip  # all-zero image: no MAC, one more input to layer 2
        print(f"{kernel:>10} kernel: {per_mac:.2f} cycles per non-zero MAC, {per_skip:.1f} cycles per skipped input "
              f"(once per layer, vs H MACs in a dense kernel), {per_neuron:.0f} cycles per neuron without MACs (bias, "
              f"requantization by a shift of 31, loop); 784-{h2}-10 with {k1} / {k2} non-zero inputs: "
              f"{c[h2][1]:,} / {c[h2][2]:,} cycles, all-zero image {c[h2][0]:,}; bit-exact")


def extremes(model: IntModel, data, work: Path) -> None:
    images = np.stack([np.full((28, 28), 255, np.uint8), np.zeros((28, 28), np.uint8)])
    both = dataclasses.replace(data, test_images=images, test_labels=np.zeros(2, np.uint8))
    name = model.name
    for kernel in ("asm", "sparse-asm"):
        full, empty = run(model, both, [0, 1], kernel, work / f"extremes-{kernel}")
        print(f"{kernel:>10} kernel: {name} all-255 image {full:,} cycles "
              f"({pipeline.seconds_per_digit(full, targets.get('generic-8052')):.3f} s), all-zero image {empty:,}; bit-exact")
    (served,) = run(model, both, [1], "sparse-asm", work / "overhead-serve", "serve")
    print(f"sparse-asm kernel: {name} all-zero image (no MAC in the first layer) {empty:,} cycles in self-test mode, "
          f"{served:,} in serve mode; bit-exact")


def functions(model: IntModel, data, work: Path, n: int = 20) -> None:
    cycles, kernel = profile.profile(model, targets.get("generic-8052"), data, list(range(n)), None, work / "profile")
    print(f"cycles per digit by function ({kernel} kernel, self-test, mean of test images 0..{n - 1}):")
    for f, c in sorted(cycles.items(), key=lambda kv: -kv[1]):
        print(f"{f:>24} {c:>10,.0f}")
    dot = DOT.get(kernel, "dense")
    print(f"{'total':>24} {sum(cycles.values()):>10,.0f}; outside the dot-product routine `{dot}`: "
          f"{sum(cycles.values()) - cycles.get(dot, 0):,.0f} per digit")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_data_option(p)
    options.add_images(p, 3, help="test images per dense measurement (default 3)", start=False)
    p.add_argument("--qmodel", metavar="QMODEL", help="also run this integer model on an all-255 and an all-zero image")
    p.add_argument("--only-qmodel", action="store_true", help="skip the random-model measurements")
    p.add_argument("--profile", action="store_true", help="with --qmodel: also the cycles per digit of each function")
    a = p.parse_args(argv)
    data = mnist.load(a.data)
    with tempfile.TemporaryDirectory(prefix="digit51-kbench-") as work:
        if not a.only_qmodel:
            dense(data, a.images, Path(work))
            sparse(data, Path(work))
        if a.qmodel:
            extremes(model_file.load(a.qmodel), data, Path(work))
            if a.profile:
                functions(model_file.load(a.qmodel), data, Path(work))


if __name__ == "__main__":
    import sys

    from digit51.firmware.sim import signals

    sys.exit(signals.run(main, "kernel_bench"))  # one line on an error or a signal; s51 and temp folders go
