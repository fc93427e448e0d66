"""Any picture of a digit -> an MNIST-style 28x28, the way MNIST itself was made: the
digit's bounding box scaled (aspect kept, area-averaged) so its longer side is 20 pixels,
placed by its centre of mass at the centre of a 28x28 field, grey levels kept.

Pure NumPy, no image library: the browser (or Pillow in `digit51 classify`) decodes the
file; these functions only see pixel arrays. Ink is bright on dark, as in MNIST; a
picture with a bright border (dark ink on paper) is inverted first.
"""

from __future__ import annotations

import numpy as np

SIDE = 28
BOX = 20
CENTRE = SIDE // 2  # MNIST test images have their centre of mass at pixel index 14.0 (measured)
MIN_INK = 16  # below this grey level (after background removal) a picture counts as blank


def rgba_to_grey(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 -> (H, W) uint8 luma (ITU-R 601 weights, integer, rounded).
    Alpha must already be composited by whoever drew the pixels (the page paints an
    opaque background first)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError("expected an (H, W, 4) uint8 RGBA array")
    r, g, b = (rgba[..., k].astype(np.int32) for k in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


def ink(grey: np.ndarray) -> np.ndarray:
    """Ink as float 0..255 on a zero background: inverted when the border is bright,
    then the border's 90th-percentile level (paper texture, JPEG noise) subtracted."""
    g = np.asarray(grey, dtype=np.float64)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 127:
        g = 255.0 - g
        border = 255.0 - border
    return np.clip(g - np.percentile(border, 90), 0, None)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: output pixel i is the mean of the input span it covers."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    src = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, src + 1) - np.maximum(lo, src), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-averaging resize of a float image to (h, w); exact identity at scale 1."""
    return _area_matrix(img.shape[0], h) @ img @ _area_matrix(img.shape[1], w).T


def to_mnist(grey: np.ndarray) -> np.ndarray | None:
    """(H, W) grey picture -> (28, 28) uint8 in MNIST's layout, or None if it is blank.

    Grey levels are kept (not thresholded); the brightest pixel is scaled to 255.
    """
    g = ink(grey)
    if g.ndim != 2 or g.size == 0 or g.max() < MIN_INK:
        return None
    rows, cols = np.nonzero(g.max(axis=1))[0], np.nonzero(g.max(axis=0))[0]
    box = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = BOX / max(box.shape)
    h = min(BOX, max(1, int(round(box.shape[0] * scale))))
    w = min(BOX, max(1, int(round(box.shape[1] * scale))))
    small = resize(box, h, w)
    small *= 255.0 / small.max()
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    top = int(np.clip(np.floor(CENTRE - cy + 0.5), 0, SIDE - h))  # whole-pixel shift, box kept inside
    left = int(np.clip(np.floor(CENTRE - cx + 0.5), 0, SIDE - w))
    out = np.zeros((SIDE, SIDE), np.float64)
    out[top : top + h, left : left + w] = small
    return np.floor(out + 0.5).astype(np.uint8)


def to_shape(grey: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """(H, W) grey picture -> (h, w) uint8 for a model trained on h x w images other than MNIST's:
    the ink (as to_mnist finds it) of the whole picture, area-resized, brightest pixel 255;
    None if it is blank."""
    g = ink(grey)
    if g.ndim != 2 or g.size == 0 or g.max() < MIN_INK:
        return None
    small = resize(g, h, w)
    small *= 255.0 / max(small.max(), 1e-9)
    return np.floor(small + 0.5).astype(np.uint8)
