"""Shift augmentation, checked on the pixels it moves: every output is its input moved by
some (dy, dx) within the limit with zero fill, every shift in the range occurs, and the
trainer really feeds shifted images to the gradient step when augment > 0. Then the
random affine and elastic distortion (trainer/augment.py), checked the same way."""

import numpy as np
import pytest

from digit51.trainer import augment, mlp
from digit51.trainer.augment import Distortion, distort
from digit51.trainer.config import TrainConfig
from digit51.trainer.mnist import VALIDATION_SIZE, Mnist
from digit51.trainer.preprocess import pool, to_float
from digit51.trainer.train import batch_images, fit, shift_images


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

    def spy(params, x, labels, *hooks, **loss):
        batches.append(x.copy())
        raise Seen

    monkeypatch.setattr(mlp, "loss_and_grads", spy)
    cfg = TrainConfig(hidden=(4,), pool=2, epochs=1, augment=1, batch_size=128, deskew=False)
    with pytest.raises(Seen):
        fit(mlp.init_params([196, 4, 10], np.random.default_rng(0)), data, cfg)
    (x,) = batches
    still = to_float(pool(img[None], 2))[0]
    candidates = {s: to_float(pool(moved(img, *s)[None], 2))[0].tobytes() for s in
                  [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]}
    assert all(row.tobytes() in candidates.values() for row in x)
    assert sum(np.array_equal(row, still) for row in x) < 0.25 * len(x)  # ~1/9 are unmoved


def dot(r, c, side=28):
    img = np.zeros((1, side, side), np.uint8)
    img[0, r, c] = 200
    return img


def shifted(img, dr, dc):
    """Sample `img` at every pixel + (dr, dc)."""
    r, c = np.meshgrid(np.arange(28) + dr, np.arange(28) + dc, indexing="ij")
    return augment.bilinear(img, r[None], c[None])


def test_identity_keeps_every_pixel():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    assert np.array_equal(distort(imgs, Distortion(), rng), imgs)


def test_translation_moves_pixels_by_whole_and_half_steps():
    img = dot(10, 20)
    out = shifted(img, -2.0, 3.0)
    (r,), (c,) = np.nonzero(out[0])
    assert (r, c) == (12, 17) and out[0, r, c] == 200  # sample at p + (-2, 3): content moves by (2, -3)
    half = shifted(img, 0.5, 0.0)
    assert half[0, 9, 20] == half[0, 10, 20] == 100 and half.sum() == 200


def test_rotation_by_90_degrees_turns_the_image():
    img = dot(4, 13)  # 9.5 rows above and 0.5 columns left of the centre (13.5, 13.5)
    m = np.array([[[0.0, -1.0], [1.0, 0.0]]])
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28), indexing="ij"), 0) - augment.CENTRE
    src = np.einsum("nij,jhw->nihw", m, grid) + augment.CENTRE
    turned = augment.bilinear(img, src[:, 0], src[:, 1])
    assert np.argwhere(turned[0] > 0).tolist() == [[13, 23]] and turned[0, 13, 23] == 200  # a quarter turn


def test_content_outside_falls_off_and_nothing_comes_in():
    img = np.full((1, 28, 28), 255, np.uint8)
    assert shifted(img, 0.0, -30.0).max() == 0  # sampled entirely left of the image
    assert shifted(img, 40.5, 0.0).max() == 0  # and below it
    edge = shifted(img, 0.0, -0.5)[0]
    assert (edge[:, 0] == 127.5).all() and (edge[:, 1:] == 255).all()  # half a zero pixel blended in


def test_zoom_and_shear_keep_the_centre_and_move_the_rest():
    rng = np.random.default_rng(2)
    imgs = np.zeros((64, 28, 28), np.uint8)
    imgs[:, 13:15, 13:15] = 255  # the centre block stays put under rotation, zoom and shear
    imgs[:, 2, 2] = 255  # a corner pixel moves
    out = distort(imgs, Distortion(rotate=20, scale=0.2, shear=0.3), rng)
    assert (out[:, 13:15, 13:15] > 100).all()
    assert (out[:, 2, 2] < 255).sum() >= 60


def test_same_seed_same_images_and_batched_equals_one_by_one():
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    d = Distortion(rotate=10, scale=0.1, shear=0.1, translate=2, elastic_alpha=20)
    a = distort(imgs, d, np.random.default_rng(7))
    assert np.array_equal(a, distort(imgs, d, np.random.default_rng(7)))
    assert not np.array_equal(a, distort(imgs, d, np.random.default_rng(8)))
    # one vectorised call equals the same maps applied image by image
    rng = np.random.default_rng(7)
    m, t = augment.affine_maps(6, d, rng)
    field = augment.elastic_field(6, d.elastic_alpha, d.elastic_sigma, rng)
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28), indexing="ij"), 0) - augment.CENTRE
    for i in range(6):
        src = m[i] @ grid.reshape(2, -1) + augment.CENTRE - t[i][:, None]
        src = src.reshape(2, 28, 28) + field[i]
        one = augment.bilinear(imgs[i : i + 1], src[0][None], src[1][None])
        assert np.array_equal(np.clip(np.floor(one + 0.5), 0, 255).astype(np.uint8)[0], a[i])


def test_elastic_field_is_smooth_and_scaled():
    f = augment.elastic_field(200, 34.0, 4.0, np.random.default_rng(4))
    assert f.shape == (200, 2, 28, 28)
    assert 0.3 < np.abs(f).mean() < 5  # pixels, as in Simard et al.
    assert np.abs(np.diff(f, axis=-1)).mean() < 0.25 * np.abs(f).mean()  # neighbours move together


def test_training_batches_use_the_configured_distortion():
    rng = np.random.default_rng(5)
    imgs = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    assert np.array_equal(batch_images(imgs, TrainConfig(augment=0), rng), imgs)
    assert np.array_equal(batch_images(imgs, TrainConfig(augment=0, rotate=10), rng), imgs)  # 0: all off
    assert not np.array_equal(batch_images(imgs, TrainConfig(augment=1, rotate=10), rng), imgs)
    with pytest.raises(ValueError, match="distortion ranges"):
        TrainConfig(rotate=100)


def test_training_batches_are_the_configured_distortion_not_a_shift():
    """A distortion range set (rotate 10) gives exactly augment.distort's images for the same
    random stream; the whole-pixel shift of plain --augment is something else."""
    imgs = np.random.default_rng(6).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    cfg = TrainConfig(augment=1, rotate=10)
    got = batch_images(imgs, cfg, np.random.default_rng(8))
    assert np.array_equal(got, distort(imgs, Distortion(rotate=10), np.random.default_rng(8)))
    assert not np.array_equal(got, shift_images(imgs, 1, np.random.default_rng(8)))


def test_distillation_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    logits, teacher = rng.standard_normal((4, 10)), rng.standard_normal((4, 10))
    labels = rng.integers(0, 10, 4)
    _, g = mlp.distill_xent(logits, labels, teacher, 0.7, 3.0)
    eps = 1e-6
    for i in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[i] += eps
        down[i] -= eps
        num = (mlp.distill_xent(up, labels, teacher, 0.7, 3.0)[0] - mlp.distill_xent(down, labels, teacher, 0.7, 3.0)[0]) / (2 * eps)
        assert g[i] == pytest.approx(num, rel=1e-5, abs=1e-8)
