"""The firmware's pooling against ops.pool, seen directly: the first layer copies 49
pooled values unchanged into the hidden layer (weight 1, shift 0), so any pooled value
that differs by one changes the logits. Random pixels give block sums with every
remainder, including the ties that round up. Each way the firmware pools is run: pixel by
pixel as they arrive (serve: pool_pixel) and a whole image from code memory (self-test:
pool_image), each in C (c kernel builds) and in assembly (asm kernel builds)."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

HIDDEN = 49


def copy_model(pool: int) -> IntModel:
    n_in = (28 // pool) ** 2
    w0 = np.zeros((HIDDEN, n_in), np.int8)
    w0[np.arange(HIDDEN), np.arange(HIDDEN) * (n_in // HIDDEN)] = 1  # hidden j = pooled input j * step
    w1 = np.random.default_rng(pool).integers(-127, 128, (10, HIDDEN)).astype(np.int8)
    return IntModel([w0, w1], [np.zeros(HIDDEN, np.int32), np.zeros(10, np.int32)], [np.zeros(HIDDEN, np.uint8)], pool)


@pytest.mark.parametrize("pool,mode,kernel", [(2, "serve", "sparse-asm"), (4, "serve", "sparse-asm"), (2, "serve", "c"),
                                              (4, "serve", "c"), (2, "selftest", "sparse-asm"), (4, "selftest", "sparse-asm"),
                                              (2, "selftest", "c"), (4, "selftest", "c"), (1, "selftest", "sparse-asm")])
def test_firmware_pooling_rounds_like_the_spec(mnist_data, tmp_path, pool, mode, kernel):
    model = copy_model(pool)
    images = np.concatenate([np.random.default_rng(9).integers(0, 256, (2, 28, 28)).astype(np.uint8), mnist_data.test_images[:1]])
    hidden = simulate.activations(model, images)[1]
    k2 = pool * pool
    sums = images.reshape(3, 28 // pool, pool, 28 // pool, pool).sum(axis=(2, 4)).reshape(3, -1)
    picked = sums[:, np.arange(HIDDEN) * ((28 // pool) ** 2 // HIDDEN)]
    assert np.array_equal(hidden, (picked + k2 // 2) // k2)  # the hidden layer is the pooled input
    if pool > 1:
        assert (picked[:2] % k2 == k2 // 2).any()  # a tie that rounds up is among them
    data = dataclasses.replace(mnist_data, test_images=images, test_labels=np.zeros(3, np.uint8))
    r = pipeline.simulate_firmware(model, BuildSpec.of(model, targets.get("generic-8052"), mode, kernel), data, [0, 1, 2], tmp_path, "pool", link="socket")
    assert r.comparison.images == 3 and r.comparison.mismatches == [] and not r.bad_lines
