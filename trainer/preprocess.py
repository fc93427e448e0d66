"""Input preprocessing, defined on uint8 pixels in integer terms (the firmware repeats it).

pool(k): each output pixel is the mean of a k x k block, rounded half up:
    out = (sum_of_block + k*k/2) >> log2(k*k)
Block sums fit 16 bits (16 * 255 = 4080), results stay in 0..255.
"""

from __future__ import annotations

import numpy as np

POOLS = (1, 2, 4)
SIDE = 28


def pool_shift(k: int) -> int:
    """log2(k*k): the right shift that divides a block sum by its size."""
    if k not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {k}")
    return (k * k).bit_length() - 1


def pool(images: np.ndarray, k: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, (28/k)**2) uint8, rounded-half-up block means."""
    shift = pool_shift(k)
    n = images.shape[0]
    side = SIDE // k
    if k == 1:
        return images.reshape(n, SIDE * SIDE).astype(np.uint8)
    sums = images.reshape(n, side, k, side, k).astype(np.uint16).sum(axis=(2, 4), dtype=np.uint16)
    return ((sums + (1 << (shift - 1))) >> shift).astype(np.uint8).reshape(n, side * side)


def to_float(pixels: np.ndarray, dtype=np.float32) -> np.ndarray:
    """The float model's view of uint8 inputs: pixel / 255."""
    return pixels.astype(dtype) * dtype(1.0 / 255.0)


def architecture_problem(sizes, pool) -> str | None:
    """What is wrong with a model's layer sizes and pool as read from a file, or None."""
    if isinstance(pool, bool) or pool not in POOLS:
        return f"pool {pool!r} is not one of {POOLS}"
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)):
        return f"sizes {sizes!r} are not a list of at least two layer widths"
    if sizes[0] != (SIDE // pool) ** 2:
        return f"input size {sizes[0]} does not match pool {pool} ({(SIDE // pool) ** 2} inputs)"
    if any(s < 1 for s in sizes[1:-1]) or sizes[-1] < 2:
        return f"sizes {sizes}: every hidden layer needs a width of at least 1 and the output at least 2 classes"
    return None
