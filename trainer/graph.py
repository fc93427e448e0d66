"""A layer graph (trainer/arch.py) as a float network: the same interface as trainer/mlp.py
(init, forward, loss_and_grads) over the layer types of trainer/layers.py.

Its input: the uint8 image, deskewed if the model says so, then the graph's leading
avgpools in integers (GraphPreprocess, the same ops the integer simulator runs), then
pixel / 255 as float (N, 1, H, W). Params are [W, b] of each weighted layer, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digit51.trainer import arch, layers, mlp
from digit51.trainer.preprocess import block_mean, deskew


@dataclass(frozen=True)
class GraphPreprocess:
    """uint8 (N, H, W) images -> the graph's uint8 input maps (N, 1, h, w)."""

    pools: tuple[int, ...]  # the leading avgpools' K, applied in order
    deskew: bool = False

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = (deskew(images) if self.deskew else images)[:, None]
        for k in self.pools:
            x = block_mean(x, k)
        return x


class Graph:
    def __init__(self, spec: str):
        self.layers = arch.parse(spec)
        prefix, body = arch.input_prefix(self.layers)
        self.pools = tuple(L.n for L in prefix)
        self.body = body
        self.impls = [layers.make(L) for L in body]

    def preprocess(self, deskew_images: bool) -> GraphPreprocess:
        return GraphPreprocess(self.pools, deskew_images)

    def init_params(self, input_hw: tuple[int, int], rng: np.random.Generator, dtype=np.float32) -> list[np.ndarray]:
        """He-normal weights (fan-in: a W's shape after its first axis), zero biases, layer by layer."""
        shapes = arch.param_shapes(self.layers, *input_hw)
        params = []
        for w, b in zip(shapes[0::2], shapes[1::2]):
            params += [(rng.standard_normal(w) * np.sqrt(2.0 / np.prod(w[1:]))).astype(dtype), np.zeros(b, dtype)]
        return params

    def _split(self, params):
        out, i = [], 0
        for L in self.body:
            k = 2 if L.weighted else 0
            out.append(params[i : i + k])
            i += k
        return out

    def forward(self, params, x, weight_hook=None, act_hook=None):
        """Logits for float inputs (N, 1, H, W) (or (N, H*W) for a graph that starts with
        a dense); also the cache `backward` needs. No quantization hooks (QAT) yet."""
        if weight_hook or act_hook:
            raise NotImplementedError("quantization-aware training of layer graphs")
        h = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
        cache, last = [], len(self.impls) - 1
        for i, (impl, p) in enumerate(zip(self.impls, self._split(params))):
            h, c = impl.forward(p, h, relu=i < last)
            cache.append(c)
        return h, cache

    def backward(self, params, cache, dlogits):
        grads = []
        d = dlogits
        for i, (impl, p, c) in reversed(list(enumerate(zip(self.impls, self._split(params), cache)))):
            d, g = impl.backward(p, c, d, need_dx=i > 0)  # nothing needs the input's gradient
            grads = g + grads
        return grads

    def loss_and_grads(self, params, x, labels, weight_hook=None, act_hook=None, loss_fn=mlp.softmax_xent):
        logits, cache = self.forward(params, x, weight_hook, act_hook)
        loss, dlogits = loss_fn(logits, labels)
        return loss, self.backward(params, cache, dlogits), logits
