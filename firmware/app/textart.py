"""An image as text, two pixel rows per line (14 lines for MNIST's 28x28), for terminals."""

from __future__ import annotations

import numpy as np

RAMP = " .:-=+*#%@"


def text_art(image: np.ndarray) -> list[str]:
    """(H, W) uint8 -> ceil(H / 2) strings of W characters, darker characters for brighter ink
    (an odd last row is paired with a blank one)."""
    h, w = image.shape
    rows = np.zeros((h + h % 2, w), np.int32)
    rows[:h] = image
    pairs = rows.reshape(-1, 2, w).mean(axis=1)
    idx = np.minimum((pairs * len(RAMP) / 256).astype(int), len(RAMP) - 1)
    return ["".join(RAMP[i] for i in row) for row in idx]


def beside(image: np.ndarray, text: str) -> str:
    """The art with `text` to the right of its middle line."""
    lines = text_art(image)
    mid = len(lines) // 2
    return "\n".join(line + "   " + text if k == mid else line.rstrip() for k, line in enumerate(lines))
