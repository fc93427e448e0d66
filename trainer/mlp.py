"""A multilayer perceptron in NumPy: ReLU hidden layers, softmax cross-entropy.

Weights are stored per layer as W (out, in) and b (out,): row j of W is neuron j, the
layout the C code uses. `forward` accepts optional fake-quantization hooks so the same
code serves plain and quantization-aware training.
"""

from __future__ import annotations

import numpy as np


def init_params(sizes: list[int], rng: np.random.Generator, dtype=np.float32) -> list[np.ndarray]:
    """He-normal weights, zero biases; returns [W0, b0, W1, b1, ...]."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)).astype(dtype))
        params.append(np.zeros(fan_out, dtype=dtype))
    return params


def forward(params, x, weight_hook=None, act_hook=None):
    """Logits for x (N, in); also the per-layer cache that `backward` needs.

    weight_hook(layer, W) -> W' and act_hook(layer, h) -> h' replace weights and hidden
    activations in the forward pass (straight-through in the backward pass).
    """
    cache = []
    h = x
    n_layers = len(params) // 2
    for layer in range(n_layers):
        W, b = params[2 * layer], params[2 * layer + 1]
        Wf = weight_hook(layer, W) if weight_hook else W
        z = h @ Wf.T + b
        cache.append((h, Wf, z))
        if layer < n_layers - 1:
            h = np.maximum(z, 0)
            if act_hook:
                h = act_hook(layer, h)
        else:
            h = z
    return h, cache


def softmax_xent(logits, labels):
    """Mean cross-entropy loss and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels] + 1e-12).mean()
    p[np.arange(n), labels] -= 1
    return float(loss), p / n


def distill_xent(logits, labels, teacher_logits, weight: float, temperature: float):
    """(1 - weight) * cross-entropy on the labels + weight * T^2 * cross-entropy against the
    teacher's softmax at temperature T (Hinton et al. 2015), and its logit gradient."""
    hard, dhard = softmax_xent(logits, labels)
    t = temperature
    zt = teacher_logits / t
    pt = np.exp(zt - zt.max(axis=1, keepdims=True))
    pt /= pt.sum(axis=1, keepdims=True)
    zs = logits / t
    zs = zs - zs.max(axis=1, keepdims=True)
    log_q = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    n = len(labels)
    soft = float(-(pt * log_q).sum(axis=1).mean()) * t * t
    dsoft = (np.exp(log_q) - pt) * (t / n)
    return (1 - weight) * hard + weight * soft, (1 - weight) * dhard + weight * dsoft


def backward(cache, dlogits):
    """Gradients [dW0, db0, ...] given dLoss/dlogits; ReLU masks come from the cache."""
    grads = [None] * (2 * len(cache))
    d = dlogits
    for layer in range(len(cache) - 1, -1, -1):
        h, Wf, z = cache[layer]
        if layer < len(cache) - 1:
            d = d * (z > 0)
        grads[2 * layer] = d.T @ h
        grads[2 * layer + 1] = d.sum(axis=0)
        if layer > 0:
            d = d @ Wf
    return grads


def loss_and_grads(params, x, labels, weight_hook=None, act_hook=None, loss_fn=softmax_xent):
    """loss_fn(logits, labels) -> (loss, dloss/dlogits); softmax cross-entropy by default."""
    logits, cache = forward(params, x, weight_hook, act_hook)
    loss, dlogits = loss_fn(logits, labels)
    return loss, backward(cache, dlogits), logits


def predict(params, x, batch: int = 4096) -> np.ndarray:
    """Predicted class of each row of x."""
    out = [forward(params, x[i : i + batch])[0].argmax(axis=1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
