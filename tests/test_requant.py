"""ops.relu_requant in SDCC + s51 on every edge its firmware version has: the shift done by
byte moves (shift & 16, shift & 8) then up to 7 one-bit shifts, the early saturation of a
value still >= 2^16 after the byte moves, shift 0 and shift 31, zero, negative and INT32
extreme accumulators. The first layer has zero weights, so each hidden accumulator is its
bias, whatever the image; the output layer's non-zero weights make every hidden value
visible in the logits, compared with the integer simulator bit for bit. Run for every
kernel (each has its own per-neuron path), both XRAM addressing variants of the
zero-skipping asm kernel, and both buffered modes."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
SHIFTS = (0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31)


def cases() -> list[tuple[int, int]]:
    """(accumulator, shift) pairs at each boundary of the result and of the shift steps."""
    out = []
    for s in SHIFTS:
        for acc in ((1 << s) - 1, 1 << s, (256 << s) - 1, 256 << s, (0x10000 << s) - 1, 0x10000 << s, I32_MAX, 0, -1, I32_MIN):
            if I32_MIN <= acc <= I32_MAX and (acc, s) not in out:
                out.append((acc, s))
    return out


def requant_model() -> IntModel:
    accs, shifts = zip(*cases())
    w0 = np.zeros((len(accs), 49), np.int8)
    w1 = np.random.default_rng(5).integers(1, 128, (10, len(accs))).astype(np.int8)
    w1[::2] *= -1
    return IntModel([w0, w1], [np.array(accs, np.int32), np.zeros(10, np.int32)], [np.array(shifts, np.uint8)], 4)


def images(mnist_data) -> np.ndarray:
    return np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8), mnist_data.test_images[0]])


def test_the_cases_reach_every_edge(mnist_data):
    """What the firmware runs below relies on, checked on the spec so it cannot silently weaken."""
    model = requant_model()
    hidden = simulate.activations(model, images(mnist_data))[1][0].astype(np.int64)
    acc, shift = model.biases[0].astype(np.int64), model.shifts[0].astype(np.int64)
    exact = np.where(acc > 0, acc >> shift, 0)
    assert (hidden[acc <= 0] == 0).all() and (acc < 0).any() and (acc == I32_MIN).any()
    assert ((exact == 255) & (hidden == 255)).any() and ((exact == 256) & (hidden == 255)).any()
    assert ((exact >= 0x10000) & (hidden == 255)).any() and ((exact == 0xFFFF) & (hidden == 255)).any()
    assert ((exact == 0) & (acc > 0)).any() and ((exact == 1) & (hidden == 1)).any()
    assert ((shift == 0) & (hidden > 0) & (hidden < 255)).any() and ((shift == 31) & (acc == I32_MAX)).any()


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel,mode,target", [("sparse-asm", "serve", "generic-8052"), ("sparse-asm", "serve", "n76e003"),
                                                ("sparse-c", "serve", "generic-8052"), ("asm", "serve", "generic-8052"),
                                                ("c", "serve", "generic-8052"), ("sparse-asm", "selftest", "n76e003")])
def test_requant_edges_are_bit_exact(mnist_data, tmp_path, kernel, mode, target):
    t = targets.get(target)
    data = dataclasses.replace(mnist_data, test_images=images(mnist_data), test_labels=np.zeros(3, np.uint8))
    r = pipeline.simulate_firmware(requant_model(), BuildSpec.of(requant_model(), t, mode, kernel), data, [0, 1, 2], tmp_path, "requant", link="socket")
    assert r.comparison.images == 3 and r.comparison.mismatches == [] and not r.bad_lines
    assert r.firmware[0].memory["xaddr"] == t.xaddr
