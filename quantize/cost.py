"""Multiply-accumulates per digit of an integer model, all of them and those with a non-zero
input (what zero-skipping kernels do), counted on the integer simulator's activations.

    python -m digit51.quantize.cost QMODEL --data ../shared/data/mnist [--images N]

A weighted layer's MACs are its weights times its output positions (IntModel.layer_macs);
its effective MACs leave out every product whose input is 0: an input value feeds as many products as the outputs whose window holds it
(for a 3 x 3 valid convolution, 1 to 3 rows times 1 to 3 columns, times O output channels
for conv3x3, 1 for dwconv3x3). Pools multiply nothing. A plan, not a cycle count: the
firmware's figures come from `digit51 sim`.
"""

from __future__ import annotations

import argparse

import numpy as np

from digit51.quantize import model_file
from digit51.quantize.simulate import activations
from digit51.trainer import arch, mnist
from digit51.trainer.cli import add_data_option


def window_uses(n: int) -> np.ndarray:
    """How many outputs of a 3-wide valid window along an axis of n read each input: 1 2 3 .. 3 2 1."""
    i = np.arange(n)
    return np.minimum(np.minimum(i + 1, n - i), min(3, n - 2)).astype(np.int64)


def effective_macs(kind: str, n_out: int, x: np.ndarray) -> np.ndarray:
    """Products with a non-zero input of one weighted layer, per image, on its uint8 input x:
    a map (N, C, H, W) or flat (N, n)."""
    nz = x != 0
    if kind in ("conv3x3", "dwconv3x3"):
        _, c, h, w = x.shape
        uses = window_uses(h)[:, None] * window_uses(w)[None, :]
        return (n_out if kind == "conv3x3" else 1) * np.einsum("nchw,hw->n", nz.astype(np.int64), uses)
    return n_out * nz.reshape(len(x), -1).sum(axis=1)  # conv1x1 and dense: each input value meets each output once


def graph_cost(model, images: np.ndarray, batch: int = 1000) -> tuple[list[dict], np.ndarray]:
    """(per weighted layer: op, MACs per image, effective MACs mean and max over `images`, the
    zero share of its input; the effective MACs of each image, all layers summed). A model
    without a graph counts as its MLP (dense layers)."""
    body = arch.input_prefix(arch.parse(model.graph))[1] if model.graph else [arch.Layer("dense", w.shape[0]) for w in model.weights]
    weighted = [i for i, L in enumerate(body) if L.weighted]
    eff, zero = {i: [] for i in weighted}, {i: 0 for i in weighted}
    for s in range(0, len(images), batch):
        acts = activations(model, images[s : s + batch])  # acts[i] is the input of body[i]
        for i in weighted:
            x, L = acts[i], body[i]
            eff[i].append(effective_macs(L.kind, L.n, x))
            zero[i] += int((x == 0).sum()) / x[0].size
    rows = []
    for i, macs in zip(weighted, model.layer_macs):
        e = np.concatenate(eff[i])
        rows.append({"op": str(body[i]), "macs": int(macs), "input_zero": zero[i] / len(images),
                     "effective_mean": float(e.mean()), "effective_max": int(e.max())})
    return rows, sum(np.concatenate(eff[i]) for i in weighted)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qmodel", help="integer model from `digit51 quantize`")
    add_data_option(p)
    p.add_argument("--images", type=int, default=10000, help="test images to count on (default all 10,000)")
    a = p.parse_args(argv)
    model = model_file.load(a.qmodel)
    images = mnist.load(a.data).test_images[: a.images]
    rows, per_image = graph_cost(model, images)
    print(f"{model.name}: MACs per digit over {len(images)} test images")
    print(f"{'layer':<12} {'MACs':>9} {'input zero':>10} {'effective mean':>14} {'max':>9}")
    for r in rows:
        print(f"{r['op']:<12} {r['macs']:9,d} {100 * r['input_zero']:9.1f}% {r['effective_mean']:14,.0f} {r['effective_max']:9,d}")
    print(f"{'total':<12} {sum(r['macs'] for r in rows):9,d} {'':>10} {per_image.mean():14,.0f} {int(per_image.max()):9,d}")


if __name__ == "__main__":
    main()
