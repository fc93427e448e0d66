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

from digit51.trainer.preprocess import deskew, pool  # noqa: F401  (the first ops; integer, defined there)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


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
    """a = 0 if acc <= 0, else min(acc >> shift, 255): int32 (N, out) -> uint8.

    shift: uint8 (out,), 0..31. Rounding half up comes from the bias, which already
    holds + 2**(shift - 1); `>>` here truncates a positive value.
    """
    assert acc.dtype == np.int32 and shift.dtype == np.uint8 and int(shift.max(initial=0)) <= 31
    pos = np.maximum(acc, 0).astype(np.int64) >> shift.astype(np.int64)
    return np.minimum(pos, 255).astype(np.uint8)


def argmax(logits: np.ndarray) -> np.ndarray:
    """Index of the largest int32 logit per row; the first one wins a tie (C: strict >)."""
    assert logits.dtype == np.int32
    return logits.argmax(axis=1)
