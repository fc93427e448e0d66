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
from digit51.quantize import ops, simulate
from digit51.quantize.model_file import IntModel
from digit51.trainer import arch

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


def calibrated(graph: str, input_shape, ws: list, biases: list, fixed: list, images) -> IntModel:
    """The model of `graph` with shifts that spread each channel's outputs over 0..255 on
    `images` (the 99th percentile of its positive sums at about 200), or fixed[layer][o] where
    that is not None: every layer passes on what it got, so the dense at the end sees a
    wrong value anywhere before it."""
    x, shifts, layer = images[:, None], [], 0
    for L in arch.parse(graph)[:-1]:
        if L.kind == "maxpool2":
            x = ops.maxpool2(x)
            continue
        acc = simulate.weighted_op(L.kind, x, ws[layer], biases[layer])
        sh = []
        for o, f in enumerate(fixed[layer]):
            pos = acc[:, o][acc[:, o] > 0]
            top = float(np.percentile(pos, 99)) if pos.size else 1.0
            sh.append(f if f is not None else max(0, int(np.ceil(np.log2(max(top, 200.0) / 200.0)))))
        shifts.append(np.array(sh, np.uint8))
        x = ops.relu_requant(acc, shifts[-1])
        layer += 1
    return IntModel(ws, biases, shifts, 1, graph=graph, input_shape=input_shape)


def conv_model(images) -> IntModel:
    """conv3x3:4 (c_in 1), maxpool2, conv3x3:5 (c_in 4), dwconv3x3, conv1x1:4, dense:10 on 28x28;
    one channel of each conv at a byte-carry edge of its bias (0xFFFFF9 with shift 17 adds
    into byte 3; -0xFFFFF0, -65531 borrow from it)."""
    rng = np.random.default_rng(7)
    w0 = weights(rng, (4, 1, 3, 3))
    w0[0, 0, 1] = 0  # a kernel row of three zero taps
    w1 = weights(rng, (5, 4, 3, 3))
    w1[2, 1] = 0  # a whole input channel without weights
    w2, w3, w4 = weights(rng, (5, 3, 3)), weights(rng, (4, 5)), weights(rng, (10, 4 * 9 * 9))
    biases = [np.array([65533, -65531, 0xFFFFF9, -200], np.int32), np.array([-0xFFFFF0, 3000, 0x10000, 40000, 0], np.int32),
              np.array([-300, 40000, 0xFFF0, 10, -7000], np.int32), np.array([40000, -100, 0x7FFF, 0x18000], np.int32),
              np.zeros(10, np.int32)]
    fixed = [[None, None, 17, None], [20, None, None, None, None], [None] * 5, [None] * 4]
    return calibrated("conv3x3:4,maxpool2,conv3x3:5,dwconv3x3,conv1x1:4,dense:10", (28, 28), [w0, w1, w2, w3, w4], biases, fixed, images)


def conv_images(mnist_data) -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (28, 28)).astype(np.uint8)
    blobs = np.where(rng.random((28, 28)) < 0.3, rng.integers(1, 256, (28, 28)), 0).astype(np.uint8)
    return np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8), noise, blobs, *mnist_data.test_images[:2]])


def pool_model(graph: str, shape) -> IntModel:
    """`graph` on `shape` images, its conv1x1 passing the image on (k = 1) and inverted (255 - x)."""
    rng = np.random.default_rng(11)
    layers = graph.split(",")
    ws, biases, shifts = [], [], []
    if layers[0] == "conv1x1:2":
        ws, biases, shifts = [np.array([[1], [-1]], np.int8)], [np.array([0, 255], np.int32)], [np.zeros(2, np.uint8)]
    flat = int(np.prod(arch.shapes(arch.parse(graph), *shape)[-2]))
    ws.append(rng.integers(-127, 128, (10, flat)).astype(np.int8))
    biases.append(np.zeros(10, np.int32))
    return IntModel(ws, biases, shifts, 1, graph=graph, input_shape=shape)


def pool_images(shape) -> np.ndarray:
    rng = np.random.default_rng(13)
    return np.stack([rng.integers(0, 256, shape), np.where(rng.random(shape) < 0.5, rng.integers(0, 256, shape), 0),
                     np.full(shape, 255)]).astype(np.uint8)


POOLS = [("maxpool2,dense:10", (27, 25)), ("conv1x1:2,avgpool2,dense:10", (27, 29)), ("conv1x1:2,avgpool8,dense:10", (34, 19))]


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
    images = conv_images(mnist_data)
    acts = simulate.activations(conv_model(images), images)
    for a in acts[1:-1]:  # the channels of every map layer vary (but a bias edge's): the dense sees their errors
        assert sum(np.unique(a[:, c]).size > 2 for c in range(a.shape[1])) >= a.shape[1] - 1
        assert (a == 0).any() and ((a > 0) & (a < 255)).mean() > 0.2
    for graph, shape in POOLS:
        assert len(np.unique(simulate.activations(pool_model(graph, shape), pool_images(shape))[-2])) > 20


def run(model, images, mnist_data, kernel, target, tmp_path):
    t = targets.get(target)
    data = dataclasses.replace(mnist_data, test_images=images, test_labels=np.zeros(len(images), np.uint8))
    r = pipeline.simulate_firmware(model, BuildSpec.of(model, t, "serve", kernel), data, list(range(len(images))), tmp_path, "maps", link="socket")
    assert r.firmware[0].memory["xaddr"] == t.xaddr
    return r


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
    r = run(conv_model(images), images, mnist_data, kernel, target, tmp_path)
    assert r.comparison.images == len(images) and r.comparison.mismatches == [] and not r.bad_lines


@pytest.mark.toolchain
@pytest.mark.parametrize("kernel,target", KERNELS)
@pytest.mark.parametrize("graph,shape", POOLS)
def test_pooling_is_bit_exact_on_odd_sides(mnist_data, tmp_path, kernel, target, graph, shape):
    images = pool_images(shape)
    r = run(pool_model(graph, shape), images, mnist_data, kernel, target, tmp_path)
    assert r.comparison.images == len(images) and r.comparison.mismatches == [] and not r.bad_lines
