"""The firmware's streamed pooling (pool.inc.j2) against ops.pool, seen directly: the
first layer copies 49 pooled values unchanged into the hidden layer (weight 1, shift 0),
so any pooled value that differs by one changes the logits. Random pixels give block
sums with every remainder, including the ties that round up."""

import numpy as np
import pytest

from digit51.firmware import run, targets
from digit51.firmware.build import build
from digit51.firmware.session import Session
from digit51.firmware.ucsim import Ucsim
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

HIDDEN = 49


def copy_model(pool: int) -> IntModel:
    n_in = (28 // pool) ** 2
    w0 = np.zeros((HIDDEN, n_in), np.int8)
    w0[np.arange(HIDDEN), np.arange(HIDDEN) * (n_in // HIDDEN)] = 1  # hidden j = pooled input j * step
    w1 = np.random.default_rng(pool).integers(-127, 128, (10, HIDDEN)).astype(np.int8)
    return IntModel([w0, w1], [np.zeros(HIDDEN, np.int32), np.zeros(10, np.int32)], [np.zeros(HIDDEN, np.uint8)], pool)


@pytest.mark.parametrize("pool", [2, 4])
def test_firmware_pooling_rounds_like_the_spec(mnist_data, tmp_path, pool):
    model = copy_model(pool)
    images = np.concatenate([np.random.default_rng(9).integers(0, 256, (2, 28, 28)).astype(np.uint8), mnist_data.test_images[:1]])
    hidden = simulate.activations(model, images)[1]
    k2 = pool * pool
    sums = images.reshape(3, 28 // pool, pool, 28 // pool, pool).sum(axis=(2, 4)).reshape(3, -1)
    picked = sums[:, np.arange(HIDDEN) * ((28 // pool) ** 2 // HIDDEN)]
    assert np.array_equal(hidden, (picked + k2 // 2) // k2)  # the hidden layer is the pooled input
    assert (picked[:2] % k2 == k2 // 2).any()  # a tie that rounds up is among them
    target = targets.get("generic-8052")
    fw = build(model, target, tmp_path / "fw", "serve", "pool")
    with Ucsim(fw.ihx, target, "socket") as sim:
        outcome = run.serve(Session(sim.port), [0, 1, 2], images, 60)
    logits, _ = simulate.run(model, images)
    assert run.compare(outcome, [0, 1, 2], logits, np.zeros(3, np.uint8)).mismatches == []
