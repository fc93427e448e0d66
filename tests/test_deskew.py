"""Deskew (trainer/preprocess.py): what it does to images, that its integer arithmetic stays
within the widths the C uses, and that the firmware does the same, value for value, in
s51: an identity first layer copies every deskewed, pooled input into the hidden layer, so
one pixel off changes the logits. Each way the firmware reads the image is run: buffered
as it arrives (serve) and from code memory (self-test), in C (c kernel builds) and with the
assembly helpers (asm kernel builds)."""

import dataclasses

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.codegen.spec import STREAM_DESKEW
from digit51.firmware.host import pipeline
from digit51.firmware.chips import targets
from digit51.firmware.builder.fit import check_fit
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel
from digit51.trainer.config import TrainConfig
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import SLANT_ONE, Preprocess, deskew, ink_moments, slant

INT32 = 1 << 31


def stroke(slope: float, x0: float = 14.0, width: float = 1.5, rows=range(4, 24)) -> np.ndarray:
    """A straight anti-aliased stroke through (x0, 14) leaning `slope` pixels per row."""
    img = np.zeros((28, 28), np.float64)
    x = np.arange(28)
    for y in rows:
        img[y] = np.clip(width - np.abs(x - (x0 + slope * (y - 14))), 0, 1) * 255
    return np.rint(img).astype(np.uint8)


def extreme_images(mnist_data) -> np.ndarray:
    rng = np.random.default_rng(3)
    one = np.zeros((28, 28), np.uint8)
    one[27, 27] = 255  # one pixel: var >> 8 is 0, no slant
    corners = stroke(2.0, rows=range(8, 21))  # slant far past +1: clamped to 256, rows up to 6 from the centroid
    anti = np.fliplr(corners)  # and past -1
    edge = np.zeros((28, 28), np.uint8)
    edge[:, 27] = 255  # ink on the right border moves out of the row
    return np.stack([np.full((28, 28), 255, np.uint8), np.zeros((28, 28), np.uint8), one, corners, anti, edge,
                     stroke(0.6), stroke(-0.6), rng.integers(0, 256, (28, 28)).astype(np.uint8),
                     *mnist_data.test_images[:6]])


def test_a_slanted_stroke_comes_out_upright():
    for slope in (0.5, -0.5, 0.25):
        out = deskew(stroke(slope)[None])[0].astype(np.float64)
        cols = (out * np.arange(28)).sum(axis=1)[4:24] / out.sum(axis=1)[4:24]  # ink centre of each row
        before = (stroke(slope) * np.arange(28)).sum(axis=1)[4:24] / stroke(slope).sum(axis=1)[4:24]
        assert np.ptp(before) > 18 * abs(slope) and np.ptp(cols) < 1.0, (slope, np.ptp(cols))


def test_an_upright_image_and_an_empty_one_stay_as_they_are():
    upright = stroke(0.0)
    assert slant(*ink_moments(upright[None]))[1][0] == 0
    assert np.array_equal(deskew(upright[None])[0], upright)
    assert not deskew(np.zeros((1, 28, 28), np.uint8)).any()


def test_the_slant_is_the_ink_covariance_over_the_row_variance(mnist_data):
    """alpha / 256 against the float ratio of the central moments: equal up to the
    rounded centroid and the truncating division, far closer than a wrong term would be."""
    images = mnist_data.test_images[:500]
    my, alpha = slant(*ink_moments(images))
    p = images.astype(np.float64)
    y, x = np.mgrid[:28, :28]
    s = p.sum(axis=(1, 2))
    cy, cx = (p * y).sum(axis=(1, 2)) / s, (p * x).sum(axis=(1, 2)) / s
    cov = (p * (y - cy[:, None, None]) * (x - cx[:, None, None])).sum(axis=(1, 2))
    var = (p * (y - cy[:, None, None]) ** 2).sum(axis=(1, 2))
    want = np.clip(cov / var, -1, 1)
    assert np.abs(alpha / SLANT_ONE - want).max() < 0.03
    assert np.array_equal(my, np.floor(cy + 0.5).astype(int)) or np.abs(my - cy).max() <= 0.5 + 1e-9
    assert (alpha != 0).mean() > 0.9  # MNIST digits do lean


def test_every_term_of_the_slant_fits_int32(mnist_data):
    """The C evaluates slant's formulas left to right in int32_t: every term and partial sum
    must stay below 2^31, on the extremes and on real digits (Python ints: no wrap)."""
    for img in extreme_images(mnist_data):
        s, sy, syy, sx, syx = (int(v[0]) for v in ink_moments(img[None]))
        if s == 0:
            continue
        my, mx = (sy + s // 2) // s, (sx + s // 2) // s
        var_terms = [syy, 2 * my * sy, syy - 2 * my * sy, my * my * s, syy - 2 * my * sy + my * my * s]
        cov_terms = [syx, mx * sy, syx - mx * sy, my * sx, syx - mx * sy - my * sx, my * mx * s,
                     syx - mx * sy - my * sx + my * mx * s]
        assert all(-INT32 <= t < INT32 for t in var_terms + cov_terms + [sy + s // 2, sx + s // 2])
        assert 0 <= var_terms[-1] < 1 << 28 and abs(cov_terms[-1]) < 1 << 28
        alpha = slant(*(np.array([v]) for v in (s, sy, syy, sx, syx)))[1][0]
        assert abs(alpha) <= SLANT_ONE and abs(alpha * 27) < 1 << 15  # clamped; a row's move fits int16_t
        if abs(cov_terms[-1]) > var_terms[-1]:  # steeper than 45 degrees: the clamp
            assert abs(alpha) == SLANT_ONE
    clamped = [slant(*ink_moments(img[None]))[1][0] for img in extreme_images(mnist_data)[3:5]]
    assert clamped == [SLANT_ONE, -SLANT_ONE]  # the corner images: the clamp is exercised both ways


def identity_model(pool: int) -> IntModel:
    """Layer 0 copies every input to its own hidden neuron (weight 1, shift 0)."""
    n = (28 // pool) ** 2
    w1 = np.random.default_rng(pool).integers(-127, 128, (10, n)).astype(np.int8)
    return IntModel([np.eye(n, dtype=np.int8), w1], [np.zeros(n, np.int32), np.zeros(10, np.int32)],
                    [np.zeros(n, np.uint8)], pool, deskew=True)


@pytest.mark.toolchain
@pytest.mark.parametrize("pool,mode,kernel", [(2, "serve", "sparse-asm"), (2, "selftest", "sparse-asm"),
                                              (2, "serve", "c"), (2, "selftest", "c"), (4, "serve", "asm"),
                                              (4, "selftest", "sparse-c")])
def test_firmware_deskews_like_the_spec(mnist_data, tmp_path, pool, mode, kernel):
    model = identity_model(pool)
    images = extreme_images(mnist_data)
    hidden = simulate.activations(model, images)[1]
    assert np.array_equal(hidden, Preprocess(pool, True)(images))  # the hidden layer is the model input
    assert not np.array_equal(hidden, Preprocess(pool, False)(images))
    data = dataclasses.replace(mnist_data, test_images=images, test_labels=np.zeros(len(images), np.uint8))
    r = pipeline.simulate_firmware(model, BuildSpec.of(model, targets.get("generic-8052"), mode, kernel), data, list(range(len(images))), tmp_path, "deskew", link="socket")
    assert r.comparison.images == len(images) and r.comparison.mismatches == [] and not r.bad_lines


def test_stream_mode_and_small_xram_refuse_a_deskew_model():
    with pytest.raises(Digit51Error, match="deskew needs the whole image"):
        check_fit(BuildSpec(tuple([196, 13, 10]), 2, True, targets.get("at89s52"), "stream"))
    tiny = dataclasses.replace(targets.get("generic-8052"), xram=800)
    check_fit(BuildSpec(tuple([49, 16, 10]), 4, False, tiny, "serve"))
    with pytest.raises(Digit51Error, match="XRAM.*--no-deskew"):
        check_fit(BuildSpec(tuple([49, 16, 10]), 4, True, tiny, "serve"))
    assert "--no-deskew" in STREAM_DESKEW


def test_model_files_from_before_deskew_load_without_it(tmp_path):
    """Version 2 files (no deskew key) still load, as models without deskew."""
    from digit51.trainer import artifact
    from digit51.quantize import model_file

    assert TrainConfig.from_dict({"hidden": [8]}).deskew is False and TrainConfig().deskew is True
    model = identity_model(4)
    model_file.save(tmp_path / "d.q51", model)
    assert model_file.load(tmp_path / "d.q51").deskew is True
    meta, arrays = artifact.load(tmp_path / "d.q51", model_file.KIND, model_file.MLP_VERSION, "")
    del meta["deskew"]
    artifact.save(tmp_path / "old.q51", model_file.KIND, 2, meta, arrays)  # what digit51 wrote before deskew
    assert model_file.load(tmp_path / "old.q51").deskew is False
    assert model_file.MLP_VERSION == 3  # a reader of version 2 refuses deskew models instead of ignoring the flag (graphs: 4)
