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
    if model.graph:
        return graph_activations(model, images)
    x = model.preprocess(images)  # ops.deskew (if the model has it), then ops.pool
    out = [x]
    last = len(model.weights) - 1
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        acc = (ops.dense_acc24 if stream and layer == 0 else ops.dense)(x, w, b)
        x = acc if layer == last else ops.relu_requant(acc, model.shifts[layer])
        out.append(x)
    return out


MAP_OPS = {"conv3x3": ops.conv3x3, "dwconv3x3": ops.dwconv3x3, "conv1x1": ops.conv1x1}


def graph_flatten(x: np.ndarray) -> np.ndarray:
    """A dense layer's input: a map (N, C, H, W) read in storage order, i = (c * H + y) * W + x
    (a flat (N, n) input as it is)."""
    return x.reshape(len(x), -1)


def weighted_op(kind: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The int32 accumulators of one weighted layer of a graph."""
    return ops.dense(graph_flatten(x), w, b) if kind == "dense" else MAP_OPS[kind](x, w, b)


def graph_activations(model: IntModel, images: np.ndarray) -> list[np.ndarray]:
    """`activations` of a layer graph: [input map (N, 1, h, w) after deskew and the leading
    avgpools, the output of every later layer..., logits (int32)]."""
    from digit51.trainer import arch

    x = model.preprocess(images)
    out = [x]
    layer = 0
    for L in arch.input_prefix(arch.parse(model.graph))[1]:
        if L.kind == "maxpool2":
            x = ops.maxpool2(x)
        elif L.kind == "avgpool":
            x = ops.avgpool(x, L.n)
        else:
            w, b = model.weights[layer], model.biases[layer]
            acc = weighted_op(L.kind, x, w, b)
            x = acc if layer == len(model.weights) - 1 else ops.relu_requant(acc, model.shifts[layer])
            layer += 1
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
    ) if len(images) else np.zeros((0, len(model.biases[-1])), np.int32)
    return logits, ops.argmax(logits)
