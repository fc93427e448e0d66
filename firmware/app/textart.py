"""A 28x28 image as 14 lines of text (two pixel rows per line), for terminals."""

from __future__ import annotations

import numpy as np

RAMP = " .:-=+*#%@"


def text_art(image: np.ndarray) -> list[str]:
    """(28, 28) uint8 -> 14 strings of 28 characters, darker characters for brighter ink."""
    pairs = image.reshape(14, 2, 28).astype(np.int32).mean(axis=1)
    idx = np.minimum((pairs * len(RAMP) / 256).astype(int), len(RAMP) - 1)
    return ["".join(RAMP[i] for i in row) for row in idx]


def beside(image: np.ndarray, text: str) -> str:
    """The art with `text` to the right of its middle line."""
    lines = text_art(image)
    mid = len(lines) // 2
    return "\n".join(line + "   " + text if k == mid else line.rstrip() for k, line in enumerate(lines))
