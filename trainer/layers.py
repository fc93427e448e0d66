"""Float forward and backward of each layer type of a graph (trainer/arch.py), in NumPy.

Maps are NHWC inside the trainer (batch, row, column, channel), so a 3 x 3 window of
every channel is one contiguous row of the im2col matrix that
numpy.lib.stride_tricks.sliding_window_view gives, and a convolution is one BLAS matmul.
Weights are stored as the integer spec lays them out (quantize/ops.py):
conv3x3 (out, in, 3, 3), dwconv3x3 (C, 3, 3), conv1x1 and dense (out, in); a dense
flattens channel by channel (its input transposed to NCHW first).

Each layer type is one class (its parameter shapes: arch.param_shapes): `forward(params, x, relu)`
-> (y, cache), `backward(params, cache, dy, need_dx)` -> (dx or None, grads). ReLU is part of every
weighted layer (`relu` False only for the logits).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from digit51.trainer.arch import Layer


def _relu(z, relu):
    return (np.maximum(z, 0), z > 0) if relu else (z, None)


def _unrelu(dy, mask):
    return dy if mask is None else dy * mask


class Conv3x3:
    def __init__(self, n):
        self.n = n

    def forward(self, params, x, relu=True):
        W, b = params
        n, h, w, c = x.shape
        cols = sliding_window_view(x, (3, 3), axis=(1, 2)).reshape(n * (h - 2) * (w - 2), c * 9)
        z = (cols @ W.reshape(self.n, -1).T + b).reshape(n, h - 2, w - 2, self.n)
        y, mask = _relu(z, relu)
        return y, (cols, x.shape, mask)

    def backward(self, params, cache, dy, need_dx=True):
        W, _ = params
        cols, (n, h, w, c), mask = cache
        d = _unrelu(dy, mask).reshape(-1, self.n)
        grads = [(d.T @ cols).reshape(W.shape), d.sum(axis=0)]
        if not need_dx:
            return None, grads
        dcols = (d @ W.reshape(self.n, -1)).reshape(n, h - 2, w - 2, c, 3, 3)
        dx = np.zeros((n, h, w, c), dy.dtype)
        for ky in range(3):
            for kx in range(3):
                dx[:, ky : ky + h - 2, kx : kx + w - 2, :] += dcols[..., ky, kx]
        return dx, grads


class DWConv3x3:
    def forward(self, params, x, relu=True):
        W, b = params
        _, h, w, _ = x.shape
        z = np.broadcast_to(b, (x.shape[0], h - 2, w - 2, x.shape[3])).copy()
        for ky in range(3):
            for kx in range(3):
                z += x[:, ky : ky + h - 2, kx : kx + w - 2, :] * W[:, ky, kx]
        y, mask = _relu(z, relu)
        return y, (x, mask)

    def backward(self, params, cache, dy, need_dx=True):
        W, _ = params
        x, mask = cache
        d = _unrelu(dy, mask)
        _, h, w, _ = x.shape
        dW = np.empty_like(W)
        dx = np.zeros_like(x)
        for ky in range(3):
            for kx in range(3):
                xs = x[:, ky : ky + h - 2, kx : kx + w - 2, :]
                dW[:, ky, kx] = np.einsum("nyxc,nyxc->c", d, xs)
                dx[:, ky : ky + h - 2, kx : kx + w - 2, :] += d * W[:, ky, kx]
        return dx, [dW, d.sum(axis=(0, 1, 2))]


class Conv1x1:
    def __init__(self, n):
        self.n = n

    def forward(self, params, x, relu=True):
        W, b = params
        n, h, w, c = x.shape
        flat = x.reshape(-1, c)
        y, mask = _relu((flat @ W.T + b).reshape(n, h, w, self.n), relu)
        return y, (flat, x.shape, mask)

    def backward(self, params, cache, dy, need_dx=True):
        W, _ = params
        flat, shape, mask = cache
        d = _unrelu(dy, mask).reshape(-1, self.n)
        return (d @ W).reshape(shape) if need_dx else None, [d.T @ flat, d.sum(axis=0)]


class Dense:
    """Fully connected; a map input (N, H, W, C) is flattened channel by channel."""

    def __init__(self, n):
        self.n = n

    def forward(self, params, x, relu=True):
        W, b = params
        h = x if x.ndim == 2 else x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        y, mask = _relu(h @ W.T + b, relu)
        return y, (h, x.shape, mask)

    def backward(self, params, cache, dy, need_dx=True):
        W, _ = params
        h, shape, mask = cache
        d = _unrelu(dy, mask)
        if not need_dx:
            return None, [d.T @ h, d.sum(axis=0)]
        dx = d @ W
        if len(shape) == 4:
            n, hh, ww, c = shape
            dx = dx.reshape(n, c, hh, ww).transpose(0, 2, 3, 1)
        return dx, [d.T @ h, d.sum(axis=0)]


class MaxPool2:
    """2 x 2 maxima over whole blocks; the gradient goes to the first maximum of a block
    (in the order top-left, top-right, bottom-left, bottom-right)."""

    @staticmethod
    def _corners(x):
        ho, wo = x.shape[1] // 2, x.shape[2] // 2
        return [x[:, dy : 2 * ho : 2, dx : 2 * wo : 2] for dy in (0, 1) for dx in (0, 1)]

    def forward(self, params, x, relu=True):
        a, b, c, d = self._corners(x)
        y = np.maximum(np.maximum(a, b), np.maximum(c, d))
        return y, (x, y)

    def backward(self, params, cache, dy, need_dx=True):
        x, y = cache
        dx = np.zeros_like(x)
        taken = np.zeros(y.shape, bool)
        for corner, out in zip(self._corners(x), self._corners(dx)):
            first = (corner == y) & ~taken
            taken |= first
            out[...] = dy * first
        return dx, []


class AvgPool:
    """K x K means (the float view of the integer avgpool; a leading avgpool runs in
    integers on the image instead: trainer/graph.py)."""

    def __init__(self, k):
        self.k = k

    def forward(self, params, x, relu=True):
        n, h, w, c = x.shape
        k, ho, wo = self.k, h // self.k, w // self.k
        y = x[:, : k * ho, : k * wo].reshape(n, ho, k, wo, k, c).mean(axis=(2, 4), dtype=x.dtype)
        return y, x.shape

    def backward(self, params, cache, dy, need_dx=True):
        n, h, w, c = cache
        k, ho, wo = self.k, h // self.k, w // self.k
        dx = np.zeros(cache, dy.dtype)
        dx[:, : k * ho, : k * wo] = np.repeat(np.repeat(dy / (k * k), k, axis=1), k, axis=2)
        return dx, []


def make(layer: Layer):
    """The float implementation of one arch.Layer."""
    return {
        "conv3x3": lambda: Conv3x3(layer.n), "dwconv3x3": DWConv3x3, "conv1x1": lambda: Conv1x1(layer.n),
        "dense": lambda: Dense(layer.n), "maxpool2": MaxPool2, "avgpool": lambda: AvgPool(layer.n),
    }[layer.kind]()
