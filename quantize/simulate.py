"""The bit-exact integer simulator: what the firmware computes, batched over images.

Dense and zero-skipping (sparse) kernels compute the same sums: a sparse kernel gathers
the non-zero inputs of a layer once (ops.gather_nonzero) and runs each neuron over them
only (ops.dense_sparse); every skipped term is zero, so logits, activations and
predictions are unchanged and `activations` below is the specification for both.
`activations_sparse` runs the sparse ops one image at a time, to show that equality.

Stream mode (the tiny-RAM firmware) keeps layer 0's accumulators in 24 bits
(ops.dense_acc24, `stream=True` below); the build accepts only models whose layer-0 sums
cannot leave 24 bits (ops.acc24_fits), for which the results are the same again.
"""

from __future__ import annotations

import numpy as np

from digit51.quantize import ops
from digit51.quantize.model_file import IntModel


def activations(model: IntModel, images: np.ndarray, stream: bool = False) -> list[np.ndarray]:
    """Every intermediate of the firmware for uint8 (N, 28, 28) images:
    [pooled input, hidden activations..., logits (int32)]; `stream`: as the stream-mode
    firmware computes them (layer 0 in 24-bit accumulators)."""
    x = model.preprocess(images)  # ops.deskew (if the model has it), then ops.pool
    out = [x]
    last = len(model.weights) - 1
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        acc = (ops.dense_acc24 if stream and layer == 0 else ops.dense)(x, w, b)
        x = acc if layer == last else ops.relu_requant(acc, model.shifts[layer])
        out.append(x)
    return out


def activations_sparse(model: IntModel, image: np.ndarray) -> list[np.ndarray]:
    """`activations` for one uint8 (28, 28) image through the sparse ops, as the sparse
    kernels run it: [pooled input, hidden activations..., logits], each 1-D."""
    x = model.preprocess(image[None])[0]
    out = [x]
    last = len(model.weights) - 1
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        acc = ops.dense_sparse(x, ops.gather_nonzero(x), w, b)
        x = acc if layer == last else ops.relu_requant(acc[None], model.shifts[layer])[0]
        out.append(x)
    return out


def run(model: IntModel, images: np.ndarray, batch: int = 2000, stream: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(int32 logits (N, 10), predictions (N,)) exactly as the firmware (of stream mode, if
    `stream`) computes them."""
    logits = np.concatenate(
        [activations(model, images[i : i + batch], stream)[-1] for i in range(0, len(images), batch)]
    ) if len(images) else np.zeros((0, 10), np.int32)
    return logits, ops.argmax(logits)
