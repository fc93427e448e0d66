"""The map kernels (codegen/templates/kernels/map/) in SDCC + s51 against the integer simulator,
on graphs built to reach their edges rather than trained ones.

Requantization: a conv1x1 with zero weights leaves each output channel at its bias, one
(accumulator, shift) case per channel, every shift 0..31 (each of map_requant's four loops,
by shift / 8) at the edges of its result; the dense layer after it makes every value visible
in the logits. Convolution sums: every layer kind of the map kernels (conv3x3 on one and on
several channels, maxpool2, dwconv3x3, conv1x1, avgpool2) with int8 weights at the extremes,
zero taps and zero kernel rows, biases at byte-carry edges (0xFFFFF9, -65531, ...) and images
of zeros, of 255 (three products past 65535), noise and MNIST digits: the 24-bit tap sums,
every carry and borrow of row_acc, rows crossing XRAM pages, runs of zero inputs. Run for
each map kernel on a MOVX @Ri/P2 chip and the asm one on a MOVX @DPTR one."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.chips import targets
from digit51.firmware.host import pipeline
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
KERNELS = [("sparse-asm", "generic-8052"), ("asm", "generic-8052"), ("c", "generic-8052"), ("asm", "stc8h8k64u")]


def requant_cases() -> list[tuple[int, int]]:
    """(accumulator, shift): each shift at the edges of its result (1, 254/255, 255/256 and the
    16-bit saturation after shift // 8 byte moves), negative values, the int32 extremes."""
    out = [(I32_MAX, 31), (I32_MIN, 0), (0, 0), (I32_MAX, 8), (I32_MIN, 17), (I32_MAX, 0)]
    for s in range(32):
        low = (1 << s) - 1  # bits the shift drops
        for acc in (1 << s, (0xA5 << s) | low, (256 << s) - 1, 256 << s, (0x10000 << s) - 1, I32_MAX, -1 - 12345 * s):
            if I32_MIN <= acc <= I32_MAX and (acc, s) not in out:
                out.append((acc, s))
    return out


def requant_model() -> IntModel:
    accs, shifts = zip(*requant_cases())
    n = len(accs)
    w1 = np.random.default_rng(5).integers(1, 128, (10, 4 * n)).astype(np.int8)
    w1[::2] *= -1
    return IntModel([np.zeros((n, 1), np.int8), w1], [np.array(accs, np.int32), np.zeros(10, np.int32)],
                    [np.array(shifts, np.uint8)], 1, graph=f"conv1x1:{n},dense:10", input_shape=(2, 2))


def weights(rng, shape) -> np.ndarray:
    w = rng.integers(-127, 128, shape)
    w[rng.random(shape) < 0.2] = 0
    w[rng.random(shape) < 0.1] = 127
    w[rng.random(shape) < 0.1] = -127
    return w.astype(np.int8)


def conv_model() -> IntModel:
    """conv3x3:4 (c_in 1), maxpool2, conv3x3:5 (c_in 4), dwconv3x3, conv1x1:4, avgpool2, dense:10 on 28x28."""
    rng = np.random.default_rng(7)
    w0 = weights(rng, (4, 1, 3, 3))
    w0[0, 0, 1] = 0  # a kernel row of three zero taps
    w1 = weights(rng, (5, 4, 3, 3))
    w1[2, 1] = 0  # a whole input channel without weights
    w2, w3, w4 = weights(rng, (5, 3, 3)), weights(rng, (4, 5)), weights(rng, (10, 64))
    biases = [np.array([65533, -65531, 0xFFFFF9, -200], np.int32), np.array([-0xFFFFF0, 3000, 0x10000, -0x10000, 0], np.int32),
              np.array([-300, 40000, 0xFFF0, 10, -70000], np.int32), np.array([100, -100, 0x7FFF, -0x8000], np.int32),
              np.zeros(10, np.int32)]
    shifts = [np.array([9, 8, 17, 7], np.uint8), np.array([14, 13, 12, 11, 12], np.uint8),
              np.array([9, 10, 8, 9, 11], np.uint8), np.array([7, 6, 9, 8], np.uint8)]
    return IntModel([w0, w1, w2, w3, w4], biases, shifts, 1,
                    graph="conv3x3:4,maxpool2,conv3x3:5,dwconv3x3,conv1x1:4,avgpool2,dense:10", input_shape=(28, 28))


def conv_images(mnist_data) -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (28, 28)).astype(np.uint8)
    blobs = np.where(rng.random((28, 28)) < 0.3, rng.integers(1, 256, (28, 28)), 0).astype(np.uint8)
    return np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8), noise, blobs, *mnist_data.test_images[:2]])


def test_the_cases_reach_every_edge(mnist_data):
    """What the firmware runs below relies on, checked on the spec so it cannot silently weaken."""
    model = requant_model()
    hidden = simulate.activations(model, np.zeros((1, 2, 2), np.uint8))[1][0, :, 0, 0].astype(np.int64)
    acc, shift = model.biases[0].astype(np.int64), model.shifts[0].astype(np.int64)
    exact = np.where(acc > 0, acc >> shift, 0)
    assert set(shift.tolist()) == set(range(32)) and (acc == I32_MIN).any()
    for q in range(4):
        mine = shift // 8 == q
        assert ((exact == 1) & mine).any() and ((acc < 0) & mine).any() and ((exact > 1) & (exact < 255) & mine).any()
        if q < 3:  # from shift 24 on, int32 values stay under 256 << shift
            assert ((exact == 255) & mine).any() and ((exact == 256) & (hidden == 255) & mine).any()
    conv = conv_model()
    acts = simulate.activations(conv, conv_images(mnist_data))
    for a in acts[1:-1]:  # every map layer's output has zeros and middle values
        assert (a == 0).any() and ((a > 0) & (a < 255)).mean() > 0.05
    assert (acts[1] == 255).any() and (acts[4] == 255).any()


def run(model, images, mnist_data, kernel, target, tmp_path):
    t = targets.get(target)
    data = dataclasses.replace(mnist_data, test_images=images, test_labels=np.zeros(len(images), np.uint8))
    return pipeline.simulate_firmware(model, BuildSpec.of(model, t, "serve", kernel), data, list(range(len(images))), tmp_path, "maps", link="socket")


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel,target", KERNELS)
def test_map_requant_edges_are_bit_exact(mnist_data, tmp_path, kernel, target):
    images = np.stack([np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8)])
    r = run(requant_model(), images, mnist_data, kernel, target, tmp_path)
    assert r.comparison.images == 2 and r.comparison.mismatches == [] and not r.bad_lines


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel,target", KERNELS)
def test_map_layers_are_bit_exact_at_their_edges(mnist_data, tmp_path, kernel, target):
    images = conv_images(mnist_data)
    r = run(conv_model(), images, mnist_data, kernel, target, tmp_path)
    assert r.comparison.images == len(images) and r.comparison.mismatches == [] and not r.bad_lines
