"""MNIST-style preprocessing of drawn or photographed digits (firmware/app/mnist_style.py)."""

import numpy as np
import pytest

from digit51.firmware.app.mnist_style import resize, rgba_to_grey, to_mnist


def test_mnist_test_images_come_back_as_they_are(mnist_data):
    """MNIST was made this way, so its own images are (nearly) fixed points."""
    imgs = mnist_data.test_images[:500]
    out = np.stack([to_mnist(im) for im in imgs])
    same = np.mean([np.array_equal(a, b) for a, b in zip(out, imgs)])
    assert same > 0.85, same
    assert np.abs(out.astype(int) - imgs).mean() < 0.05


def test_size_position_and_polarity_do_not_matter(mnist_data):
    """A digit drawn 3x larger, off-centre, dark on bright paper gives MNIST's 28x28 back."""
    close = 0
    for im in mnist_data.test_images[:50]:
        big = np.kron(im, np.ones((3, 3), np.uint8))
        paper = np.full((150, 200), 255, np.uint8)
        paper[10:94, 90:174] = 255 - big
        out = to_mnist(paper)
        close += np.abs(out.astype(int) - im).mean() < 3
    assert close >= 48


def test_layout_of_a_bar():
    """A tall thin bar: 20 rows high, centred on pixel 14 like MNIST's centre of mass."""
    img = np.zeros((100, 60), np.uint8)
    img[10:90, 30:38] = 200
    out = to_mnist(img)
    rows, cols = np.nonzero(out)
    assert rows.max() - rows.min() + 1 == 20
    assert cols.max() - cols.min() + 1 == 2
    ys, xs = np.indices(out.shape)
    m = out.sum()
    assert abs((ys * out).sum() / m - 14) <= 0.5 and abs((xs * out).sum() / m - 14) <= 0.5
    assert out.max() == 255  # the brightest ink becomes 255; the other levels keep their ratio


def test_grey_levels_are_kept():
    img = np.zeros((30, 30), np.uint8)
    img[5:25, 5:15], img[5:25, 15:25] = 100, 200
    out = to_mnist(img)
    levels = np.unique(out).tolist()  # 100/200 * 255 = 127.5 in the middle: not thresholded
    assert levels[0] == 0 and levels[-1] == 255 and len(levels) == 3 and levels[1] in (127, 128)


@pytest.mark.parametrize("picture", [np.zeros((280, 280), np.uint8), np.full((50, 40), 255, np.uint8),
                                     np.full((30, 30), 90, np.uint8), np.zeros((1, 1), np.uint8)])
def test_blank_pictures_have_no_digit(picture):
    assert to_mnist(picture) is None


def test_noisy_paper_is_not_ink():
    rng = np.random.default_rng(0)
    paper = rng.integers(235, 256, (120, 120)).astype(np.uint8)
    assert to_mnist(paper) is None
    paper[30:90, 55:62] = 20
    out = to_mnist(paper)
    assert out is not None and np.count_nonzero(out[:, :10]) == 0


def test_resize_averages_areas():
    a = np.arange(16, dtype=float).reshape(4, 4)
    assert np.array_equal(resize(a, 4, 4), a)
    assert np.allclose(resize(a, 2, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert np.allclose(resize(np.ones((3, 7)), 5, 2), 1)


def test_rgba_to_grey_uses_luma_weights():
    px = np.array([[[255, 255, 255, 255], [255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]], np.uint8)
    assert rgba_to_grey(px).tolist() == [[255, 76, 150, 29]]
    with pytest.raises(ValueError):
        rgba_to_grey(np.zeros((2, 2, 3), np.uint8))
