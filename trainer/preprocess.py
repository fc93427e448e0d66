"""Input preprocessing, defined on uint8 pixels in integer terms (the firmware repeats it
op for op: codegen/templates/ops/deskew.inc.j2 and pool.inc.j2).

deskew (optional, a model's choice): straighten the slant of the handwriting. From the
ink's moments (ink_moments) the slope of the stroke against the vertical (slant), then
each row moved sideways by slope x (row - centroid row), with linear interpolation
between the two nearest pixels (shear). A horizontal shear, so rows stay rows.

pool(k): each output pixel is the mean of a k x k block, rounded half up:
    out = (sum_of_block + k*k/2) >> log2(k*k)
Block sums fit 16 bits (16 * 255 = 4080), results stay in 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POOLS = (1, 2, 4)
SIDE = 28


def pool_shift(k: int) -> int:
    """log2(k*k): the right shift that divides a block sum by its size."""
    if k not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {k}")
    return (k * k).bit_length() - 1


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """uint8 (..., H, W) -> uint8 (..., H // k, W // k): rounded-half-up means of whole
    k x k blocks (a side that k does not divide loses its last rows or columns)."""
    shift = (k * k).bit_length() - 1
    h, w = x.shape[-2] // k, x.shape[-1] // k
    blocks = x[..., : h * k, : w * k].reshape(*x.shape[:-2], h, k, w, k).astype(np.uint16)
    sums = blocks.sum(axis=(-3, -1), dtype=np.uint16)  # <= 64 * 255 = 16320 for k <= 8
    return ((sums + (1 << (shift - 1))) >> shift).astype(np.uint8)


def pool(images: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W) uint8 -> (N, (H/k) * (W/k)) uint8, rounded-half-up block means."""
    pool_shift(k)
    n = images.shape[0]
    if k == 1:
        return images.reshape(n, -1).astype(np.uint8)
    return block_mean(images, k).reshape(n, -1)


SLANT_ONE = 256  # slant is in 1/256 pixel of sideways move per row (Q8)


def ink_moments(images: np.ndarray) -> tuple[np.ndarray, ...]:
    """Ink moments of uint8 (N, H, W) images, per image, from each row's ink
    r[y] = sum_x p (uint16) and first moment c[y] = sum_x x * p (<= 96390 for 28 wide):
    S = sum r, Sy = sum y * r, Syy = sum y * y * r, Sx = sum c, Syx = sum y * c.
    For 28x28 (the firmware's images) each is below 2^28, so int32 holds it; here they are
    int64, so other sizes (up to 64x64) are exact too (the int32 bounds are for 28x28 only)."""
    p = images.astype(np.int64)
    y, x = np.arange(p.shape[1]), np.arange(p.shape[2])
    r, c = p.sum(axis=2), (p * x).sum(axis=2)
    return r.sum(axis=1), (y * r).sum(axis=1), (y * y * r).sum(axis=1), c.sum(axis=1), (y * c).sum(axis=1)


def slant(s, sy, syy, sx, syx) -> tuple[np.ndarray, np.ndarray]:
    """(centroid row my, slant alpha) per image from ink_moments, in int32; alpha is in Q8
    (1/256 pixel of sideways move per row):

        my = (Sy + S/2) / S;  mx = (Sx + S/2) / S                    (both 0 if S = 0)
        var = Syy - 2 * my * Sy + my * my * S   = sum (y - my)^2 * p
        cov = Syx - mx * Sy - my * Sx + my * mx * S   = sum (y - my) * (x - mx) * p
        alpha = clamp(cov / (var >> 8), -256, 256), C division (toward zero); 0 if var >> 8 = 0

    Moments about the rounded centroid keep every term and partial sum below 2^31."""
    safe = np.maximum(s, 1)
    my = np.where(s > 0, (sy + s // 2) // safe, 0)
    mx = np.where(s > 0, (sx + s // 2) // safe, 0)
    var8 = (syy - 2 * my * sy + my * my * s) >> 8
    cov = syx - mx * sy - my * sx + my * mx * s
    quotient = np.abs(cov) // np.maximum(var8, 1)  # C's division truncates toward zero
    alpha = np.where(var8 > 0, np.sign(cov) * np.minimum(quotient, SLANT_ONE), 0)
    return my, alpha


def shear(images: np.ndarray, my: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Row y moved by s = alpha * (y - my) / 256 pixels (|alpha * (y - my)| <= 6912, int16):
    k = floor(s), f = s mod 256 (Q8 fraction);
    out[y][x] = (p[y][x+k] * (256 - f) + p[y][x+k+1] * f + 128) >> 8, outside pixels 0.
    Both products fit 16 bits together (<= 255 * 256 + 128), results stay 0..255."""
    n, height, width = images.shape
    # |k| <= height - 1 (|alpha| <= 256): zeros of that width on both sides stand for the
    # pixels outside the row, so x + k and x + k + 1 always index the padded row
    pad = max(height, width) + 1
    p = np.zeros((n, height, width + 2 * pad), np.int32)
    p[:, :, pad:pad + width] = images
    s = alpha[:, None] * (np.arange(height) - my[:, None])  # (N, rows)
    k, f = s >> 8, (s & 255)[:, :, None]
    x = np.arange(width)[None, None, :] + (k[:, :, None] + pad)
    left, right = np.take_along_axis(p, x, axis=2), np.take_along_axis(p, x + 1, axis=2)
    return ((left * (SLANT_ONE - f) + right * f + 128) >> 8).astype(np.uint8)


def deskew(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> uint8 (N, H, W), each image's slant sheared away."""
    return shear(images, *slant(*ink_moments(images)))


@dataclass(frozen=True)
class Preprocess:
    """What a model does to a uint8 28x28 image before its first layer: deskew (optional),
    then pool. Saved in both model files; the firmware does the same."""

    pool: int
    deskew: bool = False

    @property
    def side(self) -> int:
        return SIDE // self.pool

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> the model's uint8 inputs (N, side * side)."""
        return pool(deskew(images) if self.deskew else images, self.pool)


def to_float(pixels: np.ndarray, dtype=np.float32) -> np.ndarray:
    """The float model's view of uint8 inputs: pixel / 255."""
    return pixels.astype(dtype) * dtype(1.0 / 255.0)


def arch_name(sizes) -> str:
    """A model's name: its layer widths, e.g. 196-192-64-10."""
    return "-".join(map(str, sizes))


def architecture_problem(sizes, pool, input_hw=(SIDE, SIDE)) -> str | None:
    """What is wrong with a model's layer sizes and pool (on input_hw images) as read from a file, or None."""
    if isinstance(pool, bool) or pool not in POOLS:
        return f"pool {pool!r} is not one of {POOLS}"
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)):
        return f"sizes {sizes!r} are not a list of at least two layer widths"
    n_in = (input_hw[0] // pool) * (input_hw[1] // pool)
    if sizes[0] != n_in:
        return f"input size {sizes[0]} does not match pool {pool} ({n_in} inputs)"
    if any(s < 1 for s in sizes[1:-1]) or sizes[-1] < 2:
        return f"sizes {sizes}: every hidden layer needs a width of at least 1 and the output at least 2 classes"
    return None
