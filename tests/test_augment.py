"""Shift augmentation, checked on the pixels it moves: every output is its input moved by
some (dy, dx) within the limit with zero fill, every shift in the range occurs, and the
trainer really feeds shifted images to the gradient step when augment > 0."""

import numpy as np
import pytest

from digit51.trainer import mlp
from digit51.trainer.config import TrainConfig
from digit51.trainer.mnist import VALIDATION_SIZE, Mnist
from digit51.trainer.preprocess import pool, to_float
from digit51.trainer.train import fit, shift_images


def moved(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """img moved down dy and right dx rows/columns (negative: up/left), zeros shifted in."""
    out = np.zeros_like(img)
    out[max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = img[max(-dy, 0) : 28 - max(dy, 0), max(-dx, 0) : 28 - max(dx, 0)]
    return out


def pattern() -> np.ndarray:
    """Distinct non-zero pixels everywhere but a 4-pixel border: any two shifts differ."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 4:24] = np.arange(1, 401).reshape(20, 20) % 251 + 1
    return img


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_each_image_is_moved_by_a_shift_within_the_limit(limit):
    img = pattern()
    out = shift_images(np.repeat(img[None], 600, axis=0), limit, np.random.default_rng(limit))
    shifts = [(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)]
    seen = []
    for o in out:
        found = [s for s in shifts if np.array_equal(o, moved(img, *s))]
        assert len(found) == 1, "output is not the input moved within the limit"
        seen.append(found[0])
    assert set(seen) == set(shifts)  # every shift happens (600 draws; each has p >= 1/81)
    assert seen.count((0, 0)) < 2 * len(seen) / len(shifts)  # unmoved at the uniform rate (1/9 for limit 1), not more


def test_training_steps_see_shifted_images(monkeypatch):
    """All training images are one pattern; the first batch must hold moved copies of it."""
    img = pattern()
    n = VALIDATION_SIZE + 256
    data = Mnist(np.repeat(img[None], n, axis=0), np.zeros(n, np.uint8), img[None], np.zeros(1, np.uint8))
    batches = []

    class Seen(Exception):
        pass

    def spy(params, x, labels, *hooks):
        batches.append(x.copy())
        raise Seen

    monkeypatch.setattr(mlp, "loss_and_grads", spy)
    cfg = TrainConfig(hidden=(4,), pool=2, epochs=1, augment=1, batch_size=128)
    with pytest.raises(Seen):
        fit(mlp.init_params([196, 4, 10], np.random.default_rng(0)), data, cfg)
    (x,) = batches
    still = to_float(pool(img[None], 2))[0]
    candidates = {s: to_float(pool(moved(img, *s)[None], 2))[0].tobytes() for s in
                  [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]}
    assert all(row.tobytes() in candidates.values() for row in x)
    assert sum(np.array_equal(row, still) for row in x) < 0.25 * len(x)  # ~1/9 are unmoved
