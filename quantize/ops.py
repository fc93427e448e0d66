"""The integer operations of digit51: the specification the firmware implements.

Each function is one operation of the C inference routine (codegen/templates), with
the same widths and the same order of operations. Every one states its contract and
asserts its input ranges.

Widths: pixels and activations uint8, weights int8 in [-127, 127], biases and
accumulators int32, shifts 0..31. Shifts of negative numbers never happen: ReLU
layers test acc <= 0 first, so `>>` only sees positive int32 values.
"""

from __future__ import annotations

import numpy as np

from digit51.trainer.preprocess import block_mean as avgpool  # noqa: F401  (integer, defined there)
from digit51.trainer.preprocess import deskew, pool  # noqa: F401  (the first ops; integer, defined there)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
ACC24_MIN, ACC24_MAX = -(1 << 23), (1 << 23) - 1  # stream mode's layer-0 accumulators: 3 bytes


def accumulator_bound(w: np.ndarray, bias: np.ndarray, x_max: int = 255) -> np.ndarray:
    """Worst-case |acc| per neuron over every input in 0..x_max, from the integer weights."""
    return np.abs(bias.astype(np.int64)) + x_max * np.abs(w.astype(np.int64)).sum(axis=1)


def wrap_i32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32, as C's int32_t arithmetic does."""
    return ((x.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def dense(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[n, j] = bias[j] + sum_i w[j, i] * x[n, i], in int32 (wrapping like C).

    x: uint8 (N, in); w: int8 (out, in), values -127..127; bias: int32 (out,).
    Each product fits int16 (|w*x| <= 127*255 = 32385); the quantizer proves the sum
    never leaves int32, so the wrap is never taken for a shipped model.
    """
    assert x.dtype == np.uint8 and w.dtype == np.int8 and bias.dtype == np.int32
    assert w.shape[1] == x.shape[1] and bias.shape == (w.shape[0],)
    assert int(w.min(initial=0)) >= -127
    acc = x.astype(np.int64) @ w.T.astype(np.int64) + bias.astype(np.int64)
    return wrap_i32(acc)


def wrap_i24(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to 24 bits, read back sign-extended as int32:
    what 3 bytes of accumulator hold, as acc24_read in infer_stream.c.j2 gives it back."""
    return ((x.astype(np.int64) - ACC24_MIN) % (1 << 24) + ACC24_MIN).astype(np.int32)


def acc24_fits(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Per neuron: can no partial sum of bias + products leave 24 bits, for any input in 0..255?

    The stream firmware adds the products to bias one input at a time; every partial sum is
    bounded by |bias[j]| + 255 * sum_i |w[j, i]| (accumulator_bound below), so when that
    is <= ACC24_MAX the 24-bit sum never wraps and dense_acc24 equals dense. For 196 inputs
    the products alone stay under 196 * 127 * 255 = 6,347,460 < 2^23 = 8,388,608, which leaves
    2,041,147 for |bias| even in the worst case of every weight at +-127.
    """
    bound = np.abs(bias.astype(np.int64)) + 255 * np.abs(w.astype(np.int64)).sum(axis=1)
    return bound <= ACC24_MAX


def dense_acc24(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """dense with 24-bit accumulators, as the stream firmware's layer 0 computes it.

    Each accumulator starts as the low 3 bytes of bias[j] and takes w[j, i] * x[i] for
    i = 0, 1, ..., modulo 2^24 (acc24_add: low 16 bits plus carry, top byte plus carry and
    the product's sign); the result is read back sign-extended to int32 (acc24_read).
    Addition modulo 2^24 does not depend on order, so this is wrap_i24 of the exact sum,
    and equals dense wherever acc24_fits (the build refuses the rest).
    """
    assert x.dtype == np.uint8 and w.dtype == np.int8 and bias.dtype == np.int32
    assert w.shape[1] == x.shape[1] and bias.shape == (w.shape[0],)
    assert int(w.min(initial=0)) >= -127
    return wrap_i24(x.astype(np.int64) @ w.T.astype(np.int64) + bias.astype(np.int64))


def gather_nonzero(x: np.ndarray) -> np.ndarray:
    """Positions i of the non-zero inputs of one layer input, ascending: uint8 (in,) -> uint16 (k,).

    Gathered once per layer input and shared by all its neurons. Zeros add nothing to a
    dot product, so dense_sparse over these positions equals dense (see below).
    """
    assert x.dtype == np.uint8 and x.ndim == 1 and len(x) <= 1 << 16
    return np.flatnonzero(x).astype(np.uint16)


def dense_sparse(x: np.ndarray, nz: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[j] = bias[j] + sum_{i in nz} w[j, i] * x[i], in int32 (wrapping like C).

    x: uint8 (in,), one layer input; nz: gather_nonzero(x); w, bias as in dense. Every
    skipped term is w[j, i] * 0 = 0 and int32 addition that never wraps does not depend on
    order, so the result equals dense(x[None], w, bias)[0] exactly (the quantizer proves
    the sum never wraps; with wrapping the two still agree, modulo 2^32 both).
    """
    assert x.dtype == np.uint8 and x.ndim == 1 and nz.dtype == np.uint16
    assert w.dtype == np.int8 and bias.dtype == np.int32 and w.shape == (len(bias), len(x))
    assert int(w.min(initial=0)) >= -127 and bool(np.all(x[nz] != 0))
    acc = w[:, nz].astype(np.int64) @ x[nz].astype(np.int64) + bias.astype(np.int64)
    return wrap_i32(acc)


def relu_requant(acc: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """a = 0 if acc <= 0, else min(acc >> shift, 255): int32 (N, out) -> uint8, or a map
    int32 (N, out, H, W) -> uint8 with one shift per output channel.

    shift: uint8 (out,), 0..31. Rounding half up comes from the bias, which already
    holds + 2**(shift - 1); `>>` here truncates a positive value.
    """
    assert acc.dtype == np.int32 and shift.dtype == np.uint8 and int(shift.max(initial=0)) <= 31
    assert shift.shape == (acc.shape[1],)
    sh = shift.astype(np.int64).reshape((-1,) + (1,) * (acc.ndim - 2))
    pos = np.maximum(acc, 0).astype(np.int64) >> sh
    return np.minimum(pos, 255).astype(np.uint8)


# Maps: uint8 (N, C, H, W), channel by channel (the plane of channel c is contiguous, rows
# top to bottom). A dense after a map reads it flattened in that order: input
# i = (c * H + y) * W + x. avgpool (above, from trainer/preprocess.py) is
# out = (sum of the k x k block + k*k/2) >> log2(k*k), for whole blocks only.


def conv3x3(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[n, o, y, x] = bias[o] + sum_{c, ky, kx} w[o, c, ky, kx] * x[n, c, y + ky, x + kx]
    in int32 (wrapping like C): stride 1, valid padding, (N, C, H, W) -> (N, O, H-2, W-2).

    x: uint8; w: int8 (O, C, 3, 3), -127..127; bias: int32 (O,), rounding term included.
    Widths: each product fits int16 (|w * x| <= 127 * 255 = 32385); the 9 * C products of
    one output sum to at most 9 * C * 32385, which is 74,323,575 < 2^31 for C <= 255,
    so only the bias can push a sum out of int32: the quantizer bounds
    |bias[o]| + 255 * sum |w[o]| per output channel and refuses a model whose bound
    passes 2^31 - 1, and then no partial sum in any order wraps.
    """
    assert x.dtype == np.uint8 and x.ndim == 4 and w.dtype == np.int8 and bias.dtype == np.int32
    assert w.shape[1:] == (x.shape[1], 3, 3) and bias.shape == (w.shape[0],)
    assert int(w.min(initial=0)) >= -127
    n, c, h, wd = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # (N, C, H-2, W-2, 3, 3)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * (h - 2) * (wd - 2), c * 9).astype(np.int64)
    acc = cols @ w.reshape(len(w), -1).T.astype(np.int64) + bias.astype(np.int64)
    return wrap_i32(acc.reshape(n, h - 2, wd - 2, len(w)).transpose(0, 3, 1, 2))


def dwconv3x3(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[n, c, y, x] = bias[c] + sum_{ky, kx} w[c, ky, kx] * x[n, c, y + ky, x + kx] in int32:
    depthwise (each channel its own 3 x 3 kernel), stride 1, valid, (N, C, H, W) -> (N, C, H-2, W-2).

    x: uint8; w: int8 (C, 3, 3), -127..127; bias: int32 (C,). Nine products of at most
    32385 sum to at most 291,465 (19 bits plus sign): only the bias can reach 2^31, and
    the quantizer refuses a channel with |bias[c]| + 255 * sum |w[c]| > 2^31 - 1.
    """
    assert x.dtype == np.uint8 and x.ndim == 4 and w.dtype == np.int8 and bias.dtype == np.int32
    assert w.shape == (x.shape[1], 3, 3) and bias.shape == (x.shape[1],)
    assert int(w.min(initial=0)) >= -127
    h, wd = x.shape[2] - 2, x.shape[3] - 2
    acc = np.broadcast_to(bias.astype(np.int64)[:, None, None], (x.shape[0], x.shape[1], h, wd)).copy()
    for ky in range(3):
        for kx in range(3):
            acc += x[:, :, ky : ky + h, kx : kx + wd].astype(np.int64) * w[:, ky, kx].astype(np.int64)[:, None, None]
    return wrap_i32(acc)


def conv1x1(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[n, o, y, x] = bias[o] + sum_c w[o, c] * x[n, c, y, x] in int32: pointwise,
    (N, C, H, W) -> (N, O, H, W). The sum over channels of one pixel is `dense` over its
    C values: C * 32385 <= 8,258,175 for C <= 255, and the quantizer bounds the bias in."""
    assert x.dtype == np.uint8 and x.ndim == 4 and w.dtype == np.int8 and bias.dtype == np.int32
    assert w.shape == (len(bias), x.shape[1])
    assert int(w.min(initial=0)) >= -127
    acc = np.einsum("nchw,oc->nohw", x.astype(np.int64), w.astype(np.int64)) + bias.astype(np.int64)[:, None, None]
    return wrap_i32(acc)


def maxpool2(x: np.ndarray) -> np.ndarray:
    """out[n, c, y, x] = max of x[n, c, 2y..2y+1, 2x..2x+1]: uint8 (N, C, H, W) ->
    (N, C, H // 2, W // 2); whole blocks only (an odd side loses its last row or column).
    Comparisons only: no width grows."""
    assert x.dtype == np.uint8 and x.ndim == 4
    n, c, h, w = x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2
    return x[:, :, : 2 * h, : 2 * w].reshape(n, c, h, 2, w, 2).max(axis=(3, 5))


def argmax(logits: np.ndarray) -> np.ndarray:
    """Index of the largest int32 logit per row; the first one wins a tie (C: strict >)."""
    assert logits.dtype == np.int32
    return logits.argmax(axis=1)
