"""The kernels (dense and zero-skipping, asm and C; the asm ones in both XRAM addressing variants) in SDCC + s51 on crafted inputs that no MNIST image
reaches: the asm kernel's unsigned 32-bit sum carried into its top byte (past 2^24), the
offset subtraction wrapping that sum past 2^31, int32 logits that wrap like C, saturated
activations, and logits tied by construction (C argmax must keep the first maximum).
Every logit is compared with the integer simulator (the spec), bit for bit."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
N = 784  # pool 1: the longest possible dot product of the first layer
SHIFT = 17


def extreme_model() -> IntModel:
    """784-2-10. Neuron 0 has every weight +127 (stored 255 by the asm kernel), neuron 1
    every weight -127 (stored 1). Output rows 0 and 1 have biases 19,050 and 25,400 away
    from the int32 limits; rows 3 and 7 are identical, so their logits always tie; row 9
    is the constant INT32_MIN (a C literal that needs care)."""
    w0 = np.zeros((2, N), np.int8)
    w0[0], w0[1] = 127, -127
    b0 = np.array([0, 127 * 255 * N + 100 * 2**SHIFT], np.int32)
    w1 = np.array([[2 * k, -k] for k in range(10)], np.int8)
    w1[0], w1[1], w1[3], w1[7], w1[9] = (127, 0), (0, -127), (1, 1), (1, 1), (0, 0)
    b1 = np.zeros(10, np.int32)
    b1[0], b1[1], b1[3], b1[7], b1[9] = I32_MAX - 127 * 150, I32_MIN + 127 * 200, 1_000_000, 1_000_000, I32_MIN
    return IntModel([w0, w1], [b0, b1], [np.full(2, SHIFT, np.uint8)], 1)


def extreme_images(mnist_data) -> np.ndarray:
    full = np.full((28, 28), 255, np.uint8)
    half = full.copy()
    half[14:] = 0
    return np.stack([full, np.zeros((28, 28), np.uint8), half, mnist_data.test_images[0], mnist_data.test_images[1]])


def test_the_crafted_inputs_reach_the_extremes(mnist_data):
    """What the firmware test below relies on, checked on the spec so it cannot silently weaken."""
    model, images = extreme_model(), extreme_images(mnist_data)
    x = images.reshape(len(images), -1).astype(np.int64)
    stored = model.weights[0].astype(np.int64) + 128  # what the asm kernel multiplies
    dot = x @ stored.T  # the kernel's unsigned sum (dot_acc), per image and neuron
    offset = 128 * x.sum(axis=1, keepdims=True)  # x_offset
    assert dot[0, 0] == 255 * 255 * N > 2**25  # carries into byte 3 (`inc r5`) of dot_acc
    assert (dot[0, 1] - offset[0, 0]) % 2**32 >= 2**31  # dot_acc - x_offset wraps past 2^31
    hidden, logits = simulate.activations(model, images)[1:]
    assert hidden[0].tolist() == [193, 100] and hidden[1].tolist() == [0, 255]  # 255: saturated
    # int32 wrap of bias + sum, both ways: row 0 of image 0 and row 1 of image 1
    exact = hidden.astype(np.int64) @ model.weights[1].T.astype(np.int64) + model.biases[1]
    assert exact[0, 0] > I32_MAX and exact[1, 1] < I32_MIN
    assert logits[0, 0] < 0 < logits[1, 1] and (logits[:, 9] == I32_MIN).all()
    # image 0: the maximum is tied between rows 3 and 7; the first one wins
    assert logits[0, 3] == logits[0, 7] == logits[0].max() and simulate.run(model, images[:1])[1][0] == 3


GENERIC = targets.get("generic-8052")
DPTR = dataclasses.replace(GENERIC, xaddr="dptr", xpage_sfr="")  # the N76E003 / EFM8 addressing, run on an 8052 in s51


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel, target", [("asm", GENERIC), ("c", GENERIC), ("sparse-asm", GENERIC), ("sparse-c", GENERIC),
                                            ("asm", DPTR), ("sparse-asm", DPTR)],
                         ids=["asm", "c", "sparse-asm", "sparse-c", "asm-dptr", "sparse-asm-dptr"])
def test_kernels_on_extreme_sums_wraps_and_ties_are_bit_exact(mnist_data, tmp_path, kernel, target):
    model, images = extreme_model(), extreme_images(mnist_data)
    fw = build(model, BuildSpec.of(model, target, "serve", kernel), tmp_path / kernel, "extreme")
    assert fw.memory["xaddr"] == target.xaddr
    indices = list(range(len(images)))
    with Ucsim(fw.ihx, target, "socket") as sim:
        outcome = run.serve(Session(sim.port), indices, images, 60)
    logits, pred = simulate.run(model, images)
    comparison = run.compare(outcome, indices, logits, np.zeros(len(images), np.uint8))
    assert comparison.mismatches == [] and not outcome.bad_lines and not outcome.frame_errors
    assert [p.digit for p in outcome.predictions] == pred.tolist()
    assert outcome.predictions[0].digit == 3  # the tie at rows 3 and 7: C's strict `>` keeps 3
