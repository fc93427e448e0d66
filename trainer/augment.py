"""Random geometric distortion of uint8 (N, 28, 28) images, vectorised over the batch.

Each image gets its own random affine map (rotation, zoom, shear, translation) and,
optionally, an elastic displacement field (Simard et al., ICDAR 2003: a uniform [-1, 1]
field per pixel, smoothed by a Gaussian of `sigma` pixels, scaled by `alpha`). Every
output pixel is sampled bilinearly from the source at the mapped position, pixels from
outside the image count as 0, and the result is rounded back to uint8, so pooling and
everything after it see exactly what the firmware would see for such an image.

There is no Python loop over images: coordinates, gathers and smoothing are array
operations over the whole batch. All randomness comes from the Generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 28
CENTRE = (SIDE - 1) / 2.0


@dataclass(frozen=True)
class Distortion:
    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # zoom factor uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # horizontal shear factor uniform in [-shear, shear]
    translate: float = 0.0  # pixels, each axis uniform in [-translate, translate]
    elastic_alpha: float = 0.0  # elastic displacement scale in pixels (0 = off)
    elastic_sigma: float = 4.0  # smoothing of the elastic field, pixels

    @property
    def active(self) -> bool:
        return any((self.rotate, self.scale, self.shear, self.translate, self.elastic_alpha))


def affine_maps(n: int, d: Distortion, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(M (n, 2, 2), t (n, 2)): output pixel p (row, col) samples the source at
    M @ (p - centre) + centre - t, with M = rotation @ shear / s: the content is zoomed
    by s, sheared, rotated and moved by t."""
    theta = np.deg2rad(rng.uniform(-d.rotate, d.rotate, n))
    s = rng.uniform(1.0 - d.scale, 1.0 + d.scale, n)
    sh = rng.uniform(-d.shear, d.shear, n)
    t = rng.uniform(-d.translate, d.translate, (n, 2))
    c, si = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -si], -1), np.stack([si, c], -1)], -2)  # (n, 2, 2)
    shear = np.zeros((n, 2, 2))
    shear[:, 0, 0] = shear[:, 1, 1] = 1.0
    shear[:, 1, 0] = sh  # column coordinate moves with the row: a slant
    return rot @ shear / s[:, None, None], t


def gaussian_matrix(sigma: float, side: int = SIDE) -> np.ndarray:
    """(side, side) matrix G with G @ f the 1-D Gaussian smoothing of f (zero outside)."""
    i = np.arange(side)
    g = np.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return g / g[side // 2].sum()


def elastic_field(n: int, alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, 28, 28) displacements (row, col) in pixels."""
    u = rng.uniform(-1.0, 1.0, (n, 2, SIDE, SIDE))
    g = gaussian_matrix(sigma)
    return alpha * (g @ u @ g.T)


def bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample (N, 28, 28) images at float positions (N, 28, 28); 0 outside; float result."""
    n = len(images)
    padded = np.zeros((n, SIDE + 2, SIDE + 2), np.float32)
    padded[:, 1:-1, 1:-1] = images
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0).astype(np.float32), (cols - c0).astype(np.float32)
    # padded index = source index + 1; anything outside lands on the zero border
    r0, c0 = r0.astype(np.int64) + 1, c0.astype(np.int64) + 1
    r1, c1 = np.clip(r0 + 1, 0, SIDE + 1), np.clip(c0 + 1, 0, SIDE + 1)
    r0, c0 = np.clip(r0, 0, SIDE + 1), np.clip(c0, 0, SIDE + 1)
    flat = padded.reshape(n, -1)
    w = SIDE + 2

    def at(r, c):
        return np.take_along_axis(flat, (r * w + c).reshape(n, -1), axis=1).reshape(rows.shape)

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return top * (1 - fr) + bottom * fr


def distort(images: np.ndarray, d: Distortion, rng: np.random.Generator) -> np.ndarray:
    """A randomly distorted copy of uint8 (N, 28, 28) images, uint8."""
    n = len(images)
    m, t = affine_maps(n, d, rng)
    grid = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij"), 0) - CENTRE  # (2, 28, 28)
    src = np.einsum("nij,jhw->nihw", m, grid) + CENTRE - t[:, :, None, None]
    if d.elastic_alpha:
        src = src + elastic_field(n, d.elastic_alpha, d.elastic_sigma, rng)
    out = bilinear(images, src[:, 0], src[:, 1])
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
