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
ACC24_MIN, ACC24_MAX = -(1 << 23), (1 << 23) - 1  # stream mode's layer-0 accumulators: 3 bytes


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
    bounded by |bias[j]| + 255 * sum_i |w[j, i]| (quantizer.accumulator_bound), so when that
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
