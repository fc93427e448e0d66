"""Text art of a 28x28 image (what `digit51 monitor --show` draws beside each answer; its
CLI tests are in test_monitor.py)."""

import numpy as np

from digit51.firmware.app.textart import RAMP, text_art


def test_text_art_shape_and_levels():
    img = np.zeros((28, 28), np.uint8)
    img[4:8, 10:12] = 255
    img[20:22, :] = 128
    art = text_art(img)
    assert len(art) == 14 and all(len(r) == 28 for r in art)
    assert art[2][10:12] == art[3][10:12] == "@@" and art[2][9] == " "
    assert set(art[10]) == {RAMP[5]}  # 128 -> the middle of the ramp
    assert art[0] == " " * 28


def test_text_art_of_other_image_sizes():
    img = np.zeros((15, 12), np.uint8)
    img[14, :] = 255  # the odd last row, paired with a blank one: half the ink
    art = text_art(img)
    assert len(art) == 8 and all(len(r) == 12 for r in art)
    assert set(art[7]) == {RAMP[4]} and art[0] == " " * 12
